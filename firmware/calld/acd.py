"""ACD: queues of waiting callers and the agents who serve them. Pure, time passed in.

Strategy `longest-idle`: a waiting call goes to the available member agent whose `idle_since`
is oldest. `idle_since` is the moment the agent last became available: login, unpause, the end
of wrap-up, or the agent's station becoming ready (ring mode: back on hook; nailed: off hook).
A ring-no-answer does NOT reset it (the agent did not work); the call remembers which agents it
already tried and goes to the next one; when every available member has been tried the list
starts again. Calls are served oldest first across the queues an agent belongs to.

Daily counters (offered, answered, abandoned, answered within the service-level threshold) are
per UTC day of the media clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from firmware.calld.facts import AgentState, QueueStats
from firmware.config import Agent, Config, Queue

DAY = 86400.0


@dataclass
class AgentSeat:
    """One agent's live state."""

    config: Agent
    queues: tuple[str, ...]
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0  # when `state` began
    station: str = ""  # station id while logged in
    login_t: float = 0.0
    idle_since: float = 0.0
    pause_reason: str = ""  # non-empty while paused
    wrapup_until: float | None = None
    call: str = ""
    queue: str = ""

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def logged_in(self) -> bool:
        return self.state is not AgentState.LOGGED_OUT


@dataclass
class QueueState:
    config: Queue
    waiting: list[str] = field(default_factory=list)  # call ids, first in line first
    entered: dict[str, float] = field(default_factory=dict)
    day: int = -1
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within_sl: int = 0

    @property
    def name(self) -> str:
        return self.config.name

    def roll(self, now: float) -> None:
        day = int(now // DAY)
        if day != self.day:
            self.day = day
            self.offered = self.answered = self.abandoned = self.answered_within_sl = 0

    def position(self, call_id: str) -> int:
        return self.waiting.index(call_id) + 1 if call_id in self.waiting else 0


class Acd:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.agents = {a: AgentSeat(cfg, config.queues_of(a)) for a, cfg in config.agents.items()}
        self.queues = {q: QueueState(cfg) for q, cfg in config.queues.items()}

    # ---- queues

    def enqueue(self, call_id: str, queue: str, now: float) -> int:
        q = self.queues[queue]
        q.roll(now)
        q.waiting.append(call_id)
        q.entered[call_id] = now
        q.offered += 1
        return len(q.waiting)

    def leave(self, call_id: str, queue: str) -> int:
        """Take a call out of a queue; its position (1 = first) just before, 0 if absent."""
        q = self.queues[queue]
        pos = q.position(call_id)
        if pos:
            q.waiting.remove(call_id)
        q.entered.pop(call_id, None)
        return pos

    def count_answered(self, queue: str, holdtime: float, now: float) -> None:
        q = self.queues[queue]
        q.roll(now)
        q.answered += 1
        if holdtime <= q.config.sl_threshold_s:
            q.answered_within_sl += 1

    def count_abandoned(self, queue: str, now: float) -> None:
        q = self.queues[queue]
        q.roll(now)
        q.abandoned += 1

    def waiting_calls(self) -> list[tuple[float, str, str]]:
        """(entered, call id, queue) of every waiting call, oldest first."""
        out = [(q.entered[c], c, q.name) for q in self.queues.values() for c in q.waiting]
        return sorted(out)

    # ---- agents

    def pick_agent(
        self, queue: str, available: Callable[[AgentSeat], bool], tried: Iterable[str] = ()
    ) -> AgentSeat | None:
        """The longest-idle available member not yet tried (or tried, when all were)."""
        members = [
            self.agents[a]
            for a in self.queues[queue].config.members
            if a in self.agents and available(self.agents[a])
        ]
        if not members:
            return None
        tried = set(tried)
        fresh = [a for a in members if a.id not in tried] or members
        return min(fresh, key=lambda a: (a.idle_since, a.id))

    def stats(self, queue: str, now: float) -> QueueStats:
        q = self.queues[queue]
        q.roll(now)
        by_state: dict[str, int] = {}
        for a in q.config.members:
            seat = self.agents.get(a)
            if seat is not None:
                by_state[seat.state.value] = by_state.get(seat.state.value, 0) + 1
        oldest = min((q.entered[c] for c in q.waiting), default=None)
        return QueueStats(
            t=now,
            queue=queue,
            waiting=len(q.waiting),
            oldest_since=oldest,
            agents=by_state,
            offered=q.offered,
            answered=q.answered,
            abandoned=q.abandoned,
            answered_within_sl=q.answered_within_sl,
            sl_threshold_s=q.config.sl_threshold_s,
        )
