"""callbox-watchdog: a supervisord event listener that turns "a callbox program is FATAL or
flapping" into an MQTT alarm (`event/alarm`, see firmware/status/README.md).

supervisord speaks to an event listener over stdin/stdout: the listener writes `READY\\n`, reads a
header line (`ver:3.0 ... eventname:PROCESS_STATE_FATAL len:62`) and `len` bytes of payload
(`processname:callbox-calld groupname:... from_state:BACKOFF`), then answers `RESULT 2\\nOK`.
Anything else on stdout would break that protocol, so logging goes to stderr.

`ProgramHealth` is the pure part: it watches state changes and says when to raise an alarm —
`fatal` when supervisord gave up on a program, `flapping` when a program exited unexpectedly
`flap_count` times within `flap_window_s`, `clear` when a program that was in alarm has been
RUNNING again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import BinaryIO

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgramAlarm:
    program: str
    alarm: str  # "fatal", "flapping", "clear"
    detail: str


@dataclass
class ProgramHealth:
    flap_count: int = 3
    flap_window_s: float = 60.0
    _exits: dict[str, deque[float]] = field(default_factory=dict)
    _in_alarm: set[str] = field(default_factory=set)

    def observe(self, event: str, payload: dict[str, str], now: float) -> list[ProgramAlarm]:
        name = payload.get("processname", "?")
        state = event.removeprefix("PROCESS_STATE_")
        if state == "FATAL":
            self._in_alarm.add(name)
            return [
                ProgramAlarm(
                    name,
                    "fatal",
                    f"supervisord gave up starting {name} (was {payload.get('from_state')})",
                )
            ]
        if state in ("EXITED", "BACKOFF") and (
            state == "BACKOFF" or payload.get("expected") == "0"
        ):
            exits = self._exits.setdefault(name, deque())
            exits.append(now)
            while exits and now - exits[0] > self.flap_window_s:
                exits.popleft()
            if len(exits) >= self.flap_count and name not in self._in_alarm:
                self._in_alarm.add(name)
                return [
                    ProgramAlarm(
                        name,
                        "flapping",
                        f"{name} stopped unexpectedly {len(exits)} times in "
                        f"{self.flap_window_s:.0f} s",
                    )
                ]
        if state == "RUNNING" and name in self._in_alarm:
            self._in_alarm.discard(name)
            self._exits.pop(name, None)
            return [ProgramAlarm(name, "clear", f"{name} is running again")]
        return []


def parse_tokens(text: str) -> dict[str, str]:
    """`a:1 b:2` → {"a": "1", "b": "2"} (supervisord's header and payload format)."""
    out = {}
    for token in text.split():
        key, _, value = token.partition(":")
        out[key] = value
    return out


def read_event(stdin: BinaryIO) -> tuple[dict[str, str], dict[str, str]] | None:
    header_line = stdin.readline()
    if not header_line:
        return None
    header = parse_tokens(header_line.decode())
    body = stdin.read(int(header.get("len", "0")))
    first_line, _, _data = body.decode().partition("\n")
    return header, parse_tokens(first_line)


def main(argv: list[str] | None = None) -> int:
    from firmware.config import ConfigError, load_config
    from firmware.status import topics
    from firmware.status.broker import add_mqtt_arguments, address_from_config, tree_for
    from firmware.status.publisher import StatusLinkError, publish_once

    ap = argparse.ArgumentParser(prog="callbox-watchdog", description=__doc__)
    ap.add_argument("--config", required=True)
    add_mqtt_arguments(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
        broker = address_from_config(config, args)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"callbox-watchdog: {exc}", file=sys.stderr)
        return 2
    tree = tree_for(config)
    health = ProgramHealth()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        got = read_event(stdin)
        if got is None:
            return 0
        header, payload = got
        for alarm in health.observe(header.get("eventname", ""), payload, time.time()):
            log.warning("program alarm: %s %s: %s", alarm.program, alarm.alarm, alarm.detail)
            msg = topics.alarm(
                tree, time.time(), f"program/{alarm.program}", alarm.alarm, alarm.detail
            )
            try:
                asyncio.run(publish_once(broker, [msg]))
            except StatusLinkError as exc:
                log.warning("could not publish the alarm: %s", exc)
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
