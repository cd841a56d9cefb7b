"""`callbox-media`: the media engine program.

    callbox-media --config /etc/callbox/callbox.toml
    callbox-media --card 'sim://?trunks=4&stations=8' --socket /tmp/media.sock --clock virtual

Settings come from the config file (`[box]`, `[board]`, `[media]`, `[recording]`); command-line
flags override them, and without `--config` the flags alone run the engine (defaults below).
Logging is configured here and nowhere else.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("firmware.media")

DEFAULTS: dict[str, Any] = {
    "card": "sim://?trunks=4&stations=8",
    "socket": "/run/callbox/media.sock",
    "clock": "real",
    "epoch": None,
    "tick_ms": 20,
    "clock_every": 5,
    "sounds": "/usr/share/asterisk/sounds/en_US_f_Allison",
    "moh": "/usr/share/asterisk/moh",
    "zone": "us",
    "echo": True,
    "echo_tail_ms": 64,
    "dsp_impl": None,
    "record_dir": ".",
}


def configure_logging(level: str) -> None:
    """One place for the process's logging; journald adds its own timestamps."""
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="callbox-media", description="callbox media engine (see firmware/media/README.md)"
    )
    ap.add_argument("--config", type=Path, help="callbox TOML config (flags below override it)")
    ap.add_argument("--card", help=f"card URL (default {DEFAULTS['card']})")
    ap.add_argument("--socket", help=f"control socket path (default {DEFAULTS['socket']})")
    ap.add_argument("--clock", choices=("real", "virtual"), help="clock mode (default real)")
    ap.add_argument("--epoch", type=float, help="virtual clock start, epoch seconds (default now)")
    ap.add_argument("--tick-ms", type=int, help="tick length in ms (default 20)")
    ap.add_argument("--clock-every", type=int, help="ticks between clock events (default 5)")
    ap.add_argument("--sounds", help="prompt folder (default the Asterisk en_US sounds)")
    ap.add_argument("--moh", help="music-on-hold folder (default /usr/share/asterisk/moh)")
    ap.add_argument("--zone", help="tone zone for tones and call progress (default us)")
    ap.add_argument("--echo", action=argparse.BooleanOptionalAction, default=None,
                    help="echo canceller on trunks by default (default on)")  # fmt: skip
    ap.add_argument("--echo-tail-ms", type=int, help="echo canceller tail (default 64)")
    ap.add_argument("--dsp-impl", choices=("compiled", "reference"), help="DSP implementation")
    ap.add_argument("--record-dir", help="folder for relative recording paths (default .)")
    ap.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return ap


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the config file, then the flags."""
    s = dict(DEFAULTS)
    moh_classes = None
    if args.config is not None:
        from firmware.config import load_config

        cfg = load_config(args.config)
        s.update(
            card=cfg.board.card,
            socket=str(cfg.media.socket),
            clock=cfg.box.clock,
            epoch=cfg.box.virtual_start,
            tick_ms=cfg.box.tick_ms,
            clock_every=cfg.box.clock_every_ticks,
            sounds=str(cfg.media.sounds_dir),
            moh=str(cfg.media.moh_dir),
            zone=cfg.box.tone_zone,
            echo=cfg.media.echo_canceller,
            echo_tail_ms=cfg.media.echo_tail_ms,
            dsp_impl=cfg.media.dsp_impl,
            record_dir=str(cfg.recording.dir),
        )
        moh_classes = dict(cfg.media.moh)
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            s[key] = value
    if args.moh is not None:
        moh_classes = None  # an explicit folder: scan it
    s["moh_classes"] = moh_classes
    return s


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.log_level)
    try:
        s = settings(args)
    except ValueError as exc:  # ConfigError lists every problem
        print(f"callbox-media: {exc}", file=sys.stderr)
        return 2
    if s["dsp_impl"]:
        os.environ["CALLBOX_DSP_IMPL"] = s["dsp_impl"]  # the process default for every kernel

    from board import BoardError, open_card
    from firmware.media.clock import Clock, RealClock, VirtualClock
    from firmware.media.engine import Engine, EngineConfig
    from firmware.media.server import MediaServer, MediaServerError

    if s["tick_ms"] <= 0 or s["clock_every"] <= 0:
        print("callbox-media: --tick-ms and --clock-every must be positive", file=sys.stderr)
        return 2
    config = EngineConfig(
        tick_ms=s["tick_ms"],
        clock_every=s["clock_every"],
        sounds_dir=Path(s["sounds"]),
        moh_dir=Path(s["moh"]),
        moh_classes=s["moh_classes"],
        zone=s["zone"],
        echo=s["echo"],
        echo_tail_ms=s["echo_tail_ms"],
        record_dir=Path(s["record_dir"]),
    )
    try:
        card = open_card(s["card"])
    except (BoardError, ValueError) as exc:
        log.error("cannot open card %s: %s", s["card"], exc)
        return 1
    tick_s = s["tick_ms"] / 1000.0
    clock: Clock
    if s["clock"] == "virtual":
        # the simulated card keeps its own virtual time: start where it starts
        epoch = s["epoch"] if s["epoch"] is not None else getattr(card, "now", time.time())
        clock = VirtualClock(tick_s, float(epoch))
    else:
        clock = RealClock(tick_s, paced_by_card=card.paced)
    engine = Engine(card, clock, config)
    server = MediaServer(engine, s["socket"])
    try:
        server.open()
    except MediaServerError as exc:
        log.error("%s", exc)
        engine.close()
        return 1
    server.install_signal_handlers()
    try:
        server.serve_forever()
    finally:
        server.close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
