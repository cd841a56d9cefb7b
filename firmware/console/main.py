"""`callbox console`: the technicians' serial console (the I/O edge of firmware/console/session.py).

    callbox console [--port /dev/ttyS0] [--baud N] [--config FILE] [--socket PATH]

Opens the serial port with pyserial, feeds what arrives to `ConsoleSession`, writes its output,
stores the password hash it hands over (mode 0600, replaced atomically) and answers its queries
from calld's admin socket (found as `callbox status` finds it). Runs until killed; a serial port
that goes away ends it non-zero (supervisord restarts it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from firmware.calld.admin import request
from firmware.config import ConfigError, ConsoleConfig, load_config
from firmware.console.render import render_command
from firmware.console.session import ConsoleSession, Query, SavePassword, Write

log = logging.getLogger(__name__)

_HASH_PREFIX = "scrypt$"


class ConsolePasswordError(RuntimeError):
    """The stored password hash cannot be used."""


def read_password_hash(path: Path) -> str | None:
    """The stored hash, or None when no technician password is set yet."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not text.startswith(_HASH_PREFIX):
        raise ConsolePasswordError(f"{path}: not a console password hash (remove it to set anew)")
    return text


def write_password_hash(path: Path, password_hash: str) -> None:
    """Store the hash mode 0600, atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password_hash + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ask_calld(socket: Path) -> dict[str, Any]:
    try:
        return asyncio.run(request(socket, "snapshot"))
    except (OSError, ValueError, TimeoutError) as exc:
        return {"ok": False, "error": f"{socket}: {exc}"}


def serve(port: Any, session: ConsoleSession, password_file: Path, socket: Path) -> None:
    """The loop: read what the port has (or wait up to its timeout), act, tick. Never returns
    unless the port fails (`serial.SerialException`, an OSError)."""

    def act(actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Write):
                port.write(action.data)
            elif isinstance(action, SavePassword):
                write_password_hash(password_file, action.password_hash)
                log.info("console: password hash stored in %s", password_file)
            elif isinstance(action, Query):
                act(session.answer(action, ask_calld(socket)))

    act(session.start(time.monotonic()))
    while True:
        data = port.read(max(1, port.in_waiting))
        now = time.monotonic()
        act(session.feed(data, now) if data else session.tick(now))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="callbox console", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", help="serial device (default: the config's [console] port)")
    ap.add_argument("--baud", type=int, help="serial speed (default: the config's)")
    ap.add_argument("--config", type=Path, help="the box's config (default /etc/callbox/…)")
    ap.add_argument("--socket", type=Path, help="calld's admin socket")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        config = load_config(args.config or Path("/etc/callbox/callbox.toml"))
    except ConfigError as exc:
        print(f"callbox console: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"callbox console: cannot read the config: {exc}", file=sys.stderr)
        return 1
    console: ConsoleConfig = config.console
    if args.port:
        console = replace(console, port=args.port)
    if args.baud:
        console = replace(console, baud=args.baud)
    if not console.port:
        print("callbox console: no serial port ([console] port or --port)", file=sys.stderr)
        return 2
    socket = args.socket or config.media.socket.with_name("calld.sock")
    try:
        password_hash = read_password_hash(console.password_file)
    except (ConsolePasswordError, OSError) as exc:
        print(f"callbox console: {exc}", file=sys.stderr)
        return 1

    import serial  # pyserial: only the console needs it

    try:
        port = serial.Serial(console.port, console.baud, timeout=0.5)
    except (serial.SerialException, OSError) as exc:
        print(f"callbox console: cannot open {console.port}: {exc}", file=sys.stderr)
        return 1
    banner = f"callbox console {config.box.site}/{config.box.box_id}"
    session = ConsoleSession(console, password_hash, render_command, banner=banner)
    log.info("console on %s at %d baud, calld at %s", console.port, console.baud, socket)
    try:
        serve(port, session, console.password_file, socket)
    except (serial.SerialException, OSError) as exc:
        log.error("console: serial port %s failed: %s", console.port, exc)
        return 1
    finally:
        port.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
