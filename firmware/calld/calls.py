"""The inbound call and its states. Transitions are driven by control.py.

    RINGING ──(Nth ring)──▶ IVR ──(choice)──▶ QUEUED ──(agent picked)──▶ OFFERING
       │                     │                  ▲  │                       │ ring mode: station
       ▼                     ▼                  │  ▼                       │ rings; nailed: skip
     (gone)               ENDED            RNA ─┘ ENDED (abandon/timeout)   ▼
                                                                       WHISPER ─(whisper done)─▶
    CONNECTED ──(either side hangs up)──▶ ENDED (the agent goes to wrap-up)

RINGING is a trunk being rung before the box answers (caller ID arrives between the rings);
it becomes a call (a call id, CallOffered) when the box answers on the configured ring.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from firmware.calld.facts import CallEnded
from firmware.calld.ivr import IvrSession


class CallState(enum.StrEnum):
    IVR = "ivr"
    QUEUED = "queued"
    OFFERING = "offering"  # the agent's station is ringing
    WHISPER = "whisper"  # the agent hears the whisper, the caller still hears music
    CONNECTED = "connected"
    LEAVING = "leaving"  # a last prompt plays to the caller (goodbye, queue timeout), then hangup
    ENDED = "ended"


@dataclass
class Ringing:
    """A trunk being rung by the exchange, not answered yet."""

    channel: int
    first_t: float
    last_t: float
    rings: int = 0
    number: str = ""
    name: str = ""


@dataclass
class Call:
    call_id: str
    channel: int  # the trunk
    trunk_group: str
    number: str  # caller ID number ("" when none)
    name: str  # caller ID name
    start: float  # first ring
    answer: float  # the box answered
    state: CallState = CallState.IVR
    ivr: IvrSession | None = None
    playing: str = ""  # play_id of the prompt playing to the caller
    queue: str = ""
    entered: float | None = None  # ENTERQUEUE time
    origposition: int = 0
    tried: list[str] = field(default_factory=list)  # agents offered this call already
    agent: str = ""
    station: str = ""  # station id of the agent
    offered_t: float | None = None  # when the station started ringing / the whisper began
    ring_deadline: float | None = None
    ringtime: float = 0.0
    connected_t: float | None = None
    ended_t: float | None = None
    lastapp: str = "BackGround"
    lastdata: str = ""
    path: list[str] = field(default_factory=list)  # IVR path, queue, agent (CDR userfield)

    @property
    def clid(self) -> str:
        if self.name:
            return f'"{self.name}" <{self.number}>'
        return f"<{self.number}>" if self.number else ""

    def cdr(self, now: float, dst: str, channel_name: str, dst_channel_name: str) -> CallEnded:
        """The Master.csv row for this call (ANSWERED: the box answered every call it logs)."""
        return CallEnded(
            t=now,
            accountcode="",
            src=self.number,
            dst=dst,
            dcontext=f"queue-{self.queue}" if self.queue else "ivr",
            clid=self.clid,
            channel=channel_name,
            dstchannel=dst_channel_name if self.connected_t is not None else "",
            lastapp=self.lastapp,
            lastdata=self.lastdata,
            start=self.start,
            answer=self.answer,
            end=now,
            duration=int(round(now - self.start)),
            billsec=int(round(now - self.answer)),
            disposition="ANSWERED",
            amaflags="DOCUMENTATION",
            uniqueid=self.call_id,
            userfield=";".join(self.path),
        )

    # ---- recovery

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        d["ivr"] = self.ivr.to_dict() if self.ivr else None
        return d


def new_call_id(now: float, seq: int) -> str:
    """Asterisk-style unique id: `<epoch seconds>.<sequence>`."""
    return f"{int(now)}.{seq}"
