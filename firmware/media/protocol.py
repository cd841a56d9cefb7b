"""The media control protocol's messages, shared by the engine and calld (see PROTOCOL.md).

Newline-delimited JSON over a Unix stream socket. Commands (`{"cmd": ..., "id": N, ...}`) decode
into frozen dataclasses, one per command, validated field by field against their type hints:
a wrong type, a missing or unknown argument is a `ProtocolError` carrying the command's id (when
it could be read) and an error `code`. Events are frozen dataclasses too, so calld matches on
types, not on dictionaries. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

PROTOCOL_VERSION = 1
MAX_LINE = 65536  # bytes, newline excluded

#: error codes of an error reply (PROTOCOL.md, "Errors")
ERROR_CODES = (
    "malformed",
    "too_long",
    "unknown_cmd",
    "bad_args",
    "bad_channel",
    "no_file",
    "failed",
)


class ProtocolError(ValueError):
    """A message that breaks the protocol. `id` is the command's id when it could be read."""

    def __init__(self, code: str, message: str, id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.id = id


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _loads(line: bytes | str) -> Any:
    if isinstance(line, bytes | bytearray):
        try:
            line = bytes(line).decode("utf-8")
        except UnicodeDecodeError as exc:
            why = f"not UTF-8: {exc.reason} at byte {exc.start}"
            raise ProtocolError("malformed", why) from exc
    try:
        return json.loads(line, parse_constant=_reject_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ProtocolError("malformed", f"invalid JSON: {exc}") from exc


# ---- validation against type hints ---------------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is list:
        return f"list of {_type_name(get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "object"
    return {int: "integer", bool: "boolean", str: "string", float: "number"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    ok = False
    if tp is Any:
        return value
    if origin is Literal:
        ok = value in get_args(tp) and not isinstance(value, bool)
    elif origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _convert(value, arg, where)
            except ProtocolError:
                continue
    elif origin is list:
        if isinstance(value, list):
            (item,) = get_args(tp)
            return tuple(_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    elif origin is dict:
        ok = isinstance(value, dict)
    elif tp is type(None):
        ok = value is None
    elif tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        ok = isinstance(value, str)
    elif dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
        return _from_dict(tp, value, where)
    if not ok:
        got = "null" if value is None else type(value).__name__
        got = {"dict": "object", "list": "list", "bool": "boolean", "str": "string"}.get(got, got)
        raise ProtocolError("bad_args", f"{where}: expected {_type_name(tp)}, got {got}")
    return value


def _wire_name(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("wire", f.name))


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _from_dict(cls: type, data: dict[str, Any], where: str, skip: tuple[str, ...] = ()) -> Any:
    hints = _hints(cls)
    fields = {_wire_name(f): f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields) - set(skip))
    if unknown:
        raise ProtocolError("bad_args", f"{where}: unknown argument(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for wire, f in fields.items():
        if wire in skip:
            continue
        if wire not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProtocolError("bad_args", f"{where}: missing argument {wire}")
            continue
        kwargs[f.name] = _convert(data[wire], hints[f.name], f"{where}: {wire}")
    return cls(**kwargs)


def _to_wire(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            _wire_name(f): _to_wire(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None or f.default is dataclasses.MISSING
        }
    if isinstance(value, tuple | list):
        return [_to_wire(v) for v in value]
    return value


# ---- commands ------------------------------------------------------------------------------------

Mode = Literal["duplex", "listen", "whisper"]
RecordWhat = Literal["both", "rx", "tx"]


#: every command by its wire name; a Command subclass with a `name` registers itself
COMMANDS: dict[str, type[Command]] = {}


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of every command. `id` is set by the sender (MediaLink assigns it)."""

    name: ClassVar[str] = ""
    id: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            COMMANDS[cls.name] = cls

    def validate(self) -> None:
        """Checks beyond the types (ranges, argument combinations); raise ProtocolError."""

    def _bad(self, message: str) -> ProtocolError:
        return ProtocolError("bad_args", f"{self.name}: {message}", self.id)


@dataclass(frozen=True, kw_only=True)
class Hello(Command):
    name: ClassVar[str] = "hello"


@dataclass(frozen=True, kw_only=True)
class Snapshot(Command):
    name: ClassVar[str] = "snapshot"


@dataclass(frozen=True, kw_only=True)
class Hook(Command):
    name: ClassVar[str] = "hook"
    channel: int
    offhook: bool


@dataclass(frozen=True, kw_only=True)
class CallerIdSpec:
    number: str | None = None
    name: str | None = None
    datetime: str | None = None


@dataclass(frozen=True, kw_only=True)
class Ring(Command):
    name: ClassVar[str] = "ring"
    channel: int
    on: bool
    callerid: CallerIdSpec | None = None

    def validate(self) -> None:
        if self.callerid is not None and not self.on:
            raise self._bad("callerid only goes with on: true")
        dt = self.callerid.datetime if self.callerid else None
        if dt is not None and (len(dt) != 8 or not dt.isdigit()):
            raise self._bad(f"callerid.datetime {dt!r}: expected 8 digits MMDDHHMM")


@dataclass(frozen=True, kw_only=True)
class Flash(Command):
    name: ClassVar[str] = "flash"
    channel: int


@dataclass(frozen=True, kw_only=True)
class Connect(Command):
    name: ClassVar[str] = "connect"
    a: int
    b: int
    mode: Mode = "duplex"

    def validate(self) -> None:
        if self.a == self.b:
            raise self._bad(f"a and b are the same channel ({self.a})")


@dataclass(frozen=True, kw_only=True)
class Disconnect(Command):
    name: ClassVar[str] = "disconnect"
    a: int | None = None
    b: int | None = None
    channel: int | None = None

    def validate(self) -> None:
        pair = self.a is not None and self.b is not None
        one = self.a is not None or self.b is not None
        if (self.channel is None) == (not one) or (one and not pair):
            raise self._bad("give either a and b, or channel")


@dataclass(frozen=True, kw_only=True)
class Play(Command):
    name: ClassVar[str] = "play"
    channel: int
    files: tuple[str, ...] = field(metadata={"list": True})
    loop: bool = False
    play_id: int | str | None = None

    def validate(self) -> None:
        if not self.files:
            raise self._bad("files is empty")
        if any(not f for f in self.files):
            raise self._bad("files: empty file name")


@dataclass(frozen=True, kw_only=True)
class Moh(Command):
    name: ClassVar[str] = "moh"
    channel: int
    on: bool
    moh_class: str = field(default="default", metadata={"wire": "class"})

    def validate(self) -> None:
        if not self.moh_class or "/" in self.moh_class or self.moh_class.startswith("."):
            raise self._bad(f"class {self.moh_class!r}: a plain directory name is expected")


@dataclass(frozen=True, kw_only=True)
class Tone(Command):
    name: ClassVar[str] = "tone"
    channel: int
    tone: str | None = field(default=None, metadata={"wire": "name"})
    zone: str | None = None
    off: bool = False
    play_id: int | str | None = None

    def validate(self) -> None:
        if self.off == (self.tone is not None):
            raise self._bad("give either name (and zone) or off: true")


@dataclass(frozen=True, kw_only=True)
class Stop(Command):
    name: ClassVar[str] = "stop"
    channel: int


@dataclass(frozen=True, kw_only=True)
class Detect(Command):
    name: ClassVar[str] = "detect"
    channel: int
    dtmf: bool | None = None
    cpt: bool | None = None
    callerid: bool | None = None
    zone: str | None = None


@dataclass(frozen=True, kw_only=True)
class Dial(Command):
    name: ClassVar[str] = "dial"
    channel: int
    digits: str
    dial_id: int | str | None = None
    on_ms: int = 80
    off_ms: int = 80

    def validate(self) -> None:
        bad = sorted(set(self.digits.upper()) - set("0123456789*#ABCD,"))
        if not self.digits or bad:
            raise self._bad(f"digits {self.digits!r}: only 0-9 * # A-D and ',' are allowed")
        if not 20 <= self.on_ms <= 2000 or not 20 <= self.off_ms <= 2000:
            raise self._bad("on_ms and off_ms must be 20..2000")


@dataclass(frozen=True, kw_only=True)
class Record(Command):
    name: ClassVar[str] = "record"
    channel: int
    on: bool
    file: str | None = None
    what: RecordWhat = "both"

    def validate(self) -> None:
        if self.on and not self.file:
            raise self._bad("file is required with on: true")


@dataclass(frozen=True, kw_only=True)
class Echo(Command):
    name: ClassVar[str] = "echo"
    channel: int
    on: bool
    tail_ms: int | None = None

    def validate(self) -> None:
        if self.tail_ms is not None and not 8 <= self.tail_ms <= 512:
            raise self._bad("tail_ms must be 8..512")


@dataclass(frozen=True, kw_only=True)
class SendFrame(Command):
    name: ClassVar[str] = "send_frame"
    channel: int
    frame_hex: str

    @property
    def frame(self) -> bytes:
        return bytes.fromhex(self.frame_hex)

    def validate(self) -> None:
        try:
            frame = self.frame
        except ValueError as exc:
            raise self._bad(f"frame_hex: {exc}") from exc
        if len(frame) < 3:
            raise self._bad("frame_hex: a LAPD frame has at least 3 bytes")


@dataclass(frozen=True, kw_only=True)
class ClockAck(Command):
    name: ClassVar[str] = "clock_ack"
    t: float


def _fix_tuple_hints() -> None:
    # `files` is a tuple in Python (frozen) but a JSON list on the wire.
    _hints(Play)["files"] = list[str]


_fix_tuple_hints()


def decode_command(line: bytes | str) -> Command:
    """Decode one line into a Command; ProtocolError (with the id when readable) otherwise."""
    msg = _loads(line)
    if not isinstance(msg, dict):
        raise ProtocolError("malformed", f"expected a JSON object, got {type(msg).__name__}")
    raw_id = msg.get("id")
    cmd_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    if "id" not in msg:
        raise ProtocolError("malformed", "command has no id")
    if cmd_id is None:
        raise ProtocolError("malformed", f"id must be an integer, got {json.dumps(raw_id)}")
    name = msg.get("cmd")
    if not isinstance(name, str):
        raise ProtocolError("malformed", "no cmd (a string) in the message", cmd_id)
    cls = COMMANDS.get(name)
    if cls is None:
        known = ", ".join(sorted(COMMANDS))
        raise ProtocolError("unknown_cmd", f"unknown command {name!r} (known: {known})", cmd_id)
    try:
        cmd: Command = _from_dict(cls, msg, name, skip=("cmd",))
    except ProtocolError as exc:
        exc.id = cmd_id
        raise
    except TypeError as exc:  # pragma: no cover - a dataclass/hint mismatch is a bug here
        raise ProtocolError("bad_args", f"{name}: {exc}", cmd_id) from exc
    cmd.validate()
    return cmd


def encode_command(cmd: Command) -> bytes:
    body: dict[str, Any] = {"cmd": cmd.name, "id": cmd.id}
    for f in dataclasses.fields(cmd):
        if f.name == "id":
            continue
        value = getattr(cmd, f.name)
        if value is None:
            continue
        body[_wire_name(f)] = _to_wire(value)
    return _dumps(body)


def command_from_args(name: str, args: dict[str, Any], id: int = 0) -> Command:
    """Build a command from keyword arguments named as on the wire (client convenience)."""
    cls = COMMANDS.get(name)
    if cls is None:
        raise ProtocolError("unknown_cmd", f"unknown command {name!r}")
    cmd: Command = _from_dict(cls, {**args, "id": id}, name)
    cmd.validate()
    return cmd


# ---- replies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A reply: `ok` with its result fields in `data`, or an error with `code` and `error`."""

    id: int | None
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    code: str | None = None


def encode_reply(id: int, data: dict[str, Any] | None = None) -> bytes:
    return _dumps({"id": id, "ok": True, **(data or {})})


def encode_error(id: int | None, code: str, message: str) -> bytes:
    return _dumps({"id": id, "ok": False, "code": code, "error": message})


# ---- events --------------------------------------------------------------------------------------


#: every event by its wire name; an Event subclass with a `name` registers itself
EVENTS: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    name: ClassVar[str] = ""
    t: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            EVENTS[cls.name] = cls


@dataclass(frozen=True, kw_only=True)
class ClockEvent(Event):
    name: ClassVar[str] = "clock"


@dataclass(frozen=True, kw_only=True)
class ChannelEvent(Event):
    channel: int


def _line_signal(class_name: str, wire: str, meaning: str) -> type[ChannelEvent]:
    """An event that carries nothing but its channel and time: one line of the table below."""
    namespace = {"__doc__": meaning, "__module__": __name__, "name": wire}
    cls: type[ChannelEvent] = type(class_name, (ChannelEvent,), namespace)
    return dataclass(frozen=True, kw_only=True)(cls)


# the line signals (PROTOCOL.md, "Events"): class, wire name, what happened on the channel
RingStartEvent = _line_signal("RingStartEvent", "ring_start", "FXO: a ring burst began")
RingStopEvent = _line_signal("RingStopEvent", "ring_stop", "FXO: a ring burst ended")
OffHookEvent = _line_signal("OffHookEvent", "offhook", "FXS: the phone went off hook")
OnHookEvent = _line_signal("OnHookEvent", "onhook", "FXS: the phone went on hook")
FlashEvent = _line_signal("FlashEvent", "flash", "FXS: a hook flash (on hook, back in time)")
PolarityEvent = _line_signal("PolarityEvent", "polarity", "FXO: battery polarity reversed")
LoopDropEvent = _line_signal("LoopDropEvent", "loop_drop", "FXO: loop current dropped")


@dataclass(frozen=True, kw_only=True)
class AlarmEvent(Event):
    name: ClassVar[str] = "alarm"
    span: int
    alarm: str


@dataclass(frozen=True, kw_only=True)
class DigitDownEvent(ChannelEvent):
    name: ClassVar[str] = "digit_down"
    digit: str


@dataclass(frozen=True, kw_only=True)
class DigitEvent(ChannelEvent):
    name: ClassVar[str] = "digit"
    digit: str
    start_t: float
    end_t: float


@dataclass(frozen=True, kw_only=True)
class ToneEvent(ChannelEvent):
    name: ClassVar[str] = "tone"
    tone: str
    start_t: float
    sit_kind: str | None = None  # SIT: which intercept (e.g. "vacant code")
    sit_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallerIdEvent(ChannelEvent):
    name: ClassVar[str] = "callerid"
    number: str | None = None
    caller_name: str | None = field(default=None, metadata={"wire": "name"})
    datetime: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, metadata={"flatten": True})


@dataclass(frozen=True, kw_only=True)
class PlayDoneEvent(ChannelEvent):
    name: ClassVar[str] = "play_done"
    play_id: int | str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DialDoneEvent(ChannelEvent):
    name: ClassVar[str] = "dial_done"
    dial_id: int | str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DFrameEvent(ChannelEvent):
    name: ClassVar[str] = "dframe"
    frame_hex: str

    @property
    def frame(self) -> bytes:
        return bytes.fromhex(self.frame_hex)


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """An event this side does not know (a newer engine); kept, not dropped."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


def event_to_dict(ev: Event) -> dict[str, Any]:
    if isinstance(ev, UnknownEvent):
        return {"event": ev.event, "t": ev.t, **ev.fields}
    body: dict[str, Any] = {"event": ev.name}
    for f in dataclasses.fields(ev):
        value = getattr(ev, f.name)
        if f.metadata.get("flatten"):
            body.update({k: v for k, v in value.items() if k not in body})
        else:
            body[_wire_name(f)] = value
    return body


def encode_event(ev: Event) -> bytes:
    return _dumps(event_to_dict(ev))


def _event_from_dict(msg: dict[str, Any]) -> Event:
    name = msg["event"]
    t = msg.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool):
        raise ProtocolError("malformed", f"event {name!r} without a numeric t")
    cls = EVENTS.get(name)
    if cls is None:
        rest = {k: v for k, v in msg.items() if k not in ("event", "t")}
        return UnknownEvent(t=float(t), event=str(name), fields=rest)
    body = {k: v for k, v in msg.items() if k != "event"}
    flat = [f for f in dataclasses.fields(cls) if f.metadata.get("flatten")]
    if flat:
        known = {_wire_name(f) for f in dataclasses.fields(cls) if not f.metadata.get("flatten")}
        body = {k: v for k, v in body.items() if k in known} | {
            _wire_name(flat[0]): {k: v for k, v in body.items() if k not in known}
        }
    ev: Event = _from_dict(cls, body, f"event {name}")
    return ev


def decode_message(line: bytes | str) -> Reply | Event:
    """Decode one line from the engine (controller side): a Reply or an Event."""
    msg = _loads(line)
    if not isinstance(msg, dict):
        raise ProtocolError("malformed", f"expected a JSON object, got {type(msg).__name__}")
    if "event" in msg:
        return _event_from_dict(msg)
    if "ok" in msg and "id" in msg:
        ok = msg["ok"] is True
        rid = msg["id"] if isinstance(msg["id"], int) and not isinstance(msg["id"], bool) else None
        if ok:
            data = {k: v for k, v in msg.items() if k not in ("id", "ok")}
            return Reply(rid, True, data)
        return Reply(rid, False, {}, str(msg.get("error", "")), str(msg.get("code", "failed")))
    raise ProtocolError("malformed", "neither an event nor a reply")
