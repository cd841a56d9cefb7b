"""The MQTT topic tree and payloads, as pure functions: facts in, `StatusMessage`s out.

No I/O here: firmware/status/publisher.py sends what these functions return. The contract is
written in firmware/status/README.md; DESIGN.md §3.6 is the plan it follows.

Every payload is a JSON object with `"schema": SCHEMA`. Times are epoch seconds of the media
engine's clock (virtual in a simulation), rounded to the millisecond, and are moments
(`since`, `oldest_since`, `t`) rather than durations that would change every second: a
wallboard computes "waiting for 42 s" itself, and a retained message stays true until the
state changes.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from firmware.calld import facts as f

SCHEMA = 1
PREFIX = "callbox/v1"
QOS_STATE = 1  # retained state: at least once
QOS_EVENT = 1  # events: at least once as well (wallboard counters must not miss one)
DEFAULT_STATS_EXPIRY_S = 300  # MQTT5 message expiry of queue stats (refreshed at half of it)
EVENT_KINDS = ("offered", "answered", "completed", "abandoned", "timeout", "alarm")
COMMAND_VERBS = ("ping", "snapshot")
MAX_COMMAND_BYTES = 4096
_FORBIDDEN = set("/+#\0")


class TopicError(ValueError):
    """A name cannot be used as one level of an MQTT topic."""


class CommandError(ValueError):
    """An incoming `cmd/<verb>` message is malformed or asks for something unknown."""


@dataclass(frozen=True)
class StatusMessage:
    """One MQTT publication: where, what, and how the broker keeps it."""

    topic: str
    payload: Mapping[str, Any]
    retain: bool
    qos: int
    expiry_s: int | None = None  # MQTT5 Message Expiry Interval; None = never expires

    def encode(self) -> bytes:
        return encode_payload(self.payload)


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=False).encode()


def segment(name: object) -> str:
    """One topic level from a name (queue, agent, site…); TopicError if it cannot be one."""
    text = str(name)
    if not text or _FORBIDDEN & set(text) or len(text.encode()) > 128:
        raise TopicError(f"{text!r} cannot be an MQTT topic level (empty, too long, or / + # NUL)")
    return text


@dataclass(frozen=True)
class TopicTree:
    """`callbox/v1/<site>/<box>/…` for one box."""

    site: str
    box: str
    prefix: str = ""  # the whole base topic, when the config overrides callbox/v1/<site>/<box>

    def __post_init__(self) -> None:
        segment(self.site)
        segment(self.box)
        if self.prefix:
            for level in self.prefix.split("/"):
                segment(level)

    @property
    def base(self) -> str:
        return self.prefix or f"{PREFIX}/{self.site}/{self.box}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    def queue_stats(self, queue: str) -> str:
        return f"{self.base}/queue/{segment(queue)}/stats"

    def agent_state(self, agent: str) -> str:
        return f"{self.base}/agent/{segment(agent)}/state"

    def port_status(self, channel: int) -> str:
        return f"{self.base}/port/{int(channel)}/status"

    def span_status(self, span: str) -> str:
        return f"{self.base}/span/{segment(span)}/status"

    def event(self, kind: str) -> str:
        return f"{self.base}/event/{segment(kind)}"

    def cmd(self, verb: str) -> str:
        return f"{self.base}/cmd/{segment(verb)}"

    @property
    def cmd_filter(self) -> str:
        return f"{self.base}/cmd/+"

    @property
    def reply_filter(self) -> str:
        """Where requesters should ask for MQTT5 responses (`reply/<client id>`)."""
        return f"{self.base}/reply/#"


def _t(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


# ---- the box -----------------------------------------------------------------------------------


def online(
    tree: TopicTree,
    *,
    since: float,
    version: str,
    clock: str,
    media: str,
    media_since: float,
    dsp: str = "",
) -> StatusMessage:
    """The birth message (retained): published on every connect and when the media link changes.

    `since` is when this calld came up; `media` is "up" or "down" (the media engine link).
    """
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "state": "online",
        "since": _t(since),
        "version": version,
        "clock": clock,
        "media": {"state": media, "since": _t(media_since)},
    }
    if dsp:
        payload["dsp"] = dsp
    return StatusMessage(tree.status, payload, retain=True, qos=QOS_STATE)


def offline(tree: TopicTree) -> StatusMessage:
    """The last will (retained): the broker publishes it when calld goes away uncleanly; calld
    publishes it itself on a clean shutdown."""
    return StatusMessage(
        tree.status, {"schema": SCHEMA, "state": "offline"}, retain=True, qos=QOS_STATE
    )


# ---- facts -------------------------------------------------------------------------------------
#
# One table says which fields of a fact make a payload; `_fields` turns them into JSON values the
# same way for every topic (floats to the millisecond, enums to their value). A new topic for a
# new fact is one row here (plus its topic function in TopicTree), not another copy of a builder.

_QUEUE_STATS_FIELDS = (
    "queue",
    "t",
    "waiting",
    "oldest_since",
    "agents",
    "offered",
    "answered",
    "abandoned",
    "answered_within_sl",
    "sl_threshold_s",
)
_AGENT_STATE_FIELDS = (
    "agent",
    "name",
    "state",
    "since",
    "station",
    "call_id",
    "queue",
    "caller_number",
    "reason",
)
_PORT_STATUS_FIELDS = ("channel", "kind", "name", "state", "since", "call_id")
_SPAN_STATUS_FIELDS = (
    "span",
    "t",
    "kind",
    "switch",
    "role",
    "link",
    "alarm",
    "since",
    "channels",
    "calls",
    "rejected",
)
_WAIT_FIELDS = ("call_id", "queue", "position", "origposition", "waittime")

# fact type -> (event kind, the fact's fields in the payload after `t`)
_EVENTS: dict[type, tuple[str, tuple[str, ...]]] = {
    f.CallOffered: (
        "offered",
        ("call_id", "channel", "trunk_group", "caller_number", "caller_name"),
    ),
    f.AgentConnected: ("answered", ("call_id", "queue", "agent", "holdtime", "ringtime")),
    f.CallCompleted: ("completed", ("call_id", "queue", "agent", "side", "holdtime", "calltime")),
    f.CallAbandoned: ("abandoned", _WAIT_FIELDS),
    f.CallTimedOut: ("timeout", _WAIT_FIELDS),
    f.SpanAlarmChanged: ("alarm", ("source", "alarm", "detail")),
}


_MOMENTS = frozenset({"t", "since", "oldest_since"})  # epoch seconds, always floats


def _json_value(name: str, value: Any) -> Any:
    if name in _MOMENTS:
        return _t(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _fields(fact: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _json_value(name, getattr(fact, name)) for name in names}


def queue_stats(
    tree: TopicTree, s: f.QueueStats, expiry_s: int = DEFAULT_STATS_EXPIRY_S
) -> StatusMessage:
    sl = s.service_level
    payload = {
        "schema": SCHEMA,
        **_fields(s, _QUEUE_STATS_FIELDS),
        "service_level": None if sl is None else round(sl, 4),
    }
    return StatusMessage(
        tree.queue_stats(s.queue), payload, retain=True, qos=QOS_STATE, expiry_s=expiry_s
    )


def agent_state(tree: TopicTree, a: f.AgentStateChanged) -> StatusMessage:
    payload = {"schema": SCHEMA, **_fields(a, _AGENT_STATE_FIELDS)}
    return StatusMessage(tree.agent_state(a.agent), payload, retain=True, qos=QOS_STATE)


def port_status(tree: TopicTree, p: f.PortStatus) -> StatusMessage:
    payload = {"schema": SCHEMA, **_fields(p, _PORT_STATUS_FIELDS)}
    return StatusMessage(tree.port_status(p.channel), payload, retain=True, qos=QOS_STATE)


def span_status(tree: TopicTree, s: f.SpanStatus) -> StatusMessage:
    payload = {"schema": SCHEMA, **_fields(s, _SPAN_STATUS_FIELDS)}
    return StatusMessage(tree.span_status(s.span), payload, retain=True, qos=QOS_STATE)


def _event(tree: TopicTree, kind: str, t: float, **fields: Any) -> StatusMessage:
    payload = {"schema": SCHEMA, "kind": kind, "t": _t(t), **fields}
    return StatusMessage(tree.event(kind), payload, retain=False, qos=QOS_EVENT)


def alarm(tree: TopicTree, t: float, source: str, alarm: str, detail: str = "") -> StatusMessage:
    """`event/alarm`: a span alarm from the card, or a callbox program FATAL/flapping."""
    return _event(tree, "alarm", t, source=source, alarm=alarm, detail=detail)


def messages_for(
    tree: TopicTree, fact: object, stats_expiry_s: int = DEFAULT_STATS_EXPIRY_S
) -> list[StatusMessage]:
    """What the status feed publishes for one fact (often nothing: records-only facts)."""
    match fact:
        case f.QueueStats():
            return [queue_stats(tree, fact, stats_expiry_s)]
        case f.AgentStateChanged():
            return [agent_state(tree, fact)]
        case f.PortStatus():
            return [port_status(tree, fact)]
        case f.SpanStatus():
            return [span_status(tree, fact)]
    shape = _EVENTS.get(type(fact))
    if shape is None:
        return []
    kind, names = shape
    return [_event(tree, kind, **_fields(fact, ("t", *names)))]


# ---- commands (cmd/<verb>, MQTT5 request/response) ---------------------------------------------


@dataclass(frozen=True)
class CommandRequest:
    verb: str
    args: Mapping[str, Any]


def parse_command(tree: TopicTree, topic: str, payload: bytes) -> CommandRequest:
    """Check one `cmd/<verb>` message; CommandError says what is wrong with it."""
    prefix = f"{tree.base}/cmd/"
    if not topic.startswith(prefix) or "/" in topic[len(prefix) :]:
        raise CommandError(f"not a command topic: {topic!r}")
    verb = topic[len(prefix) :]
    if verb not in COMMAND_VERBS:
        raise CommandError(f"unknown command {verb!r} (known: {', '.join(COMMAND_VERBS)})")
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(f"payload of {len(payload)} bytes, more than {MAX_COMMAND_BYTES}")
    try:
        body = json.loads(payload.decode("utf-8")) if payload else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandError(f"payload is not UTF-8 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise CommandError('payload must be a JSON object like {"schema": 1}')
    if body.get("schema") != SCHEMA:
        raise CommandError(f'payload needs "schema": {SCHEMA}, got {body.get("schema")!r}')
    return CommandRequest(verb, {k: v for k, v in body.items() if k != "schema"})


def command_reply(ok: bool, **fields: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "ok": ok, **fields}
