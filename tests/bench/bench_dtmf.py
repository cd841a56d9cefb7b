"""DTMF receiver benchmark: callbox (compiled and reference twin) against spandsp's dtmf_rx.

Speed: channels per core in real time (seconds of audio per CPU second) on the same audio, in
one run: (a) a call-centre channel: speech with a digit every 2 s, (b) back-to-back digits
(60 ms on / 60 ms off: the receiver's busiest case). spandsp runs in a small C program built here
with gcc against Debian's libspandsp (tests/bench/spandsp_dtmf_rx_bench.c, 160-sample blocks, no
Python in its loop); ours runs (1) in one call and (2) fed 160-sample blocks from Python, as the
media engine does. Floor: ours at least as fast as spandsp.

Then the hard cases from issue 3 (both tones 1.5 % off, the twist edges, a 10 ms drop-out, ...):
what each receiver reports for all 16 digits.

Run: python3 tests/bench/bench_dtmf.py   (needs gcc, libspandsp-dev, espeak-ng, sox)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "dsp")]

import corpus  # noqa: E402
import spandsp_dtmf  # noqa: E402

from cython_ext import dtmf  # noqa: E402
from cython_ext.levels import rms_for, sine_peak  # noqa: E402

RATE = 8000
KEYS = dtmf.DTMF_KEYS


def build_shim(tmp: Path) -> Path:
    exe = tmp / "spandsp_dtmf_rx_bench"
    src = HERE / "spandsp_dtmf_rx_bench.c"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(src), "-lspandsp", "-lm"], check=True)
    return exe


def spandsp_speed(exe: Path, x: np.ndarray, tmp: Path) -> tuple[float, int]:
    raw = tmp / "audio.raw"
    x.astype("<i2").tofile(raw)
    repeats = 1
    while True:
        out = subprocess.run(
            [str(exe), str(raw), "160", str(repeats)], capture_output=True, text=True, check=True
        )
        cpu, _, digits = out.stdout.strip().partition(" ")
        if float(cpu) > 0.5 or repeats >= 1 << 12:
            return repeats * len(x) / RATE / float(cpu), int(digits)
        repeats *= 4


def spandsp_ctypes_speed(x: np.ndarray, block: int = 160) -> float:
    """spandsp driven from Python through ctypes, one call per block (like our 160-block row)."""
    sp = spandsp_dtmf.lib()
    repeats, spent = 0, 0.0
    x = np.ascontiguousarray(x, dtype=np.int16)
    while spent < 0.5:
        s = sp.dtmf_rx_init(None, None, None)
        t0 = time.process_time()
        for i in range(0, len(x), block):
            part = x[i : i + block]
            sp.dtmf_rx(s, part.ctypes.data, len(part))
        spent += time.process_time() - t0
        sp.dtmf_rx_free(s)
        repeats += 1
    return repeats * len(x) / RATE / spent


def ours_speed(x: np.ndarray, impl: str, block: int | None) -> tuple[float, str]:
    repeats, spent, digits = 0, 0.0, ""
    while spent < 0.5:
        det = dtmf.DtmfDetector(impl=impl)
        t0 = time.process_time()
        if block is None:
            got = det.process(x)
        else:
            got = []
            for i in range(0, len(x), block):
                got += det.process(x[i : i + block])
        got += det.flush()
        spent += time.process_time() - t0
        repeats += 1
        digits = "".join(d.digit for d in got)
        if impl == "reference":
            break
    return repeats * len(x) / RATE / spent, digits


def pair(
    d: str,
    ms: float,
    level: float = -10.0,
    twist: float = 0.0,
    dl: float = 0.0,
    dh: float = 0.0,
    phase: float = 0.3,
) -> np.ndarray:
    k = KEYS.index(d)
    n = np.arange(int(round(ms * RATE / 1000)))
    return sine_peak(level) * np.sin(
        2 * np.pi * dtmf.LOW_FREQS[k // 4] * (1 + dl) * n / RATE + phase
    ) + sine_peak(level + twist) * np.sin(
        2 * np.pi * dtmf.HIGH_FREQS[k % 4] * (1 + dh) * n / RATE + 2 * phase
    )


def sil(ms: float) -> np.ndarray:
    return np.zeros(int(round(ms * RATE / 1000)))


def pcm(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def call_centre_audio(seconds: int) -> np.ndarray:
    x = corpus.speech_corpus(1200)[: seconds * RATE].astype(np.float64)
    for i in range(1, seconds // 2):
        at = i * 2 * RATE
        x[at - 200 : at + 600] = 0.0
        x[at : at + 480] = pair(KEYS[i % 16], 60, level=-12.0)
    return pcm(x)


CASES: list[tuple[str, str, object]] = [
    ("nominal 50 ms, -10 dBm0", "1", lambda d, i: [sil(30), pair(d, 50), sil(80)]),
    ("both tones +1.5 %", "1", lambda d, i: [sil(30), pair(d, 60, dl=0.015, dh=0.015), sil(80)]),
    ("both tones -1.5 %", "1", lambda d, i: [sil(30), pair(d, 60, dl=-0.015, dh=-0.015), sil(80)]),
    (
        "low +1.5 %, high -1.5 %",
        "1",
        lambda d, i: [sil(30), pair(d, 60, dl=0.015, dh=-0.015), sil(80)],
    ),
    ("one tone +3.5 % (reject)", "0", lambda d, i: [sil(30), pair(d, 60, dh=0.035), sil(80)]),
    ("twist: high 4 dB above low", "1", lambda d, i: [sil(30), pair(d, 60, twist=4.0), sil(80)]),
    ("twist: low 8 dB above high", "1", lambda d, i: [sil(30), pair(d, 60, twist=-8.0), sil(80)]),
    (
        "10 ms drop-out inside (1 digit)",
        "1",
        lambda d, i: [sil(30), pair(d, 50), sil(10), pair(d, 50), sil(80)],
    ),
    (
        "40 ms gap between two (2 digits)",
        "2",
        lambda d, i: [sil(30), pair(d, 40), sil(40), pair(d, 40), sil(80)],
    ),
    ("40 ms tone", "1", lambda d, i: [sil(30), pair(d, 40), sil(80)]),
    ("23 ms tone (reject)", "0", lambda d, i: [sil(30), pair(d, 23, level=-4.0), sil(80)]),
    ("-30 dBm0 per tone", "1", lambda d, i: [sil(30), pair(d, 50, level=-30.0), sil(80)]),
    ("-55 dBm0 per tone (ignore)", "0", lambda d, i: [sil(30), pair(d, 50, level=-55.0), sil(80)]),
]


def noisy_case(snr: float):  # type: ignore[no-untyped-def]
    def make(d: str, i: int) -> list[np.ndarray]:
        rng = np.random.default_rng(i)
        x = np.concatenate([sil(30), pair(d, 50, level=-15.0, phase=i), sil(80)])
        return [x + rng.normal(0, rms_for(-15.0 + 3.01 - snr), len(x))]

    return make


CASES += [("15 dB SNR", "1", noisy_case(15.0)), ("10 dB SNR", "1", noisy_case(10.0))]


def hard_cases() -> None:
    print("\nHard cases (issue 3), all 16 digits each; 'ok' = digits reported as expected")
    print(f"{'case':36s} {'callbox':>9s} {'spandsp':>9s}   spandsp reported (first digits)")
    for name, expect, make in CASES:
        ok_ours = ok_sp = 0
        sp_seen = []
        for i, d in enumerate(KEYS):
            x = pcm(np.concatenate(make(d, i)))  # type: ignore[operator]
            det = dtmf.DtmfDetector()
            ours = "".join(g.digit for g in det.process(x) + det.flush())
            sp = "".join(e[0] for e in spandsp_dtmf.spandsp_detect(x))
            want = d * int(expect)
            ok_ours += ours == want
            ok_sp += sp == want
            sp_seen.append(sp or "-")
        print(f"{name:36s} {ok_ours:>6d}/16 {ok_sp:>6d}/16   {' '.join(sp_seen[:8])}")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        exe = build_shim(tmp)
        audio = {
            "call-centre channel (speech, a digit every 2 s), 120 s": call_centre_audio(120),
            "back-to-back digits (60/60 ms), 57.6 s": pcm(
                np.tile(dtmf.dtmf_signal(KEYS, -15.0, 0.0, 60, 60), 30)
            ),
        }
        print("DTMF receiver speed: channels per core in real time (audio s / CPU s)")
        for name, x in audio.items():
            sp, sp_digits = spandsp_speed(exe, x, tmp)
            whole, d1 = ours_speed(x, "compiled", None)
            blocks, d2 = ours_speed(x, "compiled", 160)
            ref, d3 = ours_speed(x[: 20 * RATE], "reference", None)
            sp_py = spandsp_ctypes_speed(x)
            print(f"\n{name}")
            print(f"  spandsp dtmf_rx (C loop, 160-sample blocks) {sp:10.0f}   digits {sp_digits}")
            print(
                f"  callbox compiled, one call                  {whole:10.0f}   digits {len(d1)}"
                f"   ratio {whole / sp:.2f}x spandsp"
            )
            print(
                f"  callbox compiled, 160-sample blocks (Python){blocks:10.0f}   digits {len(d2)}"
                f"   ratio {blocks / sp:.2f}x spandsp"
            )
            print(
                f"  spandsp via ctypes, 160-sample blocks       {sp_py:10.0f}"
                f"   ours/spandsp in 160-sample blocks from Python: {blocks / sp_py:.2f}x"
            )
            print(
                f"  callbox reference twin (first 20 s)         {ref:10.0f}   digits {len(d3)}"
                f"   ratio {ref / sp:.4f}x spandsp"
            )
    hard_cases()


if __name__ == "__main__":
    main()
