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
