"""`callbox dsp cpt FILE...`: detect call-progress tones in WAV files, one JSON line per tone.

Output (a stable interface): `{"file": "<path as given>", "tone": "busy", "start_ms": 0.0}`;
tone is one of dial, ringback, busy, reorder, callwaiting, cng, ced, sit, voice. A SIT line also
carries `"sit"` (intercept, vacant, reorder, no_circuit, ineffective, reserved or unspecified)
and `"sit_code"` (the Telcordia SR-2275 code, or null). `--zone` picks the tone zone (us, uk,
de, fr, au, etsi; default us). A file that cannot be read gets one line on stderr naming it; the
others are still processed; exit status 1 if any file failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from cython_ext.wavfile import WavError, read_wav


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="callbox dsp cpt",
        description="Detect call-progress tones in 8 kHz mono WAV files.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--zone", default="us", help="tone zone: us, uk, de, fr, au, etsi")
    parser.add_argument(
        "--impl", choices=("compiled", "reference"), default=None, help="DSP implementation"
    )
    args = parser.parse_args(argv)

    from cython_ext.cpt import CallProgressDetector, CptError

    try:
        CallProgressDetector(args.zone, impl=args.impl)
    except CptError as exc:
        print(f"callbox dsp cpt: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.files:
        try:
            samples = read_wav(path)
        except WavError as exc:
            print(f"callbox dsp cpt: {exc}", file=sys.stderr)
            failed += 1
            continue
        detector = CallProgressDetector(args.zone, impl=args.impl)
        for event in detector.process(samples):
            line: dict[str, object] = {"file": path, "tone": event.tone, "start_ms": event.start_ms}
            if event.tone == "sit":
                line["sit"] = event.sit_kind
                line["sit_code"] = event.sit_code
            print(json.dumps(line))
    sys.stdout.flush()
    return 1 if failed else 0
