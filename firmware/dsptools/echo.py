"""`callbox dsp echo --far FAR.wav --near NEAR.wav --out OUT.wav [--tail-ms 128]`: cancel echo.

FAR is what the box sent to the line, NEAR what came back from it; OUT is NEAR with the echo of
FAR cancelled, the same length as NEAR, sample-aligned with it, in NEAR's encoding (linear,
µ-law or A-law). A FAR shorter than NEAR is padded with silence, a longer one cut.

Stderr gets one line per second of audio so a technician can watch convergence (a stable
format): `echo: second 3: attenuation 24.1 dB (near -32.0 dBm0, out -56.1 dBm0, far -14.2 dBm0)`,
with `attenuation -` when the far end was silent (below -45 dBm0) in that second, then a summary
line `echo: converged yes, ERLE 31.2 dB, disabled no`. Exit status: 0, 1 when a file cannot be
read or written (one line on stderr naming it), 2 for bad options.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

import numpy as np

from cython_ext.levels import level_dbm0
from cython_ext.wavfile import WavError, read_wav_info, write_wav

log = logging.getLogger(__name__)
RATE = 8000
FAR_SILENT_DBM0 = -45.0
BLOCK = 160  # the media engine's 20 ms tick


def _fmt(dbm0: float) -> str:
    return f"{dbm0:.1f}" if math.isfinite(dbm0) else "-inf"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="callbox dsp echo",
        description="Cancel line echo: OUT = NEAR minus the echo of FAR (8 kHz mono WAV).",
    )
    parser.add_argument("--far", required=True, metavar="FAR.wav", help="what the box sent")
    parser.add_argument("--near", required=True, metavar="NEAR.wav", help="what came back")
    parser.add_argument("--out", required=True, metavar="OUT.wav", help="cancelled near end")
    parser.add_argument("--tail-ms", type=float, default=128.0, help="echo tail (default 128)")
    parser.add_argument("--no-nlp", action="store_true", help="linear canceller only")
    parser.add_argument(
        "--impl", choices=("compiled", "reference"), default=None, help="DSP implementation"
    )
    args = parser.parse_args(argv)

    from cython_ext.echo import EchoCanceller, EchoCancellerError

    try:
        far, _ = read_wav_info(args.far)
        near, info = read_wav_info(args.near)
    except WavError as exc:
        print(f"callbox dsp echo: {exc}", file=sys.stderr)
        return 1
    try:
        ec = EchoCanceller(tail_ms=args.tail_ms, nlp=not args.no_nlp, impl=args.impl)
    except EchoCancellerError as exc:
        print(f"callbox dsp echo: {exc}", file=sys.stderr)
        return 2
    if far.size < near.size:
        far = np.concatenate([far, np.zeros(near.size - far.size, dtype=np.int16)])
    far = far[: near.size]
    out = np.empty_like(near)
    for pos in range(0, near.size, BLOCK):
        out[pos : pos + BLOCK] = ec.process(far[pos : pos + BLOCK], near[pos : pos + BLOCK])
    for second, pos in enumerate(range(0, near.size, RATE)):
        sl = slice(pos, pos + RATE)
        near_l, out_l, far_l = level_dbm0(near[sl]), level_dbm0(out[sl]), level_dbm0(far[sl])
        if far_l < FAR_SILENT_DBM0 or not math.isfinite(near_l):
            att = "-"
        elif not math.isfinite(out_l):
            att = "inf dB"
        else:
            att = f"{near_l - out_l:.1f} dB"
        print(
            f"echo: second {second}: attenuation {att} (near {_fmt(near_l)} dBm0, "
            f"out {_fmt(out_l)} dBm0, far {_fmt(far_l)} dBm0)",
            file=sys.stderr,
        )
    print(
        f"echo: converged {'yes' if ec.converged else 'no'}, ERLE {ec.erle_db:.1f} dB, "
        f"disabled {'yes' if ec.disabled else 'no'}",
        file=sys.stderr,
    )
    try:
        write_wav(args.out, out, encoding=info.encoding)
    except (OSError, WavError) as exc:
        print(f"callbox dsp echo: {args.out}: cannot write: {exc}", file=sys.stderr)
        return 1
    return 0
