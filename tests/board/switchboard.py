"""A minimal box for exercising the simulated card without the media engine.

It does what a call-center box does at its simplest, with numpy and the card interface only:
answers a ringing trunk at the second ring, plays a greeting (a real Allison prompt), rings a
station (or, nailed, takes an off-hook one), whispers to the agent (beep + prompt), then bridges
trunk and station both ways with a one-block delay, and tears the call down when either side
hangs up. It confirms an agent's `*11…#…#` login with "agent-loginok". It is a peer for tests,
not a model of calld.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from board.card import HookFlash, LoopCurrentDrop, OffHook, OnHook, RingStart
from board.sim.card import SimCard
from cython_ext.wavfile import read_wav

ALLISON = "/usr/share/asterisk/sounds/en_US_f_Allison"


@dataclass
class Bridge:
    trunk: int
    station: int | None = None
    state: str = "ringing"
    rings: int = 0
    prompt_pos: int = 0


@dataclass
class Switchboard:
    card: SimCard
    greeting: np.ndarray = field(default_factory=lambda: read_wav(f"{ALLISON}/hello-world.wav"))
    whisper: np.ndarray = field(
        default_factory=lambda: np.concatenate(
            [read_wav(f"{ALLISON}/beep.wav"), read_wav(f"{ALLISON}/queue-callswaiting.wav")]
        )
    )
    confirmation: np.ndarray = field(
        default_factory=lambda: read_wav(f"{ALLISON}/agent-loginok.wav")
    )
    answer_rings: int = 2
    nailed: bool = False
    detect_dtmf: bool = True
    #: played to a ringing-mode agent's off-hook station after the caller hangs up (real audio:
    #: the box's busy tone, or anything else) until the station goes on hook
    after_caller: np.ndarray | None = None

    def __post_init__(self) -> None:
        net = self.card.network
        self.tx = np.zeros((net.rows, net.block), dtype=np.int16)
        self.rx = np.zeros_like(self.tx)
        self.calls: dict[int, Bridge] = {}
        self.station_free = {ph.channel: True for ph in net.phones}
        self.station_off = {ph.channel: False for ph in net.phones}
        self.log: list[tuple[float, str, int]] = []
        # DTMF heard from every channel (what the caller pressed, the agent's feature codes)
        from cython_ext.dtmf import DtmfDetector

        self._detectors = [DtmfDetector() for _ in range(net.rows)]
        self._det_pos = [0] * net.rows
        self.digits: list[tuple[float, int, str]] = []  # (time the digit began, channel, digit)
        self.greeting_ends: dict[int, float] = {}
        self.station_prompts: dict[int, list[object]] = {}  # channel -> [samples, position]
        self._codes: dict[int, str] = {}

    def step(self) -> np.ndarray:
        card, block = self.card, self.card.block_size
        det_pos = self._det_pos
        tx = np.zeros_like(self.tx)
        for b in list(self.calls.values()):
            t, s = b.trunk - 1, (b.station - 1) if b.station else None
            if b.state == "greeting":
                chunk = self.greeting[b.prompt_pos : b.prompt_pos + block]
                tx[t, : chunk.size] = chunk
                b.prompt_pos += block
                if b.prompt_pos >= self.greeting.size:
                    b.state = "offer"
                    self.greeting_ends[b.trunk] = card.now + block / 8000
            if b.state == "offer":
                free = [
                    ch
                    for ch, ok in self.station_free.items()
                    if ok and (self.station_off[ch] == self.nailed)
                ]
                if free:
                    b.station = free[0]
                    self.station_free[b.station] = False
                    if self.nailed:
                        self._whisper(b)
                    else:
                        card.ring(b.station, True)
                        b.state = "ringing_station"
            if b.state == "whisper" and b.station not in self.station_prompts:
                b.state = "bridged"
            if b.state == "bridged" and s is not None:
                tx[t] = self.rx[s]
                tx[s] = self.rx[t]
        t_block = card.now
        for ch, item in list(self.station_prompts.items()):
            samples, pos = item
            assert isinstance(samples, np.ndarray) and isinstance(pos, int)
            chunk = samples[pos : pos + block]
            tx[ch - 1, : chunk.size] = chunk
            item[1] = pos + block
            if pos + block >= samples.size:
                del self.station_prompts[ch]
        rx = card.exchange(tx)
        self.rx = rx
        for row, det in enumerate(self._detectors):
            if self.detect_dtmf:
                for d in det.process(rx[row]):
                    start = t_block + (d.start - det_pos[row]) / 8000
                    self.digits.append((round(start, 3), row + 1, d.digit))
                    self._feature_code(row + 1, d.digit)
        for row in range(len(det_pos)):
            det_pos[row] += block
        for ev in card.events():
            self.log.append((card.now, type(ev).__name__, ev.channel))
            if isinstance(ev, RingStart):
                b = self.calls.setdefault(ev.channel, Bridge(ev.channel))
                b.rings += 1
                if b.rings >= self.answer_rings and b.state == "ringing":
                    card.set_hook(ev.channel, True)
                    b.state = "greeting"
            elif isinstance(ev, OffHook):
                self.station_off[ev.channel] = True
                for b in self.calls.values():
                    if b.station == ev.channel and b.state == "ringing_station":
                        card.ring(ev.channel, False)
                        self._whisper(b)
            elif isinstance(ev, LoopCurrentDrop):
                b = self.calls.get(ev.channel)
                self._end_trunk(ev.channel)
                station = b.station if b is not None else None
                if station and self.after_caller is not None and self.station_off[station]:
                    self.station_prompts[station] = [self.after_caller, 0]
            elif isinstance(ev, (OnHook, HookFlash)):
                if isinstance(ev, OnHook):
                    self.station_off[ev.channel] = False
                    self.station_prompts.pop(ev.channel, None)
                for b in list(self.calls.values()):
                    if b.station == ev.channel:
                        self._end_trunk(b.trunk)
        return rx

    def _whisper(self, b: Bridge) -> None:
        assert b.station is not None
        b.state = "whisper"
        self.station_prompts[b.station] = [self.whisper, 0]

    def _feature_code(self, channel: int, digit: str) -> None:
        if channel <= self.card.network.trunks:
            return
        code = self._codes.get(channel, "") + digit
        if digit == "*":
            code = "*"
        self._codes[channel] = code
        if code.startswith("*11") and code.count("#") == 2:
            self.station_prompts[channel] = [self.confirmation, 0]
            self._codes[channel] = ""

    def _end_trunk(self, trunk: int) -> None:
        b = self.calls.pop(trunk, None)
        self.card.set_hook(trunk, False)
        if b is not None and b.station is not None:
            if b.state == "ringing_station":
                self.card.ring(b.station, False)
            self.station_prompts.pop(b.station, None)
            self.station_free[b.station] = True

    def run(self, seconds: float) -> None:
        for _ in range(int(round(seconds / self.card.network.dt))):
            self.step()
