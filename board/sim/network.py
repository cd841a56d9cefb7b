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
    from board.sim.pri import SpanLine
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
        bchans: int = 0,
        zone: str = "us",
    ) -> None:
        self.trunks, self.stations, self.block = trunks, stations, block
        self.rows = trunks + stations + bchans  # PRI B-channels (pri.py) after the stations
        self.start, self.seed = start, seed
        self.zone = zone  # the country's tones: what people recognise as busy or dial tone
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
        self.heard = np.zeros((self.rows, block), dtype=np.int16)
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
        #: row -> a person's ear for tones and the blocks its row heard since it last listened
        self.ears: dict[int, tuple[Callable[[np.ndarray], None], list[np.ndarray]]] = {}
        self._ear_window = window
        # listener sources: each row's party, then each trunk's line echo
        self.listener = Listener(self.rows, block, window=window, sources=self.rows + trunks)
        self.listener.not_for[self.rows :] = np.arange(trunks)
        self.lines: list[CoLine] = []
        self.phones: list[Phone] = []
        self.span_lines: dict[int, SpanLine] = {}  # row -> B-channel (pri.py)
        self.parties: dict[str, Party] = {}
        # parties whose script waits on a condition, in the listener's groups (by row)
        self._scripted: list[dict[str, Party]] = [{} for _ in range(window)]
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
        # line echo: a G.168 path per trunk (models cycled), pure delay from the history and the
        # hybrid as one Toeplitz matrix product per model over all off-hook trunks using it
        self.echo = echo
        self._echo_len = 0
        if echo is not None and trunks:
            delay = int(round(echo.delay_ms * RATE / 1000))
            self._echo_models = [echo.models[i % len(echo.models)] for i in range(trunks)]
            self._echo_matrix: dict[str, np.ndarray] = {}
            taps = 1
            for model in set(self._echo_models):
                h = signals.echo_response(model, echo.delay_ms, echo.erl_db)[delay:]
                taps = max(taps, h.size)
                t = np.zeros((h.size - 1 + block, block), dtype=np.float32)
                for n in range(block):
                    t[n : n + h.size, n] = h[::-1]
                self._echo_matrix[model] = t
            self._echo_delay, self._echo_taps = delay, taps
            self._echo_len = delay + taps  # history kept: delay + taps - 1 samples
            self._echo_hist = np.zeros((trunks, self._echo_len - 1), dtype=np.float32)
            names = sorted(self._echo_matrix)
            self._echo_model_of = np.asarray([names.index(m) for m in self._echo_models])
        self.offhook_trunks = np.zeros(trunks, dtype=bool)
        #: a trunk carries something: a call (ringing or up) or the box holds it off hook
        self.trunk_busy = np.zeros(self.rows, dtype=bool)
        self._heard_rows = np.zeros(0, dtype=np.intp)
        self._active_rows = np.zeros(0, dtype=np.intp)  # the box holds these trunks off hook

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
        """Poll `party` when its row's listener group is evaluated (every `window` ticks)."""
        for group in self._scripted:
            group.pop(party.name, None)
        if on:
            row = party.row or 0
            self._scripted[row % len(self._scripted)][party.name] = party

    def listen_to(self, row: int, ear: Callable[[np.ndarray], None] | None) -> None:
        """Give `ear` all `row` hears from now on, `window` blocks (100 ms) at a time, as a
        person listens (None: stop)."""
        if ear is None:
            self.ears.pop(row, None)
        else:
            self.ears[row] = (ear, [])

    def occupant(self, row: int) -> Party | None:
        if row < self.trunks:
            return self.lines[row].caller
        if row in self.span_lines:
            return self.span_lines[row].caller
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
        # what connected parties hear (nobody else hears anything)
        listening = np.flatnonzero(self.connected)
        heard = self.heard
        if self._heard_rows.size:
            heard[self._heard_rows] = 0
        heard_sub: np.ndarray | None = None
        if listening.size:
            heard_sub = self._companded(tx[listening])
            heard[listening] = heard_sub
            hf = heard_sub.astype(np.float32)
            energy = np.einsum("ij,ij->i", hf, hf)
            self.last_loud[listening[energy > self._loud_energy]] = self.now
        self._heard_rows = listening
        for row, recs in self.recorders.items():
            for rec in recs:
                if rec.what == "heard":
                    rec.blocks.append(heard[row].copy())
        for row, (ear, blocks) in list(self.ears.items()):
            blocks.append(heard[row].copy())
            if len(blocks) >= self._ear_window:  # people listen in 100 ms steps
                samples = np.concatenate(blocks)
                blocks.clear()
                ear(samples)

        self._run_timers()
        if self.traffic is not None:
            self.traffic.tick(self.now)

        # what the parties and the exchange put on the lines
        sent, sounds = self.sent, self._sounds
        active = self._active_rows
        if active.size:
            sent[active] = 0
            sounds[active] = 0
        done: list[Callable[[], None]] = []
        rows: set[int] = set()
        for outlet in list(self._party_outlets.values()):
            outlet.fill(sent[outlet.row], done)
            rows.add(outlet.row)
        for outlet in list(self._net_outlets.values()):
            outlet.fill(sounds[outlet.row], done)
            rows.add(outlet.row)
        for cb in done:  # before anyone looks: a clip that ended this tick has ended
            cb()
        trunk_rows = np.flatnonzero(self.trunk_busy)
        if rows:
            carrying = self.trunk_busy.copy()
            carrying[list(rows)] = True
            out_rows = np.flatnonzero(carrying)
        else:
            out_rows = trunk_rows
        self._active_rows = out_rows
        rx = np.zeros((self.rows, self.block), dtype=np.int16)
        echo_rows = np.zeros(0, dtype=np.intp)
        echo: np.ndarray | None = None
        if out_rows.size:
            # on hook / unanswered: the party's voice does not reach the box
            sent[out_rows[~self.connected[out_rows]]] = 0
            mix = sent[out_rows].astype(np.float32)
            mix += sounds[out_rows]
            if self._echo_len and self.offhook_trunks.any():
                echo_rows = np.flatnonzero(self.offhook_trunks)
                echo = self._line_echo(echo_rows)
                mix[np.searchsorted(out_rows, echo_rows)] += echo
            if self._noise is not None and trunk_rows.size:
                n = trunk_rows.size * self.block
                off = self._noise_rng.randrange(self._noise.size - n)
                at = np.searchsorted(out_rows, trunk_rows)
                mix[at] += self._noise[off : off + n].reshape(trunk_rows.size, self.block)
            np.rint(mix, out=mix)
            np.clip(mix, -32768, 32767, out=mix)
            rx[out_rows] = self._companded(mix.astype(np.int16))

        for row, recs in self.recorders.items():
            for rec in recs:
                if rec.what == "sent":
                    rec.blocks.append(rx[row].copy())
        talking = np.asarray(sorted(r for r in rows if self.connected[r]), dtype=np.intp)
        if echo is not None:
            talking = np.concatenate([talking, self.rows + echo_rows])
            values = np.concatenate([sent[talking[: talking.size - echo_rows.size]], echo])
        else:
            values = sent[talking]
        self.listener.push_rows(talking, values, listening, heard_sub)
        if self.listener.due:
            self._look_and_listen()
        self.tick += 1
        self.now = self.start + self.tick * self.dt  # commands between ticks act at the next one
        return rx

    def _line_echo(self, rows: np.ndarray) -> np.ndarray:
        """The echo each off-hook trunk in `rows` returns of what the box sent it (float32)."""
        seg = np.concatenate([self._echo_hist[rows], self.heard[rows].astype(np.float32)], axis=1)
        keep = self._echo_len - 1
        self._echo_hist[rows] = seg[:, seg.shape[1] - keep :]
        if len(self._echo_matrix) == 1:
            (matrix,) = self._echo_matrix.values()
            return seg[:, : matrix.shape[0]] @ matrix
        out = np.empty((rows.size, self.block), dtype=np.float32)
        which = self._echo_model_of[rows]
        for k, model in enumerate(sorted(self._echo_matrix)):
            matrix = self._echo_matrix[model]
            mine = which == k
            if mine.any():
                skip = self._echo_taps - (matrix.shape[0] - self.block + 1)  # shorter models
                out[mine] = seg[mine, skip : skip + matrix.shape[0]] @ matrix
        return out

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
        group = self._scripted[self.listener.blocks % self.listener.window]
        for party in list(group.values()):
            party.poll(self.now)

    def iter_parties(self) -> Iterator[Party]:
        return iter(self.parties.values())
