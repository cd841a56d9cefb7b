"""Who is this party hearing? Normalised correlation against what every party transmitted.

The card keeps, for every channel, the last few blocks each simulated party *transmitted* (its
voice and its DTMF, before line echo, noise or companding are added) and the last few blocks it
*heard* (the box's output on its channel). Every `window` blocks, `Listener.identify()` correlates
each listening channel's heard window with every transmitting channel's window at whole-block
lags 0…`max_lag` (the media engine moves audio between channels a whole number of blocks later:
one tick, plus whatever buffering it adds). The normalised correlation

    rho = <heard, sent(lag)> / (|heard| |sent(lag)|)

is 1 for a clean copy, about 0.7 for one of two equal voices in a mix, and mostly below 0.5 for
music, prompts, noise or another party. A party counts as heard when rho reaches `threshold`
(0.5) in two consecutive windows at the same lag (chance resemblances do not repeat at the same
lag) and both windows carry more than `gate_dbm0` of power, so silence and idle noise never
match. When several parties match one window, matching pursuit keeps only those that explain
what is left after the better ones are taken out (a look-alike explains nothing).

The same arithmetic over a whole recording is `find()`: where (and how well) a known signal — a
prompt, a phrase — occurs in what a party recorded. Tests use it to prove audio paths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cython_ext.levels import rms_for


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
    ) -> None:
        self.channels, self.block, self.window, self.max_lag = channels, block, window, max_lag
        self.threshold = threshold
        self.history = window + max_lag
        self.sources = channels if sources is None else sources
        #: source -> the one listener row it is never matched for (-1: none); the card maps each
        #: trunk's echo to that trunk: echo is made of what the trunk's own party hears
        self.not_for = np.full(self.sources, -1, dtype=np.intp)
        self._sent = np.zeros((self.history, self.sources, block), dtype=np.float32)
        self._sent_energy = np.zeros((self.history, self.sources), dtype=np.float32)
        self._heard = np.zeros((window, channels, block), dtype=np.float32)
        self._heard_energy = np.zeros((window, channels), dtype=np.float32)
        self._gate_power = rms_for(gate_dbm0) ** 2  # mean square per sample
        self.blocks = 0
        self._previous: dict[tuple[int, int], int] = {}
        self._confirmed: set[tuple[int, int]] = set()

    def push(
        self, sent: np.ndarray, heard: np.ndarray, heard_energy: np.ndarray | None = None
    ) -> None:
        """Store one tick: what each party transmitted (`sent`) and each channel heard."""
        i = self.blocks % self.history
        j = self.blocks % self.window
        s, h = self._sent[i], self._heard[j]
        np.copyto(s, sent, casting="unsafe")
        np.copyto(h, heard, casting="unsafe")
        self._sent_energy[i] = np.einsum("ij,ij->i", s, s)
        self._heard_energy[j] = (
            np.einsum("ij,ij->i", h, h) if heard_energy is None else heard_energy
        )
        self.blocks += 1

    @property
    def due(self) -> bool:
        """A full window has been heard since the last identification."""
        return self.blocks > 0 and self.blocks % self.window == 0

    def identify(self, listeners: Sequence[int]) -> list[Match]:
        """Every (listener, source) pair heard over the last two windows at the same lag.

        A pair found in one window only is not reported: random look-alikes (music that happens
        to resemble someone for 100 ms) do not repeat at the same lag, a voice does.
        """
        raw = self._identify(listeners)
        previous, self._previous = self._previous, {(m.listener, m.source): m.lag for m in raw}
        out = []
        for m in raw:
            lag = previous.get((m.listener, m.source))
            if lag == m.lag:
                out.append(
                    Match(
                        m.listener,
                        m.source,
                        m.rho,
                        m.lag,
                        (m.listener, m.source) not in self._confirmed,
                    )
                )
        self._confirmed = {(m.listener, m.source) for m in out}
        return out

    def _identify(self, listeners: Sequence[int]) -> list[Match]:
        """Every (listener, source) pair heard over the last window, best lag per pair."""
        if not listeners or self.blocks < self.window:
            return []
        w, b = self.window, self.block
        n_samples = w * b
        rows = np.asarray(listeners, dtype=np.intp)
        heard_energy = self._heard_energy[:, rows].sum(axis=0)
        audible = heard_energy > self._gate_power * n_samples
        if not audible.any():
            return []
        rows = rows[audible]
        heard_energy = heard_energy[audible]
        heard = self._heard[:, rows, :].transpose(1, 0, 2).reshape(rows.size, n_samples)
        # transmitting channels: any power in the lagged history at all
        talkers = np.nonzero(self._sent_energy.sum(axis=0) > self._gate_power * n_samples)[0]
        if talkers.size == 0:
            return []
        best = np.zeros((rows.size, talkers.size))
        best_lag = np.zeros((rows.size, talkers.size), dtype=np.intp)
        oldest = self.blocks - w  # index of the window's first heard block
        for lag in range(self.max_lag + 1):
            first = oldest - lag
            if first < 0:
                break
            idx = np.arange(first, first + w) % self.history
            energy = self._sent_energy[idx][:, talkers].sum(axis=0)
            loud = energy > self._gate_power * n_samples
            if not loud.any():
                continue
            sent = (
                self._sent[idx][:, talkers, :].transpose(1, 0, 2).reshape(talkers.size, n_samples)
            )
            dots = heard @ sent.T
            norm = np.sqrt(np.outer(heard_energy, np.where(loud, energy, np.inf)))
            rho = dots / norm
            rho[rows[:, None] == self.not_for[talkers][None, :]] = 0.0
            better = rho > best
            best = np.where(better, rho, best)
            best_lag = np.where(better, lag, best_lag)
        out: list[Match] = []
        hits = (best >= self.threshold) & (best > 0.0)
        for li in np.nonzero(hits.any(axis=1))[0]:
            found = np.nonzero(hits[li])[0]
            if found.size == 1:
                si = found[0]
                out.append(
                    Match(
                        int(rows[li]), int(talkers[si]), float(best[li, si]), int(best_lag[li, si])
                    )
                )
                continue
            out += self._explain(
                int(rows[li]), heard[li], heard_energy[li], talkers[found], best_lag[li, found]
            )
        return out

    def _window(self, row: int, lag: int) -> np.ndarray:
        first = self.blocks - self.window - lag
        idx = np.arange(first, first + self.window) % self.history
        return self._sent[idx, row, :].reshape(-1).astype(np.float64)

    def _explain(
        self, row: int, heard: np.ndarray, energy: float, talkers: np.ndarray, lags: np.ndarray
    ) -> list[Match]:
        """Several talkers correlate with one heard window: matching pursuit keeps those that
        explain what is left once the better ones are taken out. A talker who merely resembles
        the real one (the same phrase in the same voice, a little shifted) explains nothing more.
        """
        residual = heard.astype(np.float64)
        norm = float(np.sqrt(energy))
        windows = {
            int(t): self._window(int(t), int(lag)) for t, lag in zip(talkers, lags, strict=True)
        }
        lag_of = {int(t): int(lag) for t, lag in zip(talkers, lags, strict=True)}
        out: list[Match] = []
        while windows:
            scores = {
                t: float(residual @ w) / (norm * float(np.sqrt(w @ w))) for t, w in windows.items()
            }
            t = max(scores, key=lambda k: scores[k])
            if scores[t] < self.threshold:
                break
            w = windows.pop(t)
            residual -= (residual @ w) / (w @ w) * w
            out.append(Match(row, t, scores[t], lag_of[t]))
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
