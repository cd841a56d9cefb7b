"""`callbox dsp dtmf FILE...`: detect DTMF digits in WAV files, one JSON line per digit.

Output (a stable interface): `{"file": "<path as given>", "digit": "5", "start_ms": 312.5,
"end_ms": 370.0}`. Input: 8 kHz mono WAV, 16-bit linear, µ-law or A-law. A file that cannot be
read gets one line on stderr naming it; the others are still processed; exit status 1 if any
file failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from cython_ext.wavfile import WavError, read_wav

log = logging.getLogger(__name__)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="callbox dsp dtmf",
        description="Detect DTMF digits in 8 kHz mono WAV files (linear, µ-law or A-law).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--impl", choices=("compiled", "reference"), default=None, help="DSP implementation"
    )
    args = parser.parse_args(argv)

    from cython_ext.dtmf import DtmfDetector

    failed = 0
    for path in args.files:
        try:
            samples = read_wav(path)
        except WavError as exc:
            print(f"callbox dsp dtmf: {exc}", file=sys.stderr)
            failed += 1
            continue
        det = DtmfDetector(impl=args.impl)
        for d in det.process(samples) + det.flush():
            line = {"file": path, "digit": d.digit, "start_ms": d.start_ms, "end_ms": d.end_ms}
            print(json.dumps(line), flush=False)
    sys.stdout.flush()
    return 1 if failed else 0
