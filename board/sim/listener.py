"""Who is this party hearing? Normalised correlation against what every party transmitted.

The card keeps, for every channel, the last few blocks each simulated party *transmitted* (its
voice and its DTMF, before line echo, noise or companding are added) and the last few blocks it
*heard* (the box's output on its channel). `Listener.identify()` correlates each listening
channel's last `window` blocks (100 ms) with every transmitting channel's at whole-block lags
0…`max_lag` (the media engine moves audio between channels a whole number of blocks later: one
tick, plus whatever buffering it adds). The normalised correlation

    rho = <heard, sent(lag)> / (|heard| |sent(lag)|)

is 1 for a clean copy, about 0.7 for one of two equal voices in a mix, and mostly below 0.5 for
music, prompts, noise or another party. A party counts as heard when rho reaches `threshold`
(0.5) in two consecutive windows at the same lag (chance resemblances do not repeat at the same
lag) and both windows carry more than `gate_dbm0` of power, so silence and idle noise never
match. When several parties match one window, matching pursuit keeps only those that explain
what is left after the better ones are taken out (a look-alike explains nothing).

Cost: both sides are summed over 4 samples first (a 2 kHz view: an exact copy still correlates
to 1, and voices are told apart by their low-frequency waveform anyway), the history lives in a
doubled ring so the whole history is one contiguous stretch and every lagged window a view into
it (the sources loud in some window are gathered once and correlated with all lags in one matrix
product; quiet sources cannot match and are skipped), and listeners are evaluated in `window`
staggered groups, one group per tick, so every
listener is heard every `window` ticks and no tick carries the whole load.

The same arithmetic over a whole recording is `find()`: where (and how well) a known signal — a
prompt, a phrase — occurs in what a party recorded. Tests use it to prove audio paths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cython_ext.levels import rms_for

_NO_ROWS = np.zeros(0, dtype=np.intp)


@dataclass(frozen=True)
class Match:
    listener: int  # row of the channel that hears
    source: int  # row of the channel whose party transmitted it
    rho: float  # normalised correlation 0..1
    lag: int  # blocks between transmission and hearing
    new: bool = False  # first confirmation: the voice began one window earlier


class Listener:
    """Rolling windows of what `sources` rows transmitted and `channels` rows heard.

    Sources are the channels' parties, optionally followed by other signals worth telling apart
    (the card adds each trunk's line echo, so a party hearing its own echo is not mistaken for
    someone else saying the same words)."""

    def __init__(
        self,
        channels: int,
        block: int,
        *,
        sources: int | None = None,
        window: int = 5,
        max_lag: int = 6,
        threshold: float = 0.5,
        gate_dbm0: float = -45.0,
        decimate: int = 4,
    ) -> None:
        self.channels, self.block, self.window, self.max_lag = channels, block, window, max_lag
        self.threshold = threshold
        self.sources = channels if sources is None else sources
        #: source -> the one listener row it is never matched for (-1: none); the card maps each
        #: trunk's echo to that trunk: echo is made of what the trunk's own party hears
        self.not_for = np.full(self.sources, -1, dtype=np.intp)
        self.decimate = decimate if block % decimate == 0 else 1
        self.b = block // self.decimate  # samples per block after decimation
        self.history = window + max_lag
        h2 = 2 * self.history
        self._sent = np.zeros((self.sources, h2 * self.b), dtype=np.float32)
        self._sent_energy = np.zeros((self.sources, h2), dtype=np.float32)
        self._heard = np.zeros((channels, h2 * self.b), dtype=np.float32)
        self._heard_energy = np.zeros((channels, h2), dtype=np.float32)
        # gate: mean square per original sample → energy of a decimated window
        self._gate = rms_for(gate_dbm0) ** 2 * window * block * self.decimate
        self.blocks = 0
        self._quiet = 0
        self._slot_rows: list[tuple[np.ndarray, np.ndarray]] = [(_NO_ROWS, _NO_ROWS)] * self.history
        self._previous: dict[int, dict[int, int]] = {}  # listener -> {source: lag} last time
        self._confirmed: dict[int, set[int]] = {}

    def _down(self, x: np.ndarray) -> np.ndarray:
        """Sum each run of `decimate` samples (strided adds: far faster than a reshape-sum)."""
        x = np.asarray(x, dtype=np.float32)
        d = self.decimate
        if d == 1:
            return x
        out = x[:, 0::d].copy()
        for k in range(1, d):
            out += x[:, k::d]
        return out

    def push(
        self, sent: np.ndarray, heard: np.ndarray, heard_energy: np.ndarray | None = None
    ) -> None:
        """Store one tick: what each source transmitted (`sent`) and each channel heard."""
        i = self.blocks % self.history
        b, h = self.b, self.history
        s, hd = self._down(sent), self._down(heard)
        se = np.einsum("ij,ij->i", s, s)
        he = np.einsum("ij,ij->i", hd, hd)
        for at in (i, i + h):
            self._sent[:, at * b : (at + 1) * b] = s
            self._heard[:, at * b : (at + 1) * b] = hd
            self._sent_energy[:, at] = se
            self._heard_energy[:, at] = he
        self._slot_rows[i] = (np.arange(self.sources), np.arange(self.channels))
        self.blocks += 1

    def push_rows(
        self,
        sent_rows: np.ndarray,
        sent: np.ndarray,
        heard_rows: np.ndarray,
        heard: np.ndarray | None,
    ) -> None:
        """Store one tick given only the rows that carry something (all others are silent)."""
        i = self.blocks % self.history
        self.blocks += 1
        if not sent_rows.size and not heard_rows.size:
            self._quiet += 1
            if self._quiet > self.history:
                return  # the ring is all zeros already
        else:
            self._quiet = 0
        b, h = self.b, self.history
        s = self._down(sent) if sent_rows.size else None
        hd = self._down(heard) if heard is not None and heard_rows.size else None
        se = np.einsum("ij,ij->i", s, s) if s is not None else None
        he = np.einsum("ij,ij->i", hd, hd) if hd is not None else None
        old_sent, old_heard = self._slot_rows[i]
        for at in (i, i + h):
            cols = slice(at * b, (at + 1) * b)
            if old_sent.size:  # clear what this slot held `history` ticks ago
                self._sent[old_sent, cols] = 0.0
                self._sent_energy[old_sent, at] = 0.0
            if old_heard.size:
                self._heard[old_heard, cols] = 0.0
                self._heard_energy[old_heard, at] = 0.0
            if s is not None:
                self._sent[sent_rows, cols] = s
                self._sent_energy[sent_rows, at] = se
            if hd is not None:
                self._heard[heard_rows, cols] = hd
                self._heard_energy[heard_rows, at] = he
        self._slot_rows[i] = (
            sent_rows if s is not None else _NO_ROWS,
            heard_rows if hd is not None else _NO_ROWS,
        )

    @property
    def due(self) -> bool:
        """A full window has been heard (some group of listeners can be evaluated)."""
        return self.blocks >= self.window

    def due_rows(self, listeners: Sequence[int]) -> list[int]:
        """The listeners evaluated now: one group of every `window`, by row."""
        g = self.blocks % self.window
        return [r for r in listeners if r % self.window == g]

    def identify(self, listeners: Sequence[int]) -> list[Match]:
        """For the listeners of this tick's group: every source heard in their last two windows
        at the same lag.

        A pair found in one window only is not reported: random look-alikes (music that happens
        to resemble someone for 100 ms) do not repeat at the same lag, a voice does.
        """
        if not self.due:
            return []
        rows = self.due_rows(listeners)
        raw = self._identify(rows)
        found: dict[int, dict[int, Match]] = {r: {} for r in rows}
        for m in raw:
            found[m.listener][m.source] = m
        out = []
        for r in rows:
            previous = self._previous.get(r, {})
            confirmed = self._confirmed.get(r, set())
            now_confirmed = set()
            for src, m in found[r].items():
                if previous.get(src) == m.lag:
                    out.append(Match(r, src, m.rho, m.lag, src not in confirmed))
                    now_confirmed.add(src)
            self._previous[r] = {src: m.lag for src, m in found[r].items()}
            self._confirmed[r] = now_confirmed
        return out

    def _window(self, lag: int) -> tuple[int, int]:
        """Block index range [a, a + window) in the doubled ring for the window at `lag`."""
        a = (self.blocks - self.window - lag) % self.history
        return a, a + self.window

    def _identify(self, listeners: Sequence[int]) -> list[Match]:
        """Every (listener, source) pair heard over the last window, best lag per pair."""
        if not listeners or self.blocks < self.window:
            return []
        rows = np.asarray(listeners, dtype=np.intp)
        b = self.b
        a, e = self._window(0)
        heard_energy = self._heard_energy[rows, a:e].sum(axis=1)
        audible = heard_energy > self._gate
        if not audible.any():
            return []
        rows, heard_energy = rows[audible], heard_energy[audible]
        heard = self._heard[rows, a * b : e * b]
        best, best_lag = self._best_lags(rows, heard, heard_energy)
        out: list[Match] = []
        hits = (best >= self.threshold) & (best > 0.0)
        for li in np.nonzero(hits.any(axis=1))[0]:
            found = np.nonzero(hits[li])[0]
            if found.size == 1:
                si = found[0]
                out.append(
                    Match(int(rows[li]), int(si), float(best[li, si]), int(best_lag[li, si]))
                )
                continue
            out += self._explain(
                int(rows[li]), heard[li], float(heard_energy[li]), found, best_lag[li, found]
            )
        return out

    def _best_lags(
        self, rows: np.ndarray, heard: np.ndarray, heard_energy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each listener row × source: the best rho over lags 0…max_lag and its lag (the
        smallest lag of equal ones; rho 0 where no lag is loud or the pair is blocked).

        The whole history is one contiguous stretch of the doubled ring (oldest first), so
        every lag's window is a view into it: the sources loud in any window are gathered
        once and correlated with all lags in one matrix product."""
        best = np.zeros((rows.size, self.sources), dtype=np.float32)
        best_lag = np.zeros((rows.size, self.sources), dtype=np.intp)
        w, lags, b = self.window, self.max_lag + 1, self.b
        available = min(lags, self.blocks - w + 1)  # lags with a full window recorded
        if available <= 0:
            return best, best_lag
        a0 = (self.blocks - w - self.max_lag) % self.history  # the window at max_lag
        # energy of each source's window at each lag (column = lag; the ring holds oldest first)
        e_hist = self._sent_energy[:, a0 : a0 + self.history]
        energy = e_hist[:, w - 1 : w - 1 + lags].copy()
        for k in range(w - 1):
            energy += e_hist[:, k : k + lags]
        energy = energy[:, ::-1]
        loud = energy > self._gate
        loud[:, available:] = False
        src = np.flatnonzero(loud.any(axis=1))
        if not src.size:
            return best, best_lag
        hist = self._sent[src, a0 * b : (a0 + self.history) * b]  # a copy: rows contiguous
        step = hist.strides[1]
        windows = np.ndarray(
            (src.size, lags, w * b), hist.dtype, hist, 0, (hist.strides[0], b * step, step)
        )
        # (sources × lags, w·b), lag 0 first
        stacked = windows[:, ::-1].reshape(src.size * lags, w * b)
        dots = (heard @ stacked.T).reshape(rows.size, src.size, lags)
        e_src = np.where(loud[src], energy[src], np.inf)
        rho = dots / np.sqrt(heard_energy[:, None, None] * e_src[None, :, :])
        rho[rows[:, None] == self.not_for[None, src]] = 0.0
        lag_of = np.argmax(rho, axis=2)
        top = rho.max(axis=2)
        positive = top > 0.0
        best[:, src] = np.where(positive, top, 0.0)
        best_lag[:, src] = np.where(positive, lag_of, 0)
        return best, best_lag

    def _sent_window(self, source: int, lag: int) -> np.ndarray:
        a, e = self._window(lag)
        return self._sent[source, a * self.b : e * self.b].astype(np.float64)

    def _explain(
        self, row: int, heard: np.ndarray, energy: float, sources: np.ndarray, lags: np.ndarray
    ) -> list[Match]:
        """Several sources correlate with one heard window: matching pursuit keeps those that
        explain what is left once the better ones are taken out. A source that merely resembles
        the real one (the same phrase in the same voice, a little shifted) explains nothing more.
        """
        residual = heard.astype(np.float64)
        norm = math.sqrt(energy)
        windows = {
            int(s): self._sent_window(int(s), int(lag))
            for s, lag in zip(sources, lags, strict=True)
        }
        lag_of = {int(s): int(lag) for s, lag in zip(sources, lags, strict=True)}
        out: list[Match] = []
        while windows:
            scores = {
                s: float(residual @ w) / (norm * math.sqrt(float(w @ w)))
                for s, w in windows.items()
            }
            s = max(scores, key=lambda k: scores[k])
            if scores[s] < self.threshold:
                break
            w = windows.pop(s)
            residual -= (residual @ w) / (w @ w) * w
            out.append(Match(row, s, scores[s], lag_of[s]))
        return out


def find(recording: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Where `reference` occurs best in `recording`: (sample offset, normalised correlation).

    Returns (-1, 0.0) when the recording is shorter than the reference or either is silent.
    """
    x = np.asarray(recording, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    m = r.size
    if m == 0 or x.size < m:
        return -1, 0.0
    ref_norm = math.sqrt(float(np.dot(r, r)))
    if ref_norm == 0.0:
        return -1, 0.0
    nfft = 1 << int(math.ceil(math.log2(x.size + m)))
    corr = np.fft.irfft(np.fft.rfft(x, nfft) * np.conj(np.fft.rfft(r, nfft)), nfft)[
        : x.size - m + 1
    ]
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    window_energy = c2[m:] - c2[: x.size - m + 1]
    floor = 1e-9 * ref_norm * ref_norm + 1.0
    rho = corr / (ref_norm * np.sqrt(np.maximum(window_energy, floor)))
    at = int(np.argmax(rho))
    return at, float(rho[at])
