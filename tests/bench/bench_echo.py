"""Line echo canceller: callbox vs speexdsp vs spandsp, side by side on the same audio.

For each of the eight G.168 Annex D echo paths (the delays, ERLs and far-end levels of
tests/dsp/test_echo.py), 10 s of espeak-ng speech go through the line; each canceller runs at
1024 taps (128 ms) and its echo attenuation (ERLE over the 1-s windows [1,2) s and [2,3) s, and
steady state over [6,10) s) is printed. Linear cancellers are compared without NLP (speexdsp has
none in its echo canceller); callbox and spandsp are also shown with their NLP.

Speed: channels per core in real time, from the best of 5 runs over the same 10 s of audio, in
CPU time of this process (the machines are shared; wall-clock time would count other jobs),
in three rounds (printed: each round's ratios, the channels per core of the median round, the
median ratios). callbox runs through its Python API (one call per 20 ms block, as the media
engine calls it), the anchors through a C loop (bench_echo_shim.c, no Python per frame; this
favours them). Also the share of one core that 120 trunk channels (four E1 spans) cost.

Debian packages: libspeexdsp-dev, libspandsp-dev (headers + libraries for the shim), a C
compiler, espeak-ng and sox (speech). Run: python3 tests/bench/bench_echo.py
"""

from __future__ import annotations

import ctypes
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "dsp")]

from test_echo import LINES, erle_windows, far_speech, line_return  # noqa: E402

from cython_ext.echo import EchoCanceller  # noqa: E402
from cython_ext.echo_paths import LineEcho  # noqa: E402

RATE = 8000
SECONDS = 10
TAPS = 1024
BLOCK = 160
ROUNDS = 3
REPEATS = 5
SPANDSP_ADAPTION, SPANDSP_NLP, SPANDSP_CNG = 0x01, 0x02, 0x04
SPANDSP_TX_HPF, SPANDSP_RX_HPF = 0x20, 0x40
SPEEX_SET_SAMPLING_RATE = 24
CHANNELS_120 = 120
libc = ctypes.CDLL(None)


def build_shim(tmp: Path) -> ctypes.CDLL:
    lib = tmp / "bench_echo_shim.so"
    subprocess.run(
        [
            "cc",
            "-O2",
            "-shared",
            "-fPIC",
            str(HERE / "bench_echo_shim.c"),
            "-o",
            str(lib),
            "-lspandsp",
            "-lspeexdsp",
        ],
        check=True,
    )
    shim = ctypes.CDLL(str(lib))
    shim.echo_can_init.restype = ctypes.c_void_p
    shim.echo_can_init.argtypes = [ctypes.c_int, ctypes.c_int]
    shim.echo_can_free.argtypes = [ctypes.c_void_p]
    shim.speex_echo_state_init.restype = ctypes.c_void_p
    shim.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    shim.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    shim.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    shim.bench_spandsp.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int]
    shim.bench_speex.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int, ctypes.c_int]
    return shim


def ours(far: np.ndarray, near: np.ndarray, nlp: bool) -> np.ndarray:
    ec = EchoCanceller(tail_ms=TAPS / 8.0, nlp=nlp, impl="compiled")
    out = np.empty_like(near)
    for i in range(0, near.size, BLOCK):
        out[i : i + BLOCK] = ec.process(far[i : i + BLOCK], near[i : i + BLOCK])
    return out


def speex(shim: ctypes.CDLL, far: np.ndarray, near: np.ndarray) -> np.ndarray:
    st = shim.speex_echo_state_init(BLOCK, TAPS)
    rate = ctypes.c_int(RATE)
    shim.speex_echo_ctl(st, SPEEX_SET_SAMPLING_RATE, ctypes.byref(rate))
    out = np.zeros_like(near)
    shim.bench_speex(st, near.ctypes.data, far.ctypes.data, out.ctypes.data, near.size, BLOCK)
    shim.speex_echo_state_destroy(st)
    return out


def spandsp(shim: ctypes.CDLL, far: np.ndarray, near: np.ndarray, nlp: bool) -> np.ndarray:
    """Debian's libspandsp2 echo canceller prints debug lines on stdout for every sample
    ("Narrowband score", "echo is"); they go to /dev/null here (and are part of its cost)."""
    mode = SPANDSP_ADAPTION | SPANDSP_TX_HPF | SPANDSP_RX_HPF
    if nlp:
        mode |= SPANDSP_NLP | SPANDSP_CNG
    ec = shim.echo_can_init(TAPS, mode)
    out = np.zeros_like(near)
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        shim.bench_spandsp(ec, far.ctypes.data, near.ctypes.data, out.ctypes.data, near.size)
        libc.fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    shim.echo_can_free(ec)
    return out


def figures(echo: np.ndarray, out: np.ndarray) -> tuple[float, float, float]:
    w = erle_windows(echo, out)
    e = echo[6 * RATE :].astype(np.float64)
    o = out[6 * RATE :].astype(np.float64)
    steady = 10 * math.log10(float(np.sum(e * e)) / max(float(np.sum(o * o)), 1e-3))
    return w[1], w[2], steady


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        shim = build_shim(Path(tmp))
        runs = {
            "callbox": lambda f, n: ours(f, n, nlp=False),
            "speexdsp": lambda f, n: speex(shim, f, n),
            "spandsp": lambda f, n: spandsp(shim, f, n, nlp=False),
            "callbox+NLP": lambda f, n: ours(f, n, nlp=True),
            "spandsp+NLP": lambda f, n: spandsp(shim, f, n, nlp=True),
        }
        print(f"Echo attenuation (dB) at 1 s / 2 s / steady state, {TAPS} taps, espeak-ng speech")
        print(f"{'line':<30}" + "".join(f"{name:>20}" for name in runs))
        table: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
        for model, delay, erl, level in LINES:
            far = far_speech(SECONDS, level)
            sent, near, echo = line_return(far, LineEcho(model, delay, erl))
            row = f"{model} {delay:>4.0f} ms {erl:>4.0f} dB {level:>5.0f} dBm0"
            for name, fn in runs.items():
                fig = figures(echo, fn(sent, near))
                table[name].append(fig)
                row += f"{fig[0]:>7.1f}{fig[1]:>6.1f}{fig[2]:>7.1f}"
            print(f"{row}")
        for label, agg in (("worst line", min), ("median line", np.median)):
            cells = []
            for n in runs:
                one, two, steady = (float(agg([f[i] for f in table[n]])) for i in range(3))
                cells.append(f"{one:>7.1f}{two:>6.1f}{steady:>7.1f}")
            print(f"{label:<30}" + "".join(cells))

        # speed: the same 10 s (line D5) for every canceller, best of 5 interleaved runs per
        # round; three rounds, the ratios of each round and their median (shared machines)
        far = far_speech(SECONDS, -20.0)
        sent, near, _ = line_return(far, LineEcho("D5", 20.0, 10.0))
        rounds: list[dict[str, float]] = []
        for _ in range(ROUNDS):
            best = {name: math.inf for name in runs}
            for _ in range(REPEATS):
                for name, fn in runs.items():
                    t0 = time.process_time()
                    fn(sent, near)
                    best[name] = min(best[name], time.process_time() - t0)
            rounds.append(best)
        pairs = (
            ("callbox/speexdsp", "callbox", "speexdsp"),
            ("callbox/spandsp", "callbox", "spandsp"),
            ("callbox+NLP/spandsp+NLP", "callbox+NLP", "spandsp+NLP"),
        )
        print(
            f"\nChannels per core in real time at {TAPS} taps ({SECONDS} s of audio, best of "
            f"{REPEATS} per round, {ROUNDS} rounds, median round by callbox/speexdsp)"
        )
        for i, best in enumerate(rounds):
            cells = ", ".join(f"{label} {best[b] / best[a]:.2f}" for label, a, b in pairs)
            print(f"  round {i + 1}: {cells}")
        order = sorted(rounds, key=lambda r: r["speexdsp"] / r["callbox"])
        median = order[len(order) // 2]
        for name in runs:
            chans = SECONDS / median[name]
            share = CHANNELS_120 / chans * 100.0
            print(
                f"  {name:<13} {chans:8.0f} channels/core   120 channels = {share:5.1f} % of a core"
            )
        for label, a, b in pairs:
            ratios = sorted(r[b] / r[a] for r in rounds)
            print(f"  median ratio {label:<24} {ratios[len(ratios) // 2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
