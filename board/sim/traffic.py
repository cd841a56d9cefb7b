"""The traffic generator: calls arriving on the trunks, deterministic from the seed.

Arrivals are a Poisson process at `calls_per_hour` (exponential inter-arrival times); each call
gets a holding time (exponential, mean `aht` seconds), a patience (exponential, mean `patience`
seconds, counted from the end of the IVR), an IVR choice drawn from `ivr` ({digits: weight}),
who ends the call (the agent with probability `agent_ends`), a caller ID (a number in the
555-01xx fictional range and a name; `private` share withheld as "P") and a voice.

Arrival times and call attributes come from two separate random streams, so what the box does
with one call (how long it keeps a trunk) never shifts when later calls arrive. A call that
finds every trunk busy is `blocked` (counted; the caller would have heard busy).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from board.sim.people import Caller

log = logging.getLogger(__name__)

FIRST_NAMES = (
    "ANNA", "BEN", "CARLA", "DAVID", "EMMA", "FRANK", "GRACE", "HENRY", "IRIS", "JACK",
    "KATE", "LEO", "MARIA", "NOAH", "OLGA", "PAUL", "RUTH", "SAM", "TINA", "VICTOR",
)  # fmt: skip
LAST_NAMES = (
    "ADAMS", "BROWN", "CHEN", "DIAZ", "EVANS", "FISCHER", "GARCIA", "HUGHES", "ITO", "JONES",
    "KOWALSKI", "LOPEZ", "MILLER", "NGUYEN", "OKAFOR", "PATEL", "QUINN", "ROSSI", "SMITH",
)  # fmt: skip
AREA_CODES = ("212", "312", "415", "617", "713", "206", "305", "404")


class TrafficError(ValueError):
    """Bad traffic parameters."""


@dataclass(frozen=True)
class CallPlan:
    """Everything the simulation decides about one call before it arrives."""

    number: str | None
    cid_name: str | None
    digits: str
    patience: float
    hold: float
    ender: str  # "caller" or "agent"
    voice: int
    arrival: float
    ring_patience: float = 60.0
    datetime: str | None = None


@dataclass
class TrafficParams:
    calls_per_hour: float
    aht: float = 180.0
    patience: float = 120.0
    ivr: dict[str, float] = field(default_factory=lambda: {"1": 1.0})
    agent_ends: float = 0.3
    private: float = 0.05
    ring_patience: float = 60.0

    def __post_init__(self) -> None:
        problems = []
        if not (self.calls_per_hour > 0 and math.isfinite(self.calls_per_hour)):
            problems.append(f"calls_per_hour must be > 0, got {self.calls_per_hour}")
        if not self.aht > 0:
            problems.append(f"aht must be > 0 seconds, got {self.aht}")
        if not self.patience > 0:
            problems.append(f"patience must be > 0 seconds, got {self.patience}")
        if not 0 <= self.agent_ends <= 1:
            problems.append(f"agent_ends must be within 0..1, got {self.agent_ends}")
        if not 0 <= self.private <= 1:
            problems.append(f"private must be within 0..1, got {self.private}")
        if not self.ivr:
            problems.append("ivr needs at least one choice (use {'': 1} for no digits)")
        for digits, weight in self.ivr.items():
            if any(d not in "0123456789*#" for d in digits):
                problems.append(f"ivr choice {digits!r} is not DTMF digits")
            if not (isinstance(weight, int | float) and weight >= 0):
                problems.append(f"ivr weight of {digits!r} must be >= 0, got {weight!r}")
        if self.ivr and sum(w for w in self.ivr.values() if isinstance(w, int | float)) <= 0:
            problems.append("ivr weights sum to zero")
        if problems:
            raise TrafficError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrafficParams:
        known = {
            "calls_per_hour", "aht", "patience", "ivr", "agent_ends", "private", "ring_patience",
        }  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrafficError(f"unknown traffic parameter(s): {', '.join(unknown)}")
        if "calls_per_hour" not in data:
            raise TrafficError("traffic needs calls_per_hour")
        try:
            values = {k: float(v) for k, v in data.items() if k != "ivr"}
        except (TypeError, ValueError) as exc:
            raise TrafficError(f"traffic parameters must be numbers: {exc}") from exc
        ivr = data.get("ivr", {"1": 1.0})
        if not isinstance(ivr, dict):
            raise TrafficError("ivr must be an object {digits: weight}")
        return cls(ivr={str(k): v for k, v in ivr.items()}, **values)


class TrafficGenerator:
    """Places calls on free trunks at Poisson arrival times."""

    def __init__(
        self,
        seed: int,
        params: TrafficParams,
        start: float,
        place: Callable[[CallPlan], bool] | None = None,
    ) -> None:
        self.params = params
        self._arrivals = random.Random(f"{seed}/traffic/arrivals")
        self._calls = random.Random(f"{seed}/traffic/calls")
        self._place = place
        self.offered = 0
        self.blocked = 0
        self.active = True  # False after `stop()`: no more arrivals; calls up still counted
        self.ended_by: dict[str, int] = {}
        self.next_arrival = start + self._gap()
        choices = sorted(params.ivr.items())
        self._ivr_digits = [d for d, _ in choices]
        self._ivr_weights = [float(w) for _, w in choices]

    def _gap(self) -> float:
        return self._arrivals.expovariate(self.params.calls_per_hour / 3600.0)

    def arrivals(self, until: float) -> list[float]:
        """Advance the arrival process to `until` without placing calls; the arrival times."""
        out = []
        while self.next_arrival < until:
            out.append(self.next_arrival)
            self.next_arrival += self._gap()
        return out

    def plan(self, arrival: float) -> CallPlan:
        r = self._calls
        p = self.params
        number: str | None
        if r.random() < p.private:
            number, name = "P", "P"
        else:
            number = f"{r.choice(AREA_CODES)}55501{r.randrange(100):02d}"
            name = f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)}"
        return CallPlan(
            number=number,
            cid_name=name,
            digits=r.choices(self._ivr_digits, self._ivr_weights)[0],
            patience=r.expovariate(1.0 / p.patience),
            hold=r.expovariate(1.0 / p.aht),
            ender="agent" if r.random() < p.agent_ends else "caller",
            voice=r.randrange(1 << 16),
            arrival=arrival,
            ring_patience=p.ring_patience,
        )

    def stop(self) -> None:
        """No more arrivals; the calls already placed keep being counted as they end."""
        self.active = False

    def tick(self, now: float) -> None:
        while self.active and self.next_arrival <= now:
            arrival = self.next_arrival
            self.next_arrival += self._gap()
            plan = self.plan(arrival)
            self.offered += 1
            if self._place is not None and not self._place(plan):
                self.blocked += 1

    def ended(self, caller: Caller) -> None:
        reason = caller.end_reason or "?"
        self.ended_by[reason] = self.ended_by.get(reason, 0) + 1

    def stats(self) -> dict[str, Any]:
        return {
            "calls_per_hour": self.params.calls_per_hour,
            "aht": self.params.aht,
            "patience": self.params.patience,
            "active": self.active,
            "offered": self.offered,
            "blocked": self.blocked,
            "ended": dict(sorted(self.ended_by.items())),
            "up": self.offered - self.blocked - sum(self.ended_by.values()),
        }
