"""The simulated telephone network behind the card: virtual clock, timers, audio plumbing.

One `Network` holds every line (FXO ports), phone (FXS ports) and simulated person, and does the
per-tick audio work with numpy across all channels at once:

    heard  = G.711(tx)                            what each line / phone carries to its party
    sent   = party voices and DTMF (outlets)      what each party transmits (kept for the listener)
    rx     = G.711(sent + exchange sounds + line echo of heard + line noise)

Row i of every matrix is channel i+1 (trunks first, then stations). Nothing here iterates over
idle channels: outlets that play something, timers that are due and people with a script
running are the only Python work per tick. People look and listen every `window` ticks (100 ms
at the default 20 ms tick): that is when the listener identifies voices and scripts advance.

Time is virtual: tick k covers [start + k·B/8000, start + (k+1)·B/8000); `now` during tick k is
its start. Timers fire at the first tick whose start is at or after their time.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from board.card import BoardEvent
from board.sim import signals
from board.sim.listener import Listener, Match
from board.sim.voices import VoiceLibrary

if TYPE_CHECKING:
    from board.sim.line import CoLine
    from board.sim.people import Party
    from board.sim.phone import Phone
    from board.sim.traffic import TrafficGenerator

log = logging.getLogger(__name__)

RATE = 8000
#: a channel counts as "loud" for a tick above this level (people's energy detector)
LOUD_DBM0 = -42.0


class Timer:
    __slots__ = ("block", "fn", "cancelled")

    def __init__(self, block: int, fn: Callable[[], None]) -> None:
        self.block, self.fn, self.cancelled = block, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class Outlet:
    """Audio one source puts on one row, queued clip after clip; `on_done` runs after a clip."""

    __slots__ = ("row", "queue", "pos", "_active")

    def __init__(self, row: int, active: dict[int, Outlet]) -> None:
        self.row = row
        self.queue: deque[tuple[np.ndarray, Callable[[], None] | None]] = deque()
        self.pos = 0
        self._active = active

    @property
    def busy(self) -> bool:
        return bool(self.queue)

    def play(self, samples: np.ndarray, on_done: Callable[[], None] | None = None) -> None:
        self.queue.append((samples, on_done))
        self._active[id(self)] = self

    def stop(self) -> None:
        self.queue.clear()
        self.pos = 0
        self._active.pop(id(self), None)

    def fill(self, dst: np.ndarray, done: list[Callable[[], None]]) -> None:
        n, off = dst.shape[0], 0
        while off < n and self.queue:
            samples, cb = self.queue[0]
            take = min(n - off, samples.shape[0] - self.pos)
            dst[off : off + take] = samples[self.pos : self.pos + take]
            off += take
            self.pos += take
            if self.pos >= samples.shape[0]:
                self.queue.popleft()
                self.pos = 0
                if cb is not None:
                    done.append(cb)
        if not self.queue:
            self._active.pop(id(self), None)


class Recorder:
    """Collects what a row heard (or sent) block by block."""

    __slots__ = ("row", "what", "path", "blocks", "started")

    def __init__(self, row: int, what: str, path: str | None, started: float) -> None:
        self.row, self.what, self.path, self.started = row, what, path, started
        self.blocks: list[np.ndarray] = []

    def samples(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0, dtype=np.int16)


@dataclass(frozen=True)
class EchoConfig:
    models: tuple[str, ...]  # cycled over the trunks
    delay_ms: float
    erl_db: float


class Network:
    """Clock, timers, audio matrices and the parties of one simulated card."""

    def __init__(
        self,
        *,
        trunks: int,
        stations: int,
        block: int,
        start: float,
        seed: int,
        law: str,
        noise_dbm0: float | None,
        echo: EchoConfig | None,
        voices: VoiceLibrary,
        window: int = 5,
    ) -> None:
        self.trunks, self.stations, self.block = trunks, stations, block
        self.rows = trunks + stations
        self.start, self.seed = start, seed
        self.dt = block / RATE
        self.tick = 0
        self.now = start
        self.voices = voices
        self.rng = random.Random(f"{seed}/network")
        self._timers: list[tuple[int, int, Timer]] = []
        self._timer_seq = 0
        self._party_outlets: dict[int, Outlet] = {}
        self._net_outlets: dict[int, Outlet] = {}
        self.sent = np.zeros((self.rows, block), dtype=np.int16)
        self._sounds = np.zeros((self.rows, block), dtype=np.int16)
        self._mix = np.zeros((self.rows, block), dtype=np.float32)
        self.heard = np.zeros((self.rows, block), dtype=np.int16)
        self._heard_f = np.zeros((self.rows, block), dtype=np.float32)
        #: a party is on the row: phone off hook, or trunk answered with the caller still there
        self.connected = np.zeros(self.rows, dtype=bool)
        self.last_loud = np.full(self.rows, -math.inf)
        self._loud_energy = (
            (10.0 ** (LOUD_DBM0 / 10.0)) * ((32767.0 * 10.0 ** (-3.14 / 20.0)) ** 2 / 2.0) * block
        )
        self.events: list[BoardEvent] = []
        self.notices: list[dict[str, Any]] = []  # events for control-socket subscribers
        self.notify_enabled = False
        self.recorders: dict[int, list[Recorder]] = {}
        # listener sources: each row's party, then each trunk's line echo
        self.listener = Listener(self.rows, block, window=window, sources=self.rows + trunks)
        self._sources = np.zeros((self.rows + trunks, block), dtype=np.float32)
        self.listener.not_for[self.rows :] = np.arange(trunks)
        self.lines: list[CoLine] = []
        self.phones: list[Phone] = []
        self.parties: dict[str, Party] = {}
        self._scripted: dict[str, Party] = {}  # parties whose script waits on a condition
        self.traffic: TrafficGenerator | None = None
        self.counters: dict[str, int] = {}
        # G.711 at the card edge: a 65536-entry table indexed by the int16's bits
        self._law = law
        self._compand: np.ndarray | None = None
        if law != "linear":
            from cython_ext import g711

            x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16)
            if law == "ulaw":
                self._compand = np.asarray(
                    g711.ulaw_to_linear(g711.linear_to_ulaw(x)), dtype=np.int16
                )
            else:
                self._compand = np.asarray(
                    g711.alaw_to_linear(g711.linear_to_alaw(x)), dtype=np.int16
                )
        # line noise: a long Gaussian buffer read at a random offset per tick
        self._noise: np.ndarray | None = None
        if noise_dbm0 is not None and trunks:
            from cython_ext.levels import rms_for

            gen = np.random.default_rng([seed, 7])
            self._noise = (gen.standard_normal(1 << 17) * rms_for(noise_dbm0)).astype(np.float32)
        self._noise_rng = random.Random(f"{seed}/noise")
        # line echo: per-trunk impulse responses, applied to off-hook trunks in one FFT batch
        self.echo = echo
        self._echo_len = 0
        if echo is not None and trunks:
            hs = [
                signals.echo_response(echo.models[i % len(echo.models)], echo.delay_ms, echo.erl_db)
                for i in range(trunks)
            ]
            self._echo_len = max(h.size for h in hs)
            seg = self._echo_len - 1 + block
            self._echo_nfft = 1 << int(math.ceil(math.log2(seg)))
            padded = np.zeros((trunks, self._echo_len))
            for i, h in enumerate(hs):
                padded[i, : h.size] = h
            self._echo_freq = np.fft.rfft(padded, self._echo_nfft, axis=1)
            self._echo_hist = np.zeros((trunks, self._echo_len - 1))
        self._echo_was_on = False
        self.offhook_trunks = np.zeros(trunks, dtype=bool)  # the box holds these trunks off hook

    # ---- time ---------------------------------------------------------------------------------

    def after(self, seconds: float, fn: Callable[[], None]) -> Timer:
        """Run `fn` at the tick starting `seconds` from now (rounded up to whole ticks; inside a
        tick, zero seconds means the next tick). Counted in ticks, not epoch seconds, so the
        cadence stays exact however large the epoch."""
        block = self.tick + max(0, math.ceil(seconds / self.dt - 1e-6))
        timer = Timer(block, fn)
        self._timer_seq += 1
        heapq.heappush(self._timers, (block, self._timer_seq, timer))
        return timer

    def _run_timers(self) -> None:
        timers = self._timers
        while timers and timers[0][0] <= self.tick:
            _, _, timer = heapq.heappop(timers)
            if not timer.cancelled:
                timer.fn()

    # ---- plumbing for lines, phones and people ------------------------------------------------

    def party_outlet(self, row: int) -> Outlet:
        return Outlet(row, self._party_outlets)

    def sound_outlet(self, row: int) -> Outlet:
        return Outlet(row, self._net_outlets)

    def emit(self, event: BoardEvent) -> None:
        self.events.append(event)

    def notify(self, event: str, **fields: Any) -> None:
        if self.notify_enabled:
            self.notices.append({"event": event, "t": round(self.now, 3), **fields})

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def want_polls(self, party: Party, on: bool) -> None:
        if on:
            self._scripted[party.name] = party
        else:
            self._scripted.pop(party.name, None)

    def occupant(self, row: int) -> Party | None:
        if row < self.trunks:
            return self.lines[row].caller
        return self.phones[row - self.trunks].occupant

    def source_name(self, source: int) -> str | None:
        """Who a listener source is: a row's party, or `echo-trunk-K` (the line echo)."""
        if source >= self.rows:
            return f"echo-trunk-{source - self.rows + 1}"
        party = self.occupant(source)
        return party.name if party is not None else None

    def reset_echo(self, trunk_row: int) -> None:
        if self._echo_len:
            self._echo_hist[trunk_row] = 0.0

    def record(self, row: int, what: str, path: str | None) -> Recorder:
        rec = Recorder(row, what, path, self.now)
        self.recorders.setdefault(row, []).append(rec)
        return rec

    def stop_recording(self, rec: Recorder) -> None:
        recs = self.recorders.get(rec.row, [])
        if rec in recs:
            recs.remove(rec)
        if not recs:
            self.recorders.pop(rec.row, None)

    # ---- the tick ------------------------------------------------------------------------------

    def _companded(self, x: np.ndarray) -> np.ndarray:
        if self._compand is None:
            return x
        return np.take(self._compand, x.view(np.uint16))

    def exchange(self, tx: np.ndarray) -> np.ndarray:
        self.now = self.start + self.tick * self.dt
        # only a connected party hears anything
        heard = self.heard
        np.multiply(self._companded(tx), self.connected[:, None], out=heard, casting="unsafe")
        heard_f = self._heard_f
        np.copyto(heard_f, heard, casting="unsafe")
        heard_energy = np.einsum("ij,ij->i", heard_f, heard_f)
        self.last_loud[heard_energy > self._loud_energy] = self.now
        for row, recs in self.recorders.items():
            for rec in recs:
                if rec.what == "heard":
                    rec.blocks.append(heard[row].copy())

        self._run_timers()
        if self.traffic is not None:
            self.traffic.tick(self.now)

        sent, sounds = self.sent, self._sounds
        sent.fill(0)
        sounds.fill(0)
        done: list[Callable[[], None]] = []
        for outlet in list(self._party_outlets.values()):
            outlet.fill(sent[outlet.row], done)
        for outlet in list(self._net_outlets.values()):
            outlet.fill(sounds[outlet.row], done)
        for cb in done:  # before anyone looks: a clip that ended this tick has ended
            cb()
        # on hook / unanswered: the party's voice does not reach the box
        np.multiply(sent, self.connected[:, None], out=sent, casting="unsafe")

        mix = self._mix
        np.add(sent, sounds, out=mix, casting="unsafe")
        if self._echo_len and self.offhook_trunks.any():
            self._add_echo(mix)
            self._echo_was_on = True
        elif self._echo_was_on:
            self._sources[self.rows :] = 0.0
            self._echo_was_on = False
        if self._noise is not None:
            n = self.trunks * self.block
            off = self._noise_rng.randrange(self._noise.size - n)
            mix[: self.trunks] += self._noise[off : off + n].reshape(self.trunks, self.block)
        np.rint(mix, out=mix)
        np.clip(mix, -32768, 32767, out=mix)
        rx = self._companded(mix.astype(np.int16))

        for row, recs in self.recorders.items():
            for rec in recs:
                if rec.what == "sent":
                    rec.blocks.append(rx[row].copy())
        sources = self._sources
        np.copyto(sources[: self.rows], sent, casting="unsafe")
        self.listener.push(sources, heard_f, heard_energy)
        if self.listener.due:
            self._look_and_listen()
        self.tick += 1
        self.now = self.start + self.tick * self.dt  # commands between ticks act at the next one
        return rx

    def _add_echo(self, mix: np.ndarray) -> None:
        rows = np.nonzero(self.offhook_trunks)[0]
        hist = self._echo_hist[rows]
        seg = np.concatenate([hist, self.heard[rows].astype(np.float64)], axis=1)
        spec = np.fft.rfft(seg, self._echo_nfft, axis=1) * self._echo_freq[rows]
        keep = self._echo_len - 1
        echo = np.fft.irfft(spec, self._echo_nfft, axis=1)[:, keep : keep + self.block]
        echo32 = echo.astype(np.float32)
        mix[rows] += echo32
        self._sources[self.rows :] = 0.0
        self._sources[self.rows + rows] = echo32
        self._echo_hist[rows] = seg[:, seg.shape[1] - keep :]

    def _look_and_listen(self) -> None:
        rows = np.nonzero(self.connected)[0]
        matches: list[Match] = self.listener.identify(rows.tolist()) if rows.size else []
        window = self.listener.window * self.dt
        window_start = self.now + self.dt - window
        for m in matches:
            hearer = self.occupant(m.listener)
            speaker = self.source_name(m.source)
            if hearer is not None and speaker is not None:
                t0 = window_start - window if m.new else window_start
                hearer.hear(speaker, t0, self.now + self.dt, m.rho)
        for party in list(self._scripted.values()):
            party.poll(self.now)

    def iter_parties(self) -> Iterator[Party]:
        return iter(self.parties.values())
