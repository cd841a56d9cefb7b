"""The listener: who a party hears, by normalised correlation with what parties transmitted."""

from __future__ import annotations

import numpy as np
import pytest
from simtools import music, prompt

from board.sim.listener import Listener, Match, find
from board.sim.voices import VoiceLibrary
from cython_ext.levels import rms_for

B = 160


@pytest.fixture(scope="module")
def speech() -> list[np.ndarray]:
    """Four people's speech (espeak-ng voices), 6 s each, back-to-back phrases."""
    lib = VoiceLibrary()
    out = []
    for person in range(4):
        x = np.concatenate([lib.phrase("caller", person, i, 1.0 + 0.02 * person) for i in range(4)])
        out.append(x[: 6 * 8000])
    return out


def _feed(
    speech: list[np.ndarray], heard_of: dict[int, np.ndarray], seconds: float = 6.0
) -> list[list[Match]]:
    """Channels 0-3 transmit `speech`; channel 4 hears `heard_of[tick]`-built signals."""
    lis = Listener(5, B)
    results = []
    n = int(seconds * 8000 / B)
    heard_all = heard_of[0]
    for k in range(n):
        sent = np.zeros((5, B), dtype=np.int16)
        for c, x in enumerate(speech):
            sent[c] = x[k * B : (k + 1) * B]
        heard = np.zeros((5, B), dtype=np.float32)
        heard[4] = heard_all[k * B : (k + 1) * B]
        lis.push(sent, heard)
        if lis.due and lis.due_rows([4]):  # channel 4's turn (every `window` ticks)
            results.append(lis.identify([4]))
    return results


def _delayed(x: np.ndarray, samples: int) -> np.ndarray:
    return np.concatenate([np.zeros(samples), x[: x.size - samples]])


def _voiced(results: list[list[Match]]) -> list[list[Match]]:
    return [r for r in results if r]


@pytest.mark.parametrize("lag", [1, 3, 6])
def test_identifies_the_talker_at_a_whole_block_lag(speech: list[np.ndarray], lag: int) -> None:
    results = _feed(speech, {0: _delayed(speech[2], lag * B)})
    found = _voiced(results)
    assert len(found) >= 0.6 * len(results)  # speech has pauses; those windows are silent
    for r in found:
        assert [(m.source, m.lag) for m in r] == [(2, lag)]
        assert r[0].rho > 0.99


def test_identifies_both_voices_of_a_mix(speech: list[np.ndarray]) -> None:
    mix = _delayed(speech[0], B) + _delayed(speech[3], 2 * B)
    results = _feed(speech, {0: mix})
    both = [r for r in results if {m.source for m in r} == {0, 3}]
    assert len(both) >= 0.25 * len(results)  # both talking (and not pausing) in a window
    assert all({m.source for m in r} <= {0, 3} for r in results)


def test_a_look_alike_is_explained_away(speech: list[np.ndarray]) -> None:
    # channel 1 says exactly what channel 0 says, 17 samples later: it resembles what channel 4
    # hears (channel 0) but explains nothing once channel 0 is taken out
    twin = [speech[0], _delayed(speech[0], 17), speech[2], speech[3]]
    results = _feed(twin, {0: _delayed(speech[0], B)})
    assert _voiced(results)
    assert all([m.source for m in r] == [0] for r in _voiced(results))


def test_rejects_silence(speech: list[np.ndarray]) -> None:
    assert not _voiced(_feed(speech, {0: np.zeros(6 * 8000)}))


def test_rejects_line_noise(speech: list[np.ndarray]) -> None:
    noise = np.random.default_rng(5).standard_normal(6 * 8000) * rms_for(-30.0)
    assert not _voiced(_feed(speech, {0: noise}))


def test_rejects_music_on_hold_and_prompts(speech: list[np.ndarray]) -> None:
    assert not _voiced(_feed(speech, {0: music(6.0).astype(np.float64)}))
    greeting = prompt("vm-intro", "queue-thankyou", "hello-world")[: 6 * 8000]
    assert not _voiced(_feed(speech, {0: np.resize(greeting, 6 * 8000).astype(np.float64)}))


def test_hears_a_voice_over_music(speech: list[np.ndarray]) -> None:
    # an agent's voice with music at the same level underneath (a whisper over MOH)
    x = _delayed(speech[1], B)
    m = music(6.0).astype(np.float64)
    m *= np.sqrt(np.mean(x * x) / np.mean(m * m))
    found = _voiced(_feed(speech, {0: x + m}))
    assert len(found) >= 10
    assert all([mm.source for mm in r] == [1] for r in found)


def test_find_locates_a_prompt_in_a_recording() -> None:
    greeting = prompt("hello-world")
    noise = np.random.default_rng(1).standard_normal(30000) * rms_for(-60)
    recording = noise.copy()
    recording[12345 : 12345 + greeting.size] += greeting
    at, rho = find(recording, greeting)
    assert at == 12345 and rho > 0.99
    at, rho = find(noise, greeting)
    assert rho < 0.2
    assert find(greeting[:100], greeting) == (-1, 0.0)


def _best_lags_lag_by_lag(
    lis: Listener, rows: np.ndarray, heard: np.ndarray, heard_energy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The definition, one lag at a time: rho over every source's window at each lag (0 for a
    quiet window or a blocked pair), the first lag of the highest positive rho."""
    best = np.zeros((rows.size, lis.sources), dtype=np.float32)
    best_lag = np.zeros((rows.size, lis.sources), dtype=np.intp)
    b = lis.b
    for lag in range(lis.max_lag + 1):
        if lis.blocks - lis.window - lag < 0:
            break
        a, e = lis._window(lag)
        energy = lis._sent_energy[:, a:e].sum(axis=1)
        loud = energy > lis._gate
        dots = heard @ lis._sent[:, a * b : e * b].T
        rho = dots / np.sqrt(np.outer(heard_energy, np.where(loud, energy, np.inf)))
        rho[rows[:, None] == lis.not_for[None, :]] = 0.0
        better = rho > best
        best = np.where(better, rho, best)
        best_lag = np.where(better, lag, best_lag)
    return best, best_lag


@pytest.mark.parametrize("ticks", [3, 5, 8, 11, 40])
def test_all_lags_in_one_product_equal_the_lag_by_lag_definition(
    speech: list[np.ndarray], ticks: int
) -> None:
    # 6 talkers (4 voices, one of them repeated 2 blocks late, one silent after a while) and
    # their echoes, 3 listeners hearing mixes; from the first ticks (lags not yet recorded) on
    lis = Listener(5, B, sources=8)
    lis.not_for[5:8] = [0, 1, 2]
    rng = np.random.default_rng(3)
    for k in range(ticks):
        sent = np.zeros((8, B), dtype=np.int16)
        for c, x in enumerate(speech):
            sent[c] = x[k * B : (k + 1) * B]
        if k >= 2:
            sent[4] = speech[0][(k - 2) * B : (k - 1) * B]
        if k > 6:
            sent[1] = 0
        sent[5:8] = (rng.standard_normal((3, B)) * 300).astype(np.int16)
        heard = np.zeros((5, B), dtype=np.int16)
        j = max(k - 3, 0)
        heard[0] = speech[0][j * B : (j + 1) * B] // 2 + speech[2][k * B : (k + 1) * B] // 2
        heard[1] = speech[1][j * B : (j + 1) * B]
        heard[2] = (rng.standard_normal(B) * 500).astype(np.int16)
        lis.push_rows(np.arange(8), sent, np.arange(5), heard)
        if lis.blocks < lis.window:
            continue
        rows = np.arange(3)
        a, e = lis._window(0)
        heard_energy = lis._heard_energy[rows, a:e].sum(axis=1)
        window = lis._heard[rows, a * lis.b : e * lis.b]
        best, best_lag = lis._best_lags(rows, window, heard_energy)
        want, want_lag = _best_lags_lag_by_lag(lis, rows, window, heard_energy)
        np.testing.assert_allclose(best, want, rtol=1e-5, atol=1e-6)
        assert ((best_lag == want_lag) | (want < 0.05)).all()
    assert lis.blocks == ticks
