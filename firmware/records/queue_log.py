"""Asterisk's queue_log: one line per queue event, `epoch|callid|queue|agent|EVENT|data…`.

Existing queue reporting tools read it unchanged. Lines are appended with O_APPEND and fsync'ed
one by one, so a line that `write()` returned for is on disk. On open, a torn last line (a crash
in the middle of a write, no newline) is cut off: it was never acknowledged.

Facts → events (firmware/calld/facts.py): CallQueued → ENTERQUEUE `|caller|position`;
AgentConnected → CONNECT `holdtime|bridged uniqueid|ringtime`; CallCompleted → COMPLETECALLER or
COMPLETEAGENT `holdtime|calltime|origposition`; CallAbandoned → ABANDON
`position|origposition|waittime`; CallTimedOut → EXITWITHTIMEOUT (same data); RingNoAnswer →
RINGNOANSWER `ringtime ms`; AgentLogin → AGENTLOGIN `channel` (queue NONE) then ADDMEMBER per
queue; AgentLogoff → REMOVEMEMBER per queue then AGENTLOGOFF `channel|logintime`;
AgentPaused/AgentUnpaused → PAUSE/UNPAUSE `reason` per queue. Agents are written `Agent/<id>`,
times as whole epoch seconds, durations as whole seconds (RINGNOANSWER: milliseconds).
"""

from __future__ import annotations

import os
from pathlib import Path

from firmware.calld import facts as f


def agent_name(agent: str) -> str:
    return f"Agent/{agent}" if agent else "NONE"


def _line(t: float, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
    fields = [str(int(t)), callid or "NONE", queue or "NONE", agent, event]
    fields += [str(d) for d in data]
    return "|".join(fields)


def _s(x: float) -> int:
    return int(round(x))


def lines_for(fact: f.Fact) -> list[str]:
    """The queue_log lines a fact produces (none for most status-only facts)."""
    match fact:
        case f.CallQueued():
            return [
                _line(
                    fact.t,
                    fact.call_id,
                    fact.queue,
                    "NONE",
                    "ENTERQUEUE",
                    "",
                    fact.caller_number,
                    fact.position,
                )
            ]
        case f.AgentConnected():
            return [
                _line(
                    fact.t,
                    fact.call_id,
                    fact.queue,
                    agent_name(fact.agent),
                    "CONNECT",
                    _s(fact.holdtime),
                    fact.call_id,
                    _s(fact.ringtime),
                )
            ]
        case f.CallCompleted():
            event = "COMPLETECALLER" if fact.side is f.HangupSide.CALLER else "COMPLETEAGENT"
            return [
                _line(
                    fact.t,
                    fact.call_id,
                    fact.queue,
                    agent_name(fact.agent),
                    event,
                    _s(fact.holdtime),
                    _s(fact.calltime),
                    fact.origposition,
                )
            ]
        case f.CallAbandoned():
            return [
                _line(
                    fact.t,
                    fact.call_id,
                    fact.queue,
                    "NONE",
                    "ABANDON",
                    fact.position,
                    fact.origposition,
                    _s(fact.waittime),
                )
            ]
        case f.CallTimedOut():
            return [
                _line(
                    fact.t,
                    fact.call_id,
                    fact.queue,
                    "NONE",
                    "EXITWITHTIMEOUT",
                    fact.position,
                    fact.origposition,
                    _s(fact.waittime),
                )
            ]
        case f.RingNoAnswer():
            return [
                _line(
                    fact.t,
                    fact.call_id,
                    fact.queue,
                    agent_name(fact.agent),
                    "RINGNOANSWER",
                    fact.ringtime_ms,
                )
            ]
        case f.AgentLogin():
            a = agent_name(fact.agent)
            out = [_line(fact.t, "", "", a, "AGENTLOGIN", f"station/{fact.station}")]
            return out + [_line(fact.t, "", q, a, "ADDMEMBER", "") for q in fact.queues]
        case f.AgentLogoff():
            a = agent_name(fact.agent)
            out = [_line(fact.t, "", q, a, "REMOVEMEMBER", "") for q in fact.queues]
            return out + [
                _line(
                    fact.t, "", "", a, "AGENTLOGOFF", f"station/{fact.station}", _s(fact.logintime)
                )
            ]
        case f.AgentPaused():
            a = agent_name(fact.agent)
            return [_line(fact.t, "", q, a, "PAUSE", fact.reason) for q in fact.queues]
        case f.AgentUnpaused():
            a = agent_name(fact.agent)
            return [_line(fact.t, "", q, a, "UNPAUSE", fact.reason) for q in fact.queues]
    return []


class QueueLog:
    """The queue_log file, appended durably."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.repaired = self._cut_torn_line()
        self.lines = 0

    def _cut_torn_line(self) -> int:
        """Cut a partial last line left by a crash; returns the bytes removed."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return 0
        with open(self.path, "rb") as fh:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
        if tail.endswith(b"\n"):
            return 0
        nl = tail.rfind(b"\n")
        keep = size - len(tail) + nl + 1 if nl >= 0 else 0
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)
        return size - keep

    def write_line(self, line: str) -> None:
        data = (line + "\n").encode()
        os.write(self._fd, data)
        os.fsync(self._fd)
        self.lines += 1

    def write(self, fact: f.Fact) -> list[str]:
        """Write the fact's lines, each on disk before this returns; returns them."""
        lines = lines_for(fact)
        for line in lines:
            self.write_line(line)
        return lines

    def queue_start(self, t: float) -> None:
        """QUEUESTART, as Asterisk writes when it starts."""
        self.write_line(_line(t, "", "", "NONE", "QUEUESTART", ""))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> QueueLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_line(line: str) -> tuple[int, str, str, str, str, list[str]]:
    """Split a queue_log line: (epoch, callid, queue, agent, event, data)."""
    parts = line.rstrip("\n").split("|")
    if len(parts) < 5:
        raise ValueError(f"not a queue_log line: {line!r}")
    return int(parts[0]), parts[1], parts[2], parts[3], parts[4], parts[5:]
