"""The day's figures, computed from the records (the SQLite store), never from live counters.

Definitions (per queue, or all queues together), over calls that ENTERQUEUE'd in the window:
- offered: calls that entered the queue (ENTERQUEUE).
- answered: calls connected to an agent (CONNECT).
- abandoned: callers who hung up while waiting (ABANDON) plus callers sent away at the queue's
  max wait (EXITWITHTIMEOUT; also reported apart as `timed_out`).
- service_level: answered with a hold time ≤ the threshold (default 20 s) over answered +
  abandoned (calls still waiting at the end of the window are not counted).
- asa: average speed of answer = mean hold time (ENTERQUEUE → CONNECT, after the whisper) of
  answered calls, seconds.
- aht: average handle time = mean talk time (CONNECT → COMPLETECALLER/COMPLETEAGENT) plus the
  wrap-up the agent actually spent after that call (the agent's wrap_up state, ended by the timer
  or `*15`), over completed calls, seconds. `talk` and `wrapup` are reported apart too.
- occupancy: time agents spent handling calls (whisper, on call, wrap-up) over that time plus
  the time they were available or ringing, from the agent state log; paused and unavailable time
  counts in neither. 0…1.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from firmware.records.store import open_store

HANDLING = ("whisper", "on_call", "wrap_up")
WAITING_FOR_CALLS = ("available", "ringing")


@dataclass(frozen=True)
class Figures:
    start: float
    end: float
    sl_threshold_s: float
    offered: int
    answered: int
    abandoned: int
    timed_out: int
    answered_within_sl: int
    service_level: float | None
    asa: float | None
    aht: float | None
    talk: float | None
    wrapup: float | None
    occupancy: float | None
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _queue_figures(rows: list[sqlite3.Row | tuple[Any, ...]], threshold: float) -> dict[str, Any]:
    entered: dict[str, float] = {}
    connected: dict[str, float] = {}
    holds: dict[str, float] = {}
    talks: dict[str, tuple[str, float, float]] = {}  # callid -> (agent, t_end, talk)
    abandoned = timed_out = 0
    for time_, callid, _queue, agent, event, _d1, d2, _d3 in rows:
        # durations from the exact media times in the store (queue_log rounds to seconds)
        if event == "ENTERQUEUE":
            entered[callid] = float(time_)
        elif callid not in entered:
            continue  # the call entered before the window
        elif event == "CONNECT":
            connected[callid] = float(time_)
            holds[callid] = float(time_) - entered[callid]
        elif event in ("COMPLETECALLER", "COMPLETEAGENT"):
            t_conn = connected.get(callid, float(time_) - float(d2))
            talks[callid] = (agent, float(time_), float(time_) - t_conn)
        elif event == "ABANDON":
            abandoned += 1
        elif event == "EXITWITHTIMEOUT":
            abandoned += 1
            timed_out += 1
    answered = len(holds)
    within = sum(1 for h in holds.values() if h <= threshold)
    done = answered + abandoned
    return {
        "offered": len(entered),
        "answered": answered,
        "abandoned": abandoned,
        "timed_out": timed_out,
        "answered_within_sl": within,
        "service_level": within / done if done else None,
        "asa": _mean(list(holds.values())),
        "talks": talks,
    }


def _wrapups(db: sqlite3.Connection, talks: dict[str, tuple[str, float, float]]) -> list[float]:
    """The wrap-up each completed call was followed by (the agent's wrap_up state length)."""
    out = []
    for agent, t_end, _talk in talks.values():
        agent_id = agent.removeprefix("Agent/")
        rows = db.execute(
            "SELECT time, state FROM agent_states WHERE agent=? AND time>=? ORDER BY time, id "
            "LIMIT 2",
            (agent_id, t_end - 1e-6),
        ).fetchall()
        if len(rows) == 2 and rows[0][1] == "wrap_up":
            out.append(float(rows[1][0]) - float(rows[0][0]))
        else:
            out.append(0.0)
    return out


def _occupancy(db: sqlite3.Connection, start: float, end: float) -> float | None:
    busy = idle = 0.0
    agents = [r[0] for r in db.execute("SELECT DISTINCT agent FROM agent_states")]
    for agent in agents:
        rows = db.execute(
            "SELECT time, state FROM agent_states WHERE agent=? AND time<? ORDER BY time, id",
            (agent, end),
        ).fetchall()
        for i, (t, state) in enumerate(rows):
            t_next = rows[i + 1][0] if i + 1 < len(rows) else end
            lo, hi = max(float(t), start), min(float(t_next), end)
            if hi <= lo:
                continue
            if state in HANDLING:
                busy += hi - lo
            elif state in WAITING_FOR_CALLS:
                idle += hi - lo
    return busy / (busy + idle) if busy + idle > 0 else None


def figures(
    db: sqlite3.Connection | str | Path,
    start: float,
    end: float,
    *,
    sl_threshold_s: float = 20.0,
    queue: str | None = None,
) -> Figures:
    """Figures for calls that entered a queue in [start, end)."""
    conn = db if isinstance(db, sqlite3.Connection) else open_store(db)
    try:
        params: list[Any] = [start]
        where = "time >= ? AND queue != 'NONE'"
        if queue is not None:
            where += " AND queue = ?"
            params.append(queue)
        rows = conn.execute(
            f"SELECT time, callid, queue, agent, event, data1, data2, data3 FROM queue_events "
            f"WHERE {where} ORDER BY time, id",
            params,
        ).fetchall()
        # ENTERQUEUE must be inside the window; outcomes may come after `end`
        by_queue: dict[str, list[Any]] = {}
        for r in rows:
            if r[4] == "ENTERQUEUE" and r[0] >= end:
                continue
            by_queue.setdefault(r[2], []).append(r)
        per_queue = {q: _queue_figures(rs, sl_threshold_s) for q, rs in sorted(by_queue.items())}
        total = _queue_figures([r for rs in by_queue.values() for r in rs], sl_threshold_s)
        talks = total.pop("talks")
        wrapups = _wrapups(conn, talks)
        talk_times = [t for _, _, t in talks.values()]
        handle = [t + w for t, w in zip(talk_times, wrapups, strict=True)]
        for qf in per_queue.values():
            qtalks = qf.pop("talks")
            qf["aht"] = _mean(
                [
                    t + w
                    for t, w in zip(
                        [x[2] for x in qtalks.values()], _wrapups(conn, qtalks), strict=True
                    )
                ]
            )
        return Figures(
            start=start,
            end=end,
            sl_threshold_s=sl_threshold_s,
            offered=total["offered"],
            answered=total["answered"],
            abandoned=total["abandoned"],
            timed_out=total["timed_out"],
            answered_within_sl=total["answered_within_sl"],
            service_level=total["service_level"],
            asa=total["asa"],
            aht=_mean(handle),
            talk=_mean(talk_times),
            wrapup=_mean(wrapups),
            occupancy=_occupancy(conn, start, end),
            queues=per_queue,
        )
    finally:
        if conn is not db:
            conn.close()
