"""Events the ISDN stack reports to call control (and to the CLI / console as JSON lines).

Call control sees a PRI call like any other call: `IncomingCall`, then `Connected`,
`Disconnected` when the far end clears, and always `Released` last, when the channel is free.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class IsdnEvent:
    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        name = type(self).__name__
        return {"event": "".join("_" + c.lower() if c.isupper() else c for c in name)[1:], **d}


@dataclass(frozen=True)
class LinkUp(IsdnEvent):
    reestablished: bool = False


@dataclass(frozen=True)
class LinkDown(IsdnEvent):
    reason: str = ""


@dataclass(frozen=True)
class IncomingCall(IsdnEvent):
    call_id: int
    channel: int | None
    called: str
    calling: str
    calling_presentation: str  # "allowed" | "restricted" | "not_available"
    called_type: int = 0
    calling_type: int = 0
    display: str | None = None
    bearer: str = "speech"
    call_ref: int = 0


@dataclass(frozen=True)
class CallPlaced(IsdnEvent):
    call_id: int
    channel: int | None
    called: str
    calling: str
    call_ref: int = 0


@dataclass(frozen=True)
class CallProceeding(IsdnEvent):
    call_id: int
    channel: int | None


@dataclass(frozen=True)
class Alerting(IsdnEvent):
    call_id: int


@dataclass(frozen=True)
class Progress(IsdnEvent):
    call_id: int
    description: int


@dataclass(frozen=True)
class Connected(IsdnEvent):
    call_id: int
    channel: int | None


@dataclass(frozen=True)
class Disconnected(IsdnEvent):
    """The far end (or a timer) started clearing the call; `Released` follows."""

    call_id: int
    cause: int
    cause_text: str = ""


@dataclass(frozen=True)
class Released(IsdnEvent):
    """The call is gone and its channel is free (always the last event of a call)."""

    call_id: int
    cause: int
    cause_text: str = ""


@dataclass(frozen=True)
class ChannelRestarted(IsdnEvent):
    channel: int | None  # None: the whole interface
    by_peer: bool


@dataclass(frozen=True)
class ChannelState(IsdnEvent):
    channel: int
    status: str  # ChannelStatus value


@dataclass(frozen=True)
class MessageSent(IsdnEvent):
    message: str
    call_ref: int
    call_id: int | None = None
    channel: int | None = None
    called: str | None = None
    calling: str | None = None
    cause: int | None = None


@dataclass(frozen=True)
class MessageReceived(IsdnEvent):
    message: str
    call_ref: int
    call_id: int | None = None
    channel: int | None = None
    called: str | None = None
    calling: str | None = None
    cause: int | None = None


@dataclass(frozen=True)
class BadInput(IsdnEvent):
    """A frame or message the stack counted as malformed (`kind` is the counter's name)."""

    kind: str
    detail: str = ""
