"""The console session, pure: bytes in, actions out, no I/O and no clock of its own.

`LineEditor` turns serial bytes into lines (CR, LF or CRLF ends a line; backspace/DEL erase;
Ctrl-C drops the line; echo off while a password is typed). `ConsoleSession` is the login state
machine and the command table: the first login sets the technician password (typed twice, stored
as a salted scrypt hash via `SavePassword`), later logins check it, `max_failures` wrong passwords
in a row lock the console for `lockout_s`, and `idle_timeout_s` without input logs out.

A command that needs the box's state comes out as a `Query`; the I/O edge asks calld's admin
socket and hands the reply to `ConsoleSession.answer`, which renders it (console/render.py).
A bad line (too long, control bytes, bad UTF-8) or an unknown command gets an error, is counted in
`counters`, and the session goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmware.config import ConsoleConfig, hash_pin, verify_pin

log = logging.getLogger(__name__)

MAX_LINE = 200  # bytes in one input line
MIN_PASSWORD = 8
CRLF = b"\r\n"


class ConsoleInputError(ValueError):
    """A line the console refuses (the message is shown to the technician)."""


# ---- actions the I/O edge carries out, in order --------------------------------------------------


@dataclass(frozen=True)
class Write:
    data: bytes


@dataclass(frozen=True)
class SavePassword:
    password_hash: str


@dataclass(frozen=True)
class Query:
    """Ask calld for a snapshot and call `session.answer(query, reply)`."""

    command: str
    arg: str = ""


Action = Write | SavePassword | Query


# ---- line editing --------------------------------------------------------------------------------


@dataclass
class LineEditor:
    """Serial line discipline: collects bytes into lines, echoes what a terminal should show."""

    max_line: int = MAX_LINE
    echo: bool = True
    buf: bytearray = field(default_factory=bytearray)
    overflow: bool = False
    last_cr: bool = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """('echo', bytes) to write back and ('line', raw bytes) / ('overflow', b'') per line."""
        out: list[tuple[str, bytes]] = []
        for byte in data:
            if byte == 0x0A and self.last_cr:  # the LF of a CRLF
                self.last_cr = False
                continue
            self.last_cr = byte == 0x0D
            if byte in (0x0D, 0x0A):
                out.append(("echo", CRLF))
                out.append(("overflow", b"") if self.overflow else ("line", bytes(self.buf)))
                self.buf.clear()
                self.overflow = False
            elif byte in (0x08, 0x7F):
                if self.buf and not self.overflow:
                    # a UTF-8 character is erased whole: drop continuation bytes with its lead
                    while self.buf and (self.buf[-1] & 0xC0) == 0x80:
                        self.buf.pop()
                    if self.buf:
                        self.buf.pop()
                    if self.echo:
                        out.append(("echo", b"\b \b"))
            elif byte == 0x03:  # Ctrl-C: drop the line
                self.buf.clear()
                self.overflow = False
                out.append(("echo", b"^C" + CRLF))
                out.append(("line", b""))
            elif self.overflow:
                continue
            elif len(self.buf) >= self.max_line:
                self.overflow = True
                self.buf.clear()
            else:
                self.buf.append(byte)
                if self.echo and 0x20 <= byte != 0x7F:
                    out.append(("echo", bytes([byte])))
        return out


def decode_line(raw: bytes, max_line: int = MAX_LINE) -> str:
    """The line as text, or `ConsoleInputError` saying what is wrong with it."""
    if len(raw) > max_line:
        raise ConsoleInputError(f"line longer than {max_line} bytes")
    for i, byte in enumerate(raw):
        if byte < 0x20 or byte == 0x7F:
            raise ConsoleInputError(f"control byte 0x{byte:02x} at column {i + 1}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
        raise ConsoleInputError(f"not UTF-8 ({bad})") from None


# ---- the session ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    needs_box: bool = True
    takes_arg: bool = False


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("help", "help", "this list", needs_box=False),
        Command("status", "status", "what `callbox status` shows: queues, agents, lines, spans"),
        Command("spans", "spans", "every PRI span: link, alarm, B-channels"),
        Command("span", "span NAME", "one span: B-channels by state, calls, counters", True, True),
        Command("lines", "lines", "the card's lines (trunks, stations, B-channels)"),
        Command("queues", "queues", "calls waiting, longest wait, service level"),
        Command("agents", "agents", "who is logged in, on which call"),
        Command("alarms", "alarms", "spans in alarm or down, recent alarm events"),
        Command("logout", "logout", "end the session", needs_box=False),
    )
}

Renderer = Callable[[str, str, dict[str, Any]], list[str]]


class ConsoleSession:
    """One serial console: login, lockout, idle logout, the commands (module docstring)."""

    def __init__(
        self,
        config: ConsoleConfig,
        password_hash: str | None,
        renderer: Renderer,
        *,
        banner: str = "callbox console",
    ) -> None:
        self.config = config
        self.password_hash = password_hash
        self.renderer = renderer
        self.banner = banner
        self.editor = LineEditor()
        self.state = "new"  # new | set | confirm | login | shell | locked
        self.new_password = ""
        self.failures = 0  # wrong passwords in a row
        self.locked_until = 0.0
        self.last_input = 0.0
        self.counters = {
            "logins": 0,
            "failed_logins": 0,
            "lockouts": 0,
            "idle_logouts": 0,
            "bad_lines": 0,
            "unknown_commands": 0,
            "commands": 0,
        }

    # -- driving it

    def start(self, now: float) -> list[Action]:
        self.last_input = now
        return [Write(f"{CRLF.decode()}{self.banner}{CRLF.decode()}".encode()), *self._prompt()]

    def feed(self, data: bytes, now: float) -> list[Action]:
        """Bytes from the serial line; what to write, save and ask, in order."""
        actions: list[Action] = []
        actions += self.tick(now)
        self.last_input = now
        # a byte at a time: a line that ends at a password prompt turns the echo off for the next
        for b in data:
            for kind, payload in self.editor.feed(bytes([b])):
                if kind == "echo":
                    actions.append(Write(payload))
                elif kind == "overflow":
                    actions += self._bad(f"line longer than {self.editor.max_line} bytes")
                else:
                    try:
                        text = decode_line(payload, self.editor.max_line)
                    except ConsoleInputError as exc:
                        actions += self._bad(str(exc))
                    else:
                        actions += self._line(text, now)
        return _merge(actions)

    def tick(self, now: float) -> list[Action]:
        """Time passing: the idle logout and the end of a lockout."""
        if self.state == "shell" and now - self.last_input >= self.config.idle_timeout_s:
            self.counters["idle_logouts"] += 1
            log.info("console: idle for %.0f s, logged out", now - self.last_input)
            self.last_input = now
            self.state = "login"
            self.editor.echo = False
            return [Write(b"\r\nidle timeout: logged out\r\n"), *self._prompt()]
        if self.state == "locked" and now >= self.locked_until:
            self.state = "login"
            self.failures = 0
            return [Write(b"\r\nconsole unlocked\r\n"), *self._prompt()]
        return []

    def answer(self, query: Query, reply: dict[str, Any]) -> list[Action]:
        """calld's reply to a `Query` (or `{"ok": False, "error": …}`), rendered, then a prompt."""
        if not reply.get("ok"):
            lines = [f"error: cannot ask calld: {reply.get('error', 'no reply')}"]
        else:
            try:
                lines = self.renderer(query.command, query.arg, reply.get("snapshot") or {})
            except ConsoleInputError as exc:
                lines = [f"error: {exc}"]
        return [Write(_text(lines)), *self._prompt()]

    # -- the states

    def _prompt(self) -> list[Action]:
        if self.state == "new":
            self.state = "set" if self.password_hash is None else "login"
        prompts = {
            "set": "no technician password yet: choose one (at least "
            f"{MIN_PASSWORD} characters)\r\nnew password: ",
            "confirm": "again: ",
            "login": "password: ",
            "shell": "callbox> ",
            "locked": "",
        }
        self.editor.echo = self.state == "shell"
        return [Write(prompts[self.state].encode())]

    def _bad(self, why: str) -> list[Action]:
        self.counters["bad_lines"] += 1
        log.warning("console: bad line: %s", why)
        return [Write(f"error: {why} (line ignored){CRLF.decode()}".encode()), *self._prompt()]

    def _line(self, text: str, now: float) -> list[Action]:
        if self.state == "set":
            if len(text) < MIN_PASSWORD:
                return [Write(f"too short: at least {MIN_PASSWORD} characters\r\n".encode())] + (
                    self._prompt()
                )
            self.new_password = text
            self.state = "confirm"
            return self._prompt()
        if self.state == "confirm":
            if text != self.new_password:
                self.new_password = ""
                self.state = "set"
                return [Write(b"the two did not match; start again\r\n"), *self._prompt()]
            self.password_hash = hash_pin(text)
            self.new_password = ""
            self.state = "shell"
            self.counters["logins"] += 1
            log.warning("console: technician password set at first login")
            return [
                SavePassword(self.password_hash),
                Write(b"password set; logged in. `help` lists the commands\r\n"),
                *self._prompt(),
            ]
        if self.state == "login":
            return self._login(text, now)
        if self.state == "locked":
            left = max(0.0, self.locked_until - now)
            return [Write(f"console locked for {left:.0f} s more\r\n".encode())]
        return self._command(text)

    def _login(self, text: str, now: float) -> list[Action]:
        if not text:
            return self._prompt()
        if self.password_hash is not None and verify_pin(text, self.password_hash):
            self.failures = 0
            self.state = "shell"
            self.counters["logins"] += 1
            log.info("console: technician logged in")
            return [Write(b"logged in. `help` lists the commands\r\n"), *self._prompt()]
        self.failures += 1
        self.counters["failed_logins"] += 1
        log.warning("console: failed login (%d in a row)", self.failures)
        if self.failures >= self.config.max_failures:
            self.state = "locked"
            self.locked_until = now + self.config.lockout_s
            self.counters["lockouts"] += 1
            log.warning(
                "console: %d failed logins, locked for %.0f s", self.failures, self.config.lockout_s
            )
            lock = f"locked for {self.config.lockout_s:.0f} s"
            msg = f"login incorrect; {self.failures} failures: {lock}"
            return [Write(f"{msg}\r\n".encode())]
        return [Write(b"login incorrect\r\n"), *self._prompt()]

    def _command(self, text: str) -> list[Action]:
        words = text.split()
        if not words:
            return self._prompt()
        name, args = words[0].lower(), words[1:]
        command = COMMANDS.get(name)
        if command is None:
            self.counters["unknown_commands"] += 1
            log.info("console: unknown command %r", name[:40])
            return [Write(f"error: unknown command {name!r}; `help` lists them\r\n".encode())] + (
                self._prompt()
            )
        if len(args) != int(command.takes_arg):
            self.counters["unknown_commands"] += 1
            return [Write(f"usage: {command.usage}\r\n".encode()), *self._prompt()]
        self.counters["commands"] += 1
        if name == "help":
            width = max(len(c.usage) for c in COMMANDS.values())
            lines = [f"  {c.usage:<{width}}  {c.help}" for c in COMMANDS.values()]
            return [Write(_text(lines)), *self._prompt()]
        if name == "logout":
            self.state = "login"
            log.info("console: technician logged out")
            return [Write(b"logged out\r\n"), *self._prompt()]
        return [Query(name, args[0] if args else "")]


def _text(lines: list[str]) -> bytes:
    return "".join(f"{ln}\r\n" for ln in lines).encode("utf-8", "replace")


def _merge(actions: list[Action]) -> list[Action]:
    """Adjacent writes as one (fewer syscalls on the serial port)."""
    out: list[Action] = []
    for a in actions:
        if isinstance(a, Write) and out and isinstance(out[-1], Write):
            out[-1] = Write(out[-1].data + a.data)
        else:
            out.append(a)
    return out
