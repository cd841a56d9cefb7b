"""Domain facts: what call control decided happened, for the records and the status feed.

`CallControl.drain_facts()` hands these out in the order they happened. The shell writes the
records first (queue_log, CDR: firmware/records/) and then publishes status (firmware/status/).
Every fact is a frozen dataclass with `t`, the media engine's clock (epoch seconds, float) at
the moment the fact became true. Times that are durations are seconds (float) unless the name
says otherwise. Call ids are Asterisk-style unique ids (`"<epoch>.<sequence>"`), agents are the
agent ids from the config, queues the queue names, channels the card's channel numbers.

The queue_log event each fact produces is named in its docstring.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class AgentState(enum.StrEnum):
    """What an agent is doing, as the wallboard shows it."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"  # logged in, idle, can be offered a call
    UNAVAILABLE = "unavailable"  # logged in, cannot take a call (ring: off hook; nailed: on hook)
    RINGING = "ringing"  # a call is being offered (station ringing)
    WHISPER = "whisper"  # the agent is hearing the whisper; caller still on hold
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class PortState(enum.StrEnum):
    """A line as the port view shows it."""

    IDLE = "idle"
    RINGING = "ringing"  # trunk: being rung by the exchange; station: being rung by us
    IVR = "ivr"
    QUEUED = "queued"
    CONNECTED = "connected"
    OFFHOOK = "offhook"  # a station off hook and not on a call (dialling, nailed idle)
    HANGUP = "hangup"  # a station whose call ended, waiting for the agent to hang up


class HangupSide(enum.StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    SYSTEM = "system"  # IVR hung up (choice, retries exhausted), queue timeout


# ---- calls -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallOffered:
    """A trunk call was answered by the box (caller ID as received). queue_log: none."""

    t: float
    call_id: str
    channel: int
    trunk_group: str
    caller_number: str
    caller_name: str


@dataclass(frozen=True)
class CallAnsweredByIvr:
    """The call entered an IVR menu. queue_log: none."""

    t: float
    call_id: str
    channel: int
    menu: str


@dataclass(frozen=True)
class IvrChoice:
    """The caller chose (or failed to choose) in a menu.

    `digit` is the key pressed ("" for a timeout); `action` is "queue", "menu", "hangup",
    "prompt", "invalid" or "timeout"; `target` names the queue/menu/prompt when there is one.
    queue_log: none (the CDR's userfield keeps the IVR path).
    """

    t: float
    call_id: str
    menu: str
    digit: str
    action: str
    target: str = ""


@dataclass(frozen=True)
class CallQueued:
    """The call entered a queue. queue_log: ENTERQUEUE `|caller|position`."""

    t: float
    call_id: str
    queue: str
    position: int  # 1 = first in line
    caller_number: str


@dataclass(frozen=True)
class RingNoAnswer:
    """An agent was offered the call and did not answer in time. queue_log: RINGNOANSWER `ms`."""

    t: float
    call_id: str
    queue: str
    agent: str
    ringtime_ms: int


@dataclass(frozen=True)
class AgentConnected:
    """Caller and agent were connected (after the whisper).

    holdtime: seconds from ENTERQUEUE to this connect; ringtime: seconds the agent's station
    rang (0 when nailed). queue_log: CONNECT `holdtime|bridged call id|ringtime`.
    """

    t: float
    call_id: str
    queue: str
    agent: str
    station_channel: int
    holdtime: float
    ringtime: float


@dataclass(frozen=True)
class CallCompleted:
    """A connected call ended. queue_log: COMPLETECALLER or COMPLETEAGENT
    `holdtime|calltime|origposition`."""

    t: float
    call_id: str
    queue: str
    agent: str
    side: HangupSide  # CALLER or AGENT
    holdtime: float
    calltime: float
    origposition: int


@dataclass(frozen=True)
class _QueueExit:
    """A caller left a queue without an agent: where it stood and how long it waited."""

    t: float
    call_id: str
    queue: str
    position: int
    origposition: int
    waittime: float


@dataclass(frozen=True)
class CallAbandoned(_QueueExit):
    """The caller hung up while waiting in a queue. queue_log: ABANDON
    `position|origposition|waittime`."""


@dataclass(frozen=True)
class CallTimedOut(_QueueExit):
    """The caller waited the queue's max_wait_s and was sent away. queue_log: EXITWITHTIMEOUT
    `position|origposition|waittime`."""


@dataclass(frozen=True)
class CallEnded:
    """The trunk call is over: one CDR row, fields and order as Asterisk's Master.csv.

    Times are epoch seconds (the CSV writes them as `YYYY-MM-DD HH:MM:SS` UTC); `answer` is
    None for a call never answered. `disposition` is ANSWERED, NO ANSWER, BUSY or FAILED.
    queue_log: none.
    """

    t: float
    accountcode: str
    src: str
    dst: str
    dcontext: str
    clid: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    start: float
    answer: float | None
    end: float
    duration: int
    billsec: int
    disposition: str
    amaflags: str
    uniqueid: str
    userfield: str


# ---- agents ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AgentAtStation:
    """An agent arrived at or left a station; `queues` are the queues it serves."""

    t: float
    agent: str
    station: str
    channel: int
    queues: tuple[str, ...]


@dataclass(frozen=True)
class AgentLogin(_AgentAtStation):
    """queue_log: AGENTLOGIN `station channel name` (queue NONE), then ADDMEMBER per queue."""


@dataclass(frozen=True)
class AgentLogoff(_AgentAtStation):
    """queue_log: REMOVEMEMBER per queue, then AGENTLOGOFF `station|logintime`."""

    logintime: float
    reason: str = "feature code"


@dataclass(frozen=True)
class _PauseChange:
    """An agent's pause began or ended, with the pause reason, in every queue it serves."""

    t: float
    agent: str
    reason: str
    queues: tuple[str, ...]


@dataclass(frozen=True)
class AgentPaused(_PauseChange):
    """queue_log: PAUSE `reason` per queue the agent serves."""


@dataclass(frozen=True)
class AgentUnpaused(_PauseChange):
    """queue_log: UNPAUSE `reason` per queue the agent serves."""


@dataclass(frozen=True)
class AgentStateChanged:
    """The agent's state for the status feed (retained per agent). queue_log: none."""

    t: float
    agent: str
    name: str
    state: AgentState
    since: float
    station: str = ""
    call_id: str = ""
    queue: str = ""
    caller_number: str = ""
    reason: str = ""  # pause reason


# ---- aggregate status --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStats:
    """A queue's live figures (retained, with message expiry). Counters are since local
    midnight of the media clock (UTC day)."""

    t: float
    queue: str
    waiting: int
    oldest_since: float | None
    agents: dict[str, int] = field(default_factory=dict)  # AgentState value -> count
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within_sl: int = 0
    sl_threshold_s: float = 20.0

    @property
    def service_level(self) -> float | None:
        """Answered within the threshold over answered + abandoned; None before any call."""
        done = self.answered + self.abandoned
        return self.answered_within_sl / done if done else None


@dataclass(frozen=True)
class PortStatus:
    """One line's state (retained per port). queue_log: none."""

    t: float
    channel: int
    kind: str  # "fxo" or "fxs"
    state: PortState
    since: float
    call_id: str = ""
    name: str = ""  # trunk group or station id


@dataclass(frozen=True)
class SpanStatus:
    """A PRI span's state (retained per span; firmware/calld/spans.py). queue_log: none."""

    t: float
    span: str
    kind: str  # "T1" | "E1"
    switch: str
    role: str  # "cpe" | "network"
    link: str  # "up" | "down" (Q.921 multiple-frame established or not)
    alarm: str  # "clear" | "red" | "yellow" | "blue" | "recovering" (layer 1, from the card)
    since: float  # when link or alarm last changed
    channels: dict[str, list[int]]  # "idle" / "in_use" / "restarting" / "out_of_service"
    calls: int
    rejected: dict[str, int]  # bad input counted by the stack, by kind (non-zero only)


@dataclass(frozen=True)
class SpanAlarmChanged:
    """A PRI span's layer-1 alarm changed (MQTT event/alarm). queue_log: none."""

    t: float
    source: str  # "span/<name>"
    alarm: str  # "red" | "yellow" | "blue" | "recovering" | "notopen" | "clear"
    detail: str = ""


Fact = (
    CallOffered
    | CallAnsweredByIvr
    | IvrChoice
    | CallQueued
    | RingNoAnswer
    | AgentConnected
    | CallCompleted
    | CallAbandoned
    | CallTimedOut
    | CallEnded
    | AgentLogin
    | AgentLogoff
    | AgentPaused
    | AgentUnpaused
    | AgentStateChanged
    | QueueStats
    | PortStatus
    | SpanStatus
    | SpanAlarmChanged
)
