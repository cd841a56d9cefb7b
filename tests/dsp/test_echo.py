"""Line echo canceller (cython_ext.echo) against ITU-T G.168 with real speech and G.168 lines.

The far end is espeak-ng speech (Debian `espeak-ng`, resampled by `sox`), cached under
$CALLBOX_TEST_CACHE; the line is one of the eight hybrid echo paths of G.168 Annex D (D.2–D.9,
`cython_ext.echo_paths`) behind a pure delay of 0–64 ms at an ERL of 6–20 dB, with far-end
levels from -30 to -8 dBm0, linear or µ-law (both directions companded by `cython_ext.g711`).
Attenuation is the ERLE of 1-s windows of far-end-only activity: window "at t s" covers
[t, t+1) s after the far end starts, 10*log10(echo power / output power). On µ-law lines the
returned echo carries µ-law quantisation noise no canceller can remove (at -30 dBm0 and 20 dB
ERL the echo is at -50 dBm0, about 22 dB above its quantisation noise): there the linear
convergence targets are capped 3 dB below that floor, measured in the same window, and so is
the steady-state target with NLP (27 dB), because the comfort noise that replaces the residual
echo must have the line's noise level, which there is that quantisation noise.

Clauses (G.168 2015 numbering): 6.4.2.2 test 2 (convergence; 2A without, 2B with NLP),
6.4.2.3/4 tests 3A-3C (double talk), 6.4.2.5 test 4 (leak / divergence), 6.4.2.8 test 7
(tail and path change), 6.4.2.9 (comfort noise), G.165 3.4 / G.164 (tone disabler).

Budget: every property runs on both implementations. The compiled kernel runs each on all eight
echo paths; the pure-Python twin (about 15x slower than real time) runs each property on three
of the paths (D2, D5, D8, chosen to include the longest dispersion) and, for convergence, on
5 s instead of 10 s of speech; `test_twin_matches_compiled_on_every_path` then checks that
the twin and the kernel give the same output on all eight paths.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

from cython_ext import IMPLEMENTATIONS, g711
from cython_ext.echo import EchoCanceller, EchoCancellerError
from cython_ext.echo_paths import MODELS, LineEcho
from cython_ext.levels import level_dbm0, rms_for, sine_peak
from cython_ext.wavfile import read_wav

RATE = 8000
FAR_TEXT = (
    "Thank you for calling the service centre. All of our agents are busy helping other "
    "customers. Your call is important to us, please stay on the line and an agent will be with "
    "you shortly. You can also reach us on the web at any time of day. For billing questions "
    "press one, for technical support press two, to speak with an operator press zero. Calls may "
    "be recorded for training and quality purposes. Thank you for your patience."
)
NEAR_TEXT = (
    "Hello, yes, I am calling about my account number. I moved house last month and the bill "
    "still goes to the old address. Could you please update it and tell me when the next "
    "payment is due? I would also like to know whether the late fee can be waived this time."
)
# (model, pure delay ms, ERL dB, far-end level dBm0): every model, the corners of the ranges
LINES = [
    ("D2", 0.0, 6.0, -20.0),
    ("D3", 64.0, 20.0, -30.0),
    ("D4", 30.0, 6.0, -8.0),
    ("D5", 5.0, 12.0, -25.0),
    ("D6", 64.0, 6.0, -15.0),
    ("D7", 0.0, 20.0, -8.0),
    ("D8", 45.0, 10.0, -30.0),
    ("D9", 12.0, 6.0, -12.0),
]
TWIN_MODELS = ("D2", "D5", "D8")


def _lines(impl: str) -> list[tuple[str, float, float, float]]:
    return [line for line in LINES if impl == "compiled" or line[0] in TWIN_MODELS]


# ---------------------------------------------------------------- signals
def _cache_dir() -> Path:
    path = Path(os.environ.get("CALLBOX_TEST_CACHE", "/tmp/callbox-test-cache")) / "echo"
    path.mkdir(parents=True, exist_ok=True)
    return path


@cache
def _speech(text: str, voice: str) -> np.ndarray:
    """espeak-ng speech at 8 kHz (generated once, cached by content)."""
    for tool, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install the Debian package {package}")
    key = hashlib.sha256(f"v1|{voice}|165|{text}".encode()).hexdigest()[:16]
    path = _cache_dir() / f"speech-{key}.wav"
    if not path.exists():
        with tempfile.TemporaryDirectory() as tmp:
            raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", "165", "-w", str(raw), text], check=True
            )
            subprocess.run(
                ["sox", str(raw), "-r", "8000", "-b", "16", "-c", "1", str(out)], check=True
            )
            os.replace(out, path)
    return read_wav(path)


def _at_level(x: np.ndarray, dbm0: float) -> np.ndarray:
    """Scale speech so its active level (10-ms blocks within 40 dB of the loudest) is `dbm0`."""
    x = np.asarray(x, dtype=np.float64)
    blocks = x[: x.size // 80 * 80].reshape(-1, 80)
    power = (blocks * blocks).mean(axis=1)
    active = power > power.max() * 1e-4
    return x * (rms_for(dbm0) / math.sqrt(float(power[active].mean())))


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def far_speech(seconds: float, dbm0: float) -> np.ndarray:
    x = _speech(FAR_TEXT, "en-us")
    return _int16(_at_level(x[: int(seconds * RATE)], dbm0))


def near_speech(seconds: float, dbm0: float) -> np.ndarray:
    x = _speech(NEAR_TEXT, "en+f3")
    return _at_level(x[: int(seconds * RATE)], dbm0)


def ulaw(x: np.ndarray) -> np.ndarray:
    """What a µ-law line carries: encode and decode."""
    return g711.ulaw_to_linear(g711.linear_to_ulaw(_int16(x)))


def line_return(far: np.ndarray, line: LineEcho, *, mulaw: bool = False, extra=None):
    """(far as sent on the line, near as received, echo component alone) for one line."""
    sent = ulaw(far) if mulaw else far
    echo = line.process(sent)
    total = echo if extra is None else echo + extra
    near = ulaw(total) if mulaw else _int16(total)
    return sent, near, echo


def erle_windows(echo: np.ndarray, out: np.ndarray, start: int = 0) -> list[float]:
    """ERLE (dB) of consecutive 1-s windows from sample `start`."""
    result = []
    for pos in range(start, min(echo.size, out.size) - RATE + 1, RATE):
        e = np.asarray(echo[pos : pos + RATE], dtype=np.float64)
        o = np.asarray(out[pos : pos + RATE], dtype=np.float64)
        result.append(10.0 * math.log10(float(np.sum(e * e)) / max(float(np.sum(o * o)), 1e-3)))
    return result


def run(ec: EchoCanceller, far: np.ndarray, near: np.ndarray, block: int = 160) -> np.ndarray:
    return np.concatenate(
        [ec.process(far[i : i + block], near[i : i + block]) for i in range(0, far.size, block)]
    )


# ---------------------------------------------------------------- convergence and steady state
def _test2a_cases() -> list:
    cases = []
    for impl in IMPLEMENTATIONS:
        for line in LINES:
            if impl == "reference" and line[0] not in TWIN_MODELS:
                continue
            for mulaw in (False, True):
                label = f"{impl}-{line[0]}-{'ulaw' if mulaw else 'linear'}"
                cases.append(pytest.param(impl, line, mulaw, id=label))
    return cases


@pytest.mark.parametrize(("impl", "line", "mulaw"), _test2a_cases())
def test_g168_test2a_converges_10db_at_1s_20db_at_2s(
    impl: str, line: tuple[str, float, float, float], mulaw: bool
) -> None:
    """G.168 test 2A (NLP off): >=10 dB one second and >=20 dB two seconds after far speech
    starts, on every G.168 path, delay 0-64 ms, ERL 6-20 dB, far end -30..-8 dBm0. Both
    implementations (explicit parameters rather than `dsp_impl`, so each line is its own case)."""
    model, delay, erl, level = line
    seconds = 10.0 if impl == "compiled" else 5.0
    far = far_speech(seconds, level)
    sent, near, echo = line_return(far, LineEcho(model, delay, erl), mulaw=mulaw)
    out = run(EchoCanceller(nlp=False, impl=impl), sent, near)
    erle = erle_windows(echo, out)
    # on a µ-law line the quantisation noise of the returned echo is part of the output
    # that no canceller can remove: the target is capped 3 dB below that floor
    floor = erle_windows(echo, near - echo) if mulaw else [math.inf] * len(erle)
    label = f"{model} delay {delay} ms ERL {erl} dB {level} dBm0 {'ulaw' if mulaw else ''}"
    for t, target in ((1, 10.0), (2, 20.0)):
        want = min(target, floor[t] - 3.0)
        assert erle[t] >= want, f"{label}: {erle[t]:.1f} dB after {t} s ({erle}, {floor})"


def test_g168_test2a_second_talker_converges_10db_at_1s_20db_at_2s(dsp_impl: str) -> None:
    """G.168 test 2A again with another talker as the far end (the female en+f3 voice of the
    near-end text), so the step and gain constants are not fitted to one voice: every path (the
    twin: D2, D5, D8), linear and µ-law, >=10 dB at 1 s and >=20 dB at 2 s (µ-law: capped 3 dB
    below the quantisation floor of the same window)."""
    for model, delay, erl, level in _lines(dsp_impl):
        far = _int16(near_speech(4.0, level))
        for mulaw in (False, True):
            sent, near, echo = line_return(far, LineEcho(model, delay, erl), mulaw=mulaw)
            out = run(EchoCanceller(nlp=False, impl=dsp_impl), sent, near)
            erle = erle_windows(echo, out)
            floor = erle_windows(echo, near - echo) if mulaw else [math.inf] * len(erle)
            label = f"{model} {delay} ms ERL {erl} dB {level} dBm0 {'ulaw' if mulaw else ''}"
            for t, target in ((1, 10.0), (2, 20.0)):
                want = min(target, floor[t] - 3.0)
                assert erle[t] >= want, f"{label}: {erle[t]:.1f} dB after {t} s ({erle})"


@pytest.mark.parametrize("mulaw", [False, True], ids=["linear", "ulaw"])
def test_g168_test2b_steady_state_27db_with_nlp(dsp_impl: str, mulaw: bool) -> None:
    """G.168 test 2B: with the NLP, >=27 dB of echo attenuation in steady state (every 1-s
    window from 4 s to 8 s), on every path, both line codings."""
    for model, delay, erl, level in _lines(dsp_impl):
        far = far_speech(8.0, level)
        sent, near, echo = line_return(far, LineEcho(model, delay, erl), mulaw=mulaw)
        ec = EchoCanceller(impl=dsp_impl)
        out = run(ec, sent, near)
        erle = erle_windows(echo, out)
        # on a µ-law line the comfort noise that replaces the residual has the level of the
        # line's noise, the µ-law quantisation noise: the target is capped 3 dB below it
        floor = erle_windows(echo, near - echo) if mulaw else [math.inf] * len(erle)
        for t in range(4, 8):
            want = min(27.0, floor[t] - 3.0)
            assert erle[t] >= want, f"{model} {delay} ms {erl} dB {level} dBm0: {erle} {floor}"
        assert ec.converged and ec.erle_db >= 10.0


# ---------------------------------------------------------------- double talk
def test_g168_test3_double_talk_near_end_passes_and_no_divergence(dsp_impl: str) -> None:
    """G.168 tests 3B/3C: converged for 5 s, then 4 s of near-end speech over the far end.
    With the NLP the near end passes within +/-3 dB and >=15 dB above what is left of the echo;
    without it, the canceller's attenuation in the 2 s after double talk is within 6 dB of the
    steady state before it (no divergence)."""
    seconds, dt_start, dt_end = 11.0, 5 * RATE, 9 * RATE
    for model, delay, erl, _ in _lines(dsp_impl):
        far = far_speech(seconds, -20.0)
        talk = np.zeros(far.size)
        talk[dt_start:dt_end] = near_speech((dt_end - dt_start) / RATE, -20.0)
        line = LineEcho(model, delay, erl)
        sent, near, echo = line_return(far, line, extra=talk)
        out = run(EchoCanceller(impl=dsp_impl), sent, near).astype(np.float64)
        seg = slice(dt_start, dt_end)
        passed = level_dbm0(out[seg]) - level_dbm0(talk[seg])
        residual = out[seg] - talk[seg]
        margin = level_dbm0(talk[seg]) - level_dbm0(residual)
        label = f"{model} {delay} ms ERL {erl} dB"
        assert abs(passed) <= 3.0, f"{label}: near end changed by {passed:.1f} dB"
        assert margin >= 15.0, f"{label}: near end only {margin:.1f} dB above the residual"
        # the same line without NLP: attenuation before and after double talk
        line = LineEcho(model, delay, erl)
        sent, near, echo = line_return(far, line, extra=talk)
        lin = run(EchoCanceller(nlp=False, impl=dsp_impl), sent, near)
        before = erle_windows(echo, lin, 3 * RATE)[:2]
        after = erle_windows(echo, lin, dt_end)[:2]
        steady = min(before)
        assert min(after) >= steady - 6.0, f"{label}: {before} before, {after} after"


def test_g168_test3_double_talk_detected(dsp_impl: str) -> None:
    """The `double_talk` flag is raised while both ends talk and not during far-only speech."""
    far = far_speech(8.0, -20.0)
    talk = np.zeros(far.size)
    talk[5 * RATE :] = near_speech(3.0, -15.0)
    sent, near, _ = line_return(far, LineEcho("D4", 10.0, 10.0), extra=talk)
    ec = EchoCanceller(impl=dsp_impl)
    flags = [
        (ec.process(sent[i : i + 160], near[i : i + 160]), ec.double_talk)[1]
        for i in range(0, far.size, 160)
    ]
    per_block = np.array(flags)
    blocks = RATE // 160
    assert per_block[3 * blocks : 5 * blocks].mean() < 0.1
    assert per_block[5 * blocks :].mean() > 0.3


# ---------------------------------------------------------------- echo path change
def test_g168_test7_echo_path_change_reconverges_15db_within_2s(dsp_impl: str) -> None:
    """G.168 echo path change: after 5 s on one path the line switches to another model, delay
    and ERL; the window "at 2 s" ([2 s, 3 s), as in the convergence tests) after the change
    shows >=15 dB again (NLP off)."""
    models = list(MODELS) if dsp_impl == "compiled" else ["D2", "D5", "D8"]
    for i, model in enumerate(models):
        other = MODELS[(MODELS.index(model) + 3) % len(MODELS)]
        far = far_speech(8.0, -18.0)
        line = LineEcho(model, 8.0 * i, 8.0)
        ec = EchoCanceller(nlp=False, impl=dsp_impl)
        sent1, near1, echo1 = line_return(far[: 5 * RATE], line)
        out1 = run(ec, sent1, near1)
        line.change(other, 64.0 - 8.0 * i, 12.0)
        sent2, near2, echo2 = line_return(far[5 * RATE :], line)
        out2 = run(ec, sent2, near2)
        before = erle_windows(echo1, out1)[-1]
        after = erle_windows(echo2, out2)
        label = f"{model} -> {other}"
        assert before >= 20.0, f"{label}: not converged before the change ({before:.1f} dB)"
        assert after[2] >= 15.0, f"{label}: {after} after the change"


# ---------------------------------------------------------------- no far end, NLP, CNG, HPF
def test_g168_no_far_end_near_end_untouched(dsp_impl: str) -> None:
    """With no far-end signal the near end passes untouched: bit for bit without the high-pass,
    exactly the documented first-order high-pass with it."""
    talk = _int16(near_speech(4.0, -15.0))
    silent = np.zeros_like(talk)
    out = run(EchoCanceller(highpass=False, impl=dsp_impl), silent, talk)
    assert np.array_equal(out, talk)
    out = run(EchoCanceller(impl=dsp_impl), silent, talk)
    pole = 0.985
    expected = lfilter([(1 + pole) / 2, -(1 + pole) / 2], [1.0, -pole], talk.astype(np.float64))
    assert np.max(np.abs(out - expected)) <= 0.5 + 1e-9
    assert abs(level_dbm0(out) - level_dbm0(talk)) < 0.2


def test_g168_comfort_noise_matches_line_noise_never_silence(dsp_impl: str) -> None:
    """G.168 6.4.2.9: while the NLP suppresses residual echo the caller hears comfort noise at
    the line's background noise level (+/-3 dB), never digital silence; with comfort noise off
    the output is suppressed well below the noise."""
    rng = np.random.default_rng(7)
    noise_dbm0 = -55.0
    far = far_speech(8.0, -12.0)
    noise = rng.standard_normal(far.size) * rms_for(noise_dbm0)
    for cng in (True, False):
        sent, near, echo = line_return(far, LineEcho("D5", 20.0, 6.0), extra=noise)
        ec = EchoCanceller(comfort_noise=cng, impl=dsp_impl)
        active = []
        out = np.empty(far.size, dtype=np.int16)
        for i in range(0, far.size, 80):
            out[i : i + 80] = ec.process(sent[i : i + 80], near[i : i + 80])
            active.append(ec.nlp_active)
        mask = np.repeat(np.array(active), 80)[: far.size]
        mask[: 4 * RATE] = False  # steady state only
        assert mask.sum() > RATE, "NLP hardly ever engaged"
        level = level_dbm0(out[mask])
        if cng:
            assert abs(level - noise_dbm0) <= 3.0, f"comfort noise at {level:.1f} dBm0"
            blocks = out[4 * RATE :].reshape(-1, 80)
            assert np.all(np.any(blocks != 0, axis=1)), "digital silence in the output"
        else:
            assert level < noise_dbm0 - 10.0, f"suppressed output at {level:.1f} dBm0"


def test_highpass_removes_dc_offset(dsp_impl: str) -> None:
    """The DC/high-pass filter removes a DC offset on the line (and lets speech through)."""
    talk = near_speech(3.0, -20.0)
    near = _int16(talk + 2000.0)
    out = run(EchoCanceller(impl=dsp_impl), np.zeros_like(near), near).astype(np.float64)
    assert abs(out[RATE:].mean()) < 5.0
    assert abs(level_dbm0(out[RATE:]) - level_dbm0(talk[RATE:])) < 0.5
    out = run(EchoCanceller(highpass=False, impl=dsp_impl), np.zeros_like(near), near)
    assert abs(out.astype(np.float64).mean() - (2000.0 + talk.mean())) < 1.0


# ---------------------------------------------------------------- tone disabler
def _answer_tone(seconds: float, dbm0: float, reversals: bool, freq: float = 2100.0):
    n = np.arange(int(seconds * RATE))
    phase = np.where((n // int(0.45 * RATE)) % 2 == 1, np.pi, 0.0) if reversals else 0.0
    return _int16(sine_peak(dbm0) * np.sin(2 * np.pi * freq * n / RATE + phase))


@pytest.mark.parametrize("direction", ["near", "far"])
def test_g165_2100hz_with_phase_reversals_disables_and_quiet_reenables(
    dsp_impl: str, direction: str
) -> None:
    """G.165 3.4: 2100 Hz with phase reversals every 450 ms (V.25 ANSam/ANS, here at -12 and
    -30 dBm0, 2100 +/- 15 Hz) disables the canceller within 1 s of the first reversal; the
    output is then the near end untouched; 250 ms of quiet (< -36 dBm0) re-enables it."""
    for dbm0, freq in ((-12.0, 2100.0), (-30.0, 2085.0), (-20.0, 2115.0)):
        tone = _answer_tone(2.0, dbm0, reversals=True, freq=freq)
        quiet = np.zeros(int(0.5 * RATE), dtype=np.int16)
        sig = np.concatenate([tone, quiet])
        other = np.zeros_like(sig)
        far, near = (other, sig) if direction == "near" else (sig, other)
        ec = EchoCanceller(impl=dsp_impl)
        state = []
        outs = []
        for i in range(0, sig.size, 40):
            outs.append(ec.process(far[i : i + 40], near[i : i + 40]))
            state.append(ec.disabled)
        disabled = np.repeat(np.array(state), 40)
        first = int(np.argmax(disabled))
        assert disabled.any(), f"{dbm0} dBm0 {freq} Hz: never disabled"
        assert first <= int(1.45 * RATE), f"disabled only at {first / RATE:.2f} s"
        out = np.concatenate(outs)
        assert np.array_equal(out[first + 40 : tone.size], near[first + 40 : tone.size])
        assert disabled[tone.size + int(0.1 * RATE)], "re-enabled too early"
        assert not disabled[-1], "not re-enabled after 250 ms of quiet"


def test_g164_2100hz_without_reversals_and_speech_do_not_disable(dsp_impl: str) -> None:
    """A 2100 Hz tone without phase reversals (G.164 fax / echo suppressor disabling) and
    ordinary speech in both directions leave the canceller enabled."""
    tone = _answer_tone(3.0, -12.0, reversals=False)
    ec = EchoCanceller(impl=dsp_impl)
    run(ec, np.zeros_like(tone), tone)
    assert not ec.disabled
    far = far_speech(6.0, -8.0)
    talk = _int16(near_speech(6.0, -8.0))
    ec = EchoCanceller(impl=dsp_impl)
    run(ec, far, talk)
    assert not ec.disabled


# ---------------------------------------------------------------- kernel contract
def test_blocks_of_1_7_160_8000_give_the_same_output(dsp_impl: str) -> None:
    """Kernel rule: the result does not depend on how the signal is cut into blocks."""
    far = far_speech(2.0, -15.0)
    talk = np.zeros(far.size)
    talk[RATE:] = near_speech(1.0, -20.0)
    sent, near, _ = line_return(far, LineEcho("D7", 20.0, 6.0), extra=talk)
    outputs = [run(EchoCanceller(impl=dsp_impl), sent, near, block) for block in (1, 7, 160, 8000)]
    for out in outputs[1:]:
        assert np.array_equal(out, outputs[0])


def test_twin_matches_compiled_on_every_path() -> None:
    """The reference twin and the compiled kernel compute the same canceller (every path,
    2 s of speech, NLP on): outputs agree within 1 LSB on at least 99.9 % of samples."""
    for model, delay, erl, level in LINES:
        far = far_speech(2.0, level)
        sent, near, _ = line_return(far, LineEcho(model, delay, erl))
        a = run(EchoCanceller(impl="compiled"), sent, near, 8000).astype(np.int32)
        b = run(EchoCanceller(impl="reference"), sent, near, 8000).astype(np.int32)
        assert np.mean(np.abs(a - b) <= 1) >= 0.999, model


def test_bad_blocks_raise_clear_errors_and_are_counted(dsp_impl: str) -> None:
    ec = EchoCanceller(impl=dsp_impl)
    with pytest.raises(EchoCancellerError, match="differ in length"):
        ec.process(np.zeros(160, np.int16), np.zeros(80, np.int16))
    with pytest.raises(EchoCancellerError, match="int16"):
        ec.process(np.zeros(160), np.zeros(160, np.int16))
    with pytest.raises(EchoCancellerError, match="1-D"):
        ec.process(np.zeros((2, 80), np.int16), np.zeros((2, 80), np.int16))
    with pytest.raises(EchoCancellerError, match="16-bit"):
        ec.process(np.full(4, 40000), np.zeros(4, np.int16))
    assert ec.blocks_rejected == 4
    assert ec.process(np.zeros(0, np.int16), np.zeros(0, np.int16)).size == 0
    with pytest.raises(EchoCancellerError, match="tail_ms"):
        EchoCanceller(tail_ms=4.0, impl=dsp_impl)
    assert EchoCanceller(tail_ms=100.0, impl=dsp_impl).taps == 832


def test_reset_forgets_the_echo_path(dsp_impl: str) -> None:
    far = far_speech(3.0, -15.0)
    sent, near, echo = line_return(far, LineEcho("D3", 0.0, 6.0))
    ec = EchoCanceller(nlp=False, impl=dsp_impl)
    first = run(ec, sent, near)
    ec.reset()
    assert not ec.converged and np.all(ec.impulse_response() == 0.0)
    assert np.array_equal(run(ec, sent, near), first)


# ---------------------------------------------------------------- G.168 Annex D line models
def test_g168_annex_d_paths_delay_and_speech_erl() -> None:
    """echo_path(): the model sits behind the pure delay (0-64 ms), and espeak-ng speech sees
    the nominal ERL (6, 10 and 20 dB) within 2 dB on all eight models; out-of-range asks fail."""
    from cython_ext.echo_paths import EchoPathError, echo_path, speech_erl_db

    speech = far_speech(10.0, -15.0)
    for model in MODELS:
        for delay_ms, erl in ((0.0, 6.0), (64.0, 20.0), (12.5, 10.0)):
            h = echo_path(model, delay_ms, erl)
            delay = int(round(delay_ms * RATE / 1000))
            assert np.all(h[:delay] == 0.0) and h[delay] != 0.0
            assert abs(speech_erl_db(h, speech) - erl) <= 2.0, (model, delay_ms, erl)
    for bad in ({"delay_ms": 65.0}, {"erl_db": 5.0}, {"erl_db": 21.0}, {"model": "D1"}):
        with pytest.raises(EchoPathError):
            echo_path(**{"model": "D2", "delay_ms": 0.0, "erl_db": 6.0, **bad})


def test_line_echo_blockwise_equals_convolution_and_change_keeps_history() -> None:
    from cython_ext.echo_paths import echo_path

    x = far_speech(2.0, -10.0).astype(np.float64)
    line = LineEcho("D9", 40.0, 8.0)
    pieces, pos = [], 0
    for size in (1, 7, 160, 8000, 1832):
        pieces.append(line.process(x[pos : pos + size]))
        pos += size
    full = np.convolve(x, echo_path("D9", 40.0, 8.0))[: x.size]
    assert np.allclose(np.concatenate(pieces), full[:pos], atol=1e-9)
    line.change("D2", 0.0, 6.0)
    after = line.process(x[pos:])
    expected = np.convolve(x, echo_path("D2", 0.0, 6.0))[pos : x.size]
    assert np.allclose(after, expected, atol=1e-9)
