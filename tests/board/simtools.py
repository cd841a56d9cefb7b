"""Helpers for the simulated-card tests: run the card, collect timed events, real audio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from board.card import BoardEvent
from board.sim.card import SimCard
from cython_ext.wavfile import read_wav

ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MOH = Path("/usr/share/asterisk/moh")
START = 1_700_000_000.0


def prompt(*names: str) -> np.ndarray:
    """Allison prompts (real recordings) back to back."""
    return np.concatenate([read_wav(ALLISON / f"{n}.wav") for n in names])


def music(seconds: float) -> np.ndarray:
    files = sorted(MOH.glob("*.wav"))
    assert files, "asterisk-moh-opsound-wav is not installed"
    x = read_wav(files[0])
    return x[8000 : 8000 + int(seconds * 8000)]


class Run:
    """Drive a SimCard: `run(seconds)` exchanges blocks (tx from `source(channel_row, t)` or
    silence) and keeps every received block and every event with the time of its tick."""

    def __init__(self, card: SimCard) -> None:
        self.card = card
        net = card.network
        self.tx = np.zeros((net.rows, net.block), dtype=np.int16)
        self.events: list[tuple[float, BoardEvent]] = []
        self.rx_blocks: list[np.ndarray] = []
        self.tx_feed: dict[int, np.ndarray] = {}  # row -> samples to send, consumed block by block
        self._feed_pos: dict[int, int] = {}

    def send(self, channel: int, samples: np.ndarray) -> None:
        self.tx_feed[channel - 1] = np.asarray(samples, dtype=np.int16)
        self._feed_pos[channel - 1] = 0

    def run(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        card = self.card
        b = card.block_size
        for _ in range(int(round(seconds * 8000 / b))):
            tx = np.zeros_like(self.tx)
            for row, samples in self.tx_feed.items():
                pos = self._feed_pos[row]
                chunk = samples[pos : pos + b]
                tx[row, : chunk.size] = chunk
                self._feed_pos[row] = pos + b
            t = card.now
            self.rx_blocks.append(card.exchange(tx))
            self.events += [(round(t, 3), e) for e in card.events()]
            if until is not None and until():
                return

    def rx(self, channel: int) -> np.ndarray:
        return np.concatenate([blk[channel - 1] for blk in self.rx_blocks])

    def times(self, kind: type, channel: int | None = None) -> list[float]:
        return [
            t
            for t, e in self.events
            if isinstance(e, kind) and (channel is None or getattr(e, "channel", None) == channel)
        ]
