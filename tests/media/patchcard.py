"""An in-process card for engine tests: a patch bay with a tape recorder on every port.

It implements `board.card.Card` fully: each channel receives whatever real audio a test queues
on it (prompts, DTMF, caller-ID bursts, music), everything the engine sends is kept per channel,
line events are injected as the card's own events, and hook/ring/flash/frames are recorded.
Optionally a trunk returns its own transmit audio through a G.168 echo path (line echo).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from board.card import BoardEvent, Card, ChannelInfo, ChannelKind


class PatchCard(Card):
    def __init__(self, trunks: int = 2, stations: int = 2, dchans: int = 0) -> None:
        infos: list[ChannelInfo] = []
        for i in range(trunks):
            infos.append(ChannelInfo(len(infos) + 1, ChannelKind.FXO, f"patch/trunk/{i + 1}"))
        for i in range(stations):
            infos.append(ChannelInfo(len(infos) + 1, ChannelKind.FXS, f"patch/station/{i + 1}"))
        for _ in range(dchans):
            infos.append(ChannelInfo(len(infos) + 1, ChannelKind.DCHAN, "patch/span1/dchan", 1))
        self._channels = tuple(infos)
        self.url = f"patch://?trunks={trunks}&stations={stations}&dchans={dchans}"
        self._rows = {n: i for i, n in enumerate(self.audio_channels)}
        self._queued: dict[int, list[np.ndarray]] = {n: [] for n in self._rows}
        self.sent: dict[int, list[np.ndarray]] = {n: [] for n in self._rows}
        self.echo: dict[int, object] = {}  # channel -> cython_ext.echo_paths.LineEcho
        self._events: list[BoardEvent] = []
        self.hook: dict[int, bool] = {}
        self.ringing: dict[int, bool] = {}
        self.flashes: list[int] = []
        self.frames: list[tuple[int, bytes]] = []
        self.exchanges = 0
        self.closed = False

    @property
    def channels(self) -> Sequence[ChannelInfo]:
        return self._channels

    # ---- what a test does ------------------------------------------------------------------

    def feed(self, channel: int, samples: np.ndarray) -> None:
        """Queue audio the line/phone on `channel` sends to the box."""
        self._queued[channel].append(np.asarray(samples, dtype=np.int16).copy())

    def inject(self, *events: BoardEvent) -> None:
        self._events.extend(events)

    def heard(self, channel: int) -> np.ndarray:
        """Everything the engine sent to `channel` so far."""
        blocks = self.sent[channel]
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)

    # ---- Card ------------------------------------------------------------------------------

    def _next(self, channel: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        queue = self._queued[channel]
        filled = 0
        while queue and filled < n:
            take = min(n - filled, len(queue[0]))
            out[filled : filled + take] = queue[0][:take]
            queue[0] = queue[0][take:]
            if not len(queue[0]):
                queue.pop(0)
            filled += take
        return out

    def exchange(self, tx: np.ndarray) -> np.ndarray:
        assert tx.shape == (len(self._rows), self.block_size) and tx.dtype == np.int16
        self.exchanges += 1
        rx = np.zeros_like(tx)
        for ch, row in self._rows.items():
            self.sent[ch].append(tx[row].copy())
            rx[row] = self._next(ch, self.block_size)
            if ch in self.echo:
                echo = self.echo[ch].process(tx[row])  # type: ignore[attr-defined]
                rx[row] = np.clip(rx[row].astype(np.int32) + echo, -32768, 32767)
        return rx

    def events(self) -> list[BoardEvent]:
        events, self._events = self._events, []
        return events

    def set_hook(self, channel: int, offhook: bool) -> None:
        self.hook[channel] = offhook

    def ring(self, channel: int, on: bool) -> None:
        self.ringing[channel] = on

    def flash(self, channel: int) -> None:
        self.flashes.append(channel)

    def send_frame(self, channel: int, frame: bytes) -> None:
        self.frames.append((channel, frame))

    def close(self) -> None:
        self.closed = True
