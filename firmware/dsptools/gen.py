"""`callbox dsp gen dtmf|tone|callerid … -o FILE.wav`: write test signals as 8 kHz mono WAV.

- `gen dtmf DIGITS [--level DBM0] [--twist DB] [--on-ms MS] [--off-ms MS]`
- `gen tone --zone ZONE --tone dial|ringback|busy|reorder|congestion|callwaiting|sit|beep
  [--seconds S]`
- `gen callerid [--number N] [--name NAME] [--datetime MMDDHHMM] [--standard bell202|v23|dtmf]
  [--format mdmf|sdmf] [--number-absent O|P] [--name-absent O|P] [--level DBM0]`
  (the caller ID sender lives in `cython_ext.callerid`)

Every subcommand takes `-o FILE.wav` and `--encoding linear|ulaw|alaw` (default linear).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from cython_ext.wavfile import write_wav

PROG = "callbox dsp gen"


class GenError(Exception):
    """A signal that cannot be generated; the message says why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Write test signals as WAV files.")
    sub = parser.add_subparsers(dest="kind", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--output", required=True, metavar="FILE.wav")
        p.add_argument("--encoding", choices=("linear", "ulaw", "alaw"), default="linear")
        p.add_argument("--impl", choices=("compiled", "reference"), default=None)

    d = sub.add_parser("dtmf", prog=f"{PROG} dtmf", help="DTMF digits")
    d.add_argument("digits", metavar="DIGITS")
    d.add_argument("--level", type=float, default=-10.0, help="low-group tone level, dBm0")
    d.add_argument("--twist", type=float, default=0.0, help="high-group tone minus low, dB")
    d.add_argument("--on-ms", type=float, default=80.0)
    d.add_argument("--off-ms", type=float, default=80.0)
    common(d)

    t = sub.add_parser("tone", prog=f"{PROG} tone", help="call-progress tone of a zone")
    t.add_argument("--zone", default="us")
    t.add_argument("--tone", required=True)
    t.add_argument("--seconds", type=float, default=None, help="default: one cadence or 4 s")
    common(t)

    c = sub.add_parser("callerid", prog=f"{PROG} callerid", help="on-hook caller ID burst")
    c.add_argument("--number")
    c.add_argument("--name")
    c.add_argument("--datetime", help="MMDDHHMM")
    c.add_argument("--number-absent", choices=("O", "P"))
    c.add_argument("--name-absent", choices=("O", "P"))
    c.add_argument("--standard", choices=("bell202", "v23", "dtmf"), default="bell202")
    c.add_argument("--format", choices=("mdmf", "sdmf"), default="mdmf")
    c.add_argument("--level", type=float, default=-13.5)
    common(c)
    return parser


def _dtmf(args: argparse.Namespace) -> np.ndarray:
    from cython_ext.dtmf import DtmfError, dtmf_signal

    try:
        return dtmf_signal(args.digits, args.level, args.twist, args.on_ms, args.off_ms, args.impl)
    except DtmfError as exc:
        raise GenError(str(exc)) from exc


def _tone(args: argparse.Namespace) -> np.ndarray:
    from cython_ext.tones import ToneError, beep, tone_signal, zone

    try:
        spec = beep() if args.tone == "beep" else zone(args.zone).tone(args.tone)
        seconds = args.seconds
        if seconds is None:
            period = spec.period_ms() / 1000.0
            seconds = period if 0.0 < period <= 30.0 else 4.0
        if seconds <= 0:
            raise GenError(f"--seconds must be positive (got {seconds})")
        return tone_signal(spec, seconds, impl=args.impl)
    except ToneError as exc:
        raise GenError(str(exc)) from exc


def _callerid(args: argparse.Namespace) -> np.ndarray:
    try:
        from cython_ext.callerid import callerid_signal
    except ImportError as exc:
        raise GenError(f"callerid generation not available ({exc})") from exc
    kwargs: dict[str, Any] = {
        "number": args.number,
        "name": args.name,
        "datetime": args.datetime,
        "number_absent": args.number_absent,
        "name_absent": args.name_absent,
        "standard": args.standard,
        "format": args.format,
        "level_dbm0": args.level,
    }
    try:
        return np.asarray(callerid_signal(**kwargs), dtype=np.int16)
    except ValueError as exc:
        raise GenError(str(exc)) from exc


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    make = {"dtmf": _dtmf, "tone": _tone, "callerid": _callerid}[args.kind]
    try:
        samples = make(args)
        write_wav(args.output, samples, encoding=args.encoding)
    except GenError as exc:
        print(f"{PROG} {args.kind}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"{PROG} {args.kind}: cannot write {args.output}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0
