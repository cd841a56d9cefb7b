"""`callbox dsp callerid FILE...`: decode caller ID in WAV files, one JSON line per file.

Output (a stable interface), for the first valid message of each file:
`{"file": "<path as given>", "number": "6175551234", "name": "SMITH JOHN", "datetime": "11221430",
"number_absent": null, "name_absent": null}` — null for a field not sent, "O" or "P" for the
absence codes. Bell 202, V.23 and DTMF caller ID are recognised (`--standard` to hold one).

A file that cannot be read, or that holds no valid caller-ID message, gets one line on stderr
naming it (with the number of rejected messages, e.g. bad checksums); the other files are still
processed; the exit status is 1 if any file failed either way, so a script can tell.
"""

from __future__ import annotations

import argparse
import json
import sys

from cython_ext.wavfile import WavError, read_wav


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="callbox dsp callerid",
        description="Decode caller ID (Bell 202, V.23 or DTMF) in 8 kHz mono WAV files.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--standard",
        choices=("auto", "bell202", "v23", "dtmf"),
        default="auto",
        help="caller ID standard to listen for (default: auto)",
    )
    parser.add_argument(
        "--impl", choices=("compiled", "reference"), default=None, help="DSP implementation"
    )
    args = parser.parse_args(argv)

    from cython_ext.callerid import CallerIdReceiver

    failed = 0
    for path in args.files:
        try:
            samples = read_wav(path)
        except WavError as exc:
            print(f"callbox dsp callerid: {exc}", file=sys.stderr)
            failed += 1
            continue
        rx = CallerIdReceiver(impl=args.impl, standard=args.standard)
        messages = rx.process(samples)
        if not messages:
            print(
                f"callbox dsp callerid: {path}: no valid caller ID message ({rx.errors} rejected)",
                file=sys.stderr,
            )
            failed += 1
            continue
        print(json.dumps({"file": path, **messages[0].fields()}))
    sys.stdout.flush()
    return 1 if failed else 0
