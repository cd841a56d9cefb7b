"""Erlang C: what queueing theory predicts for a call center with N agents and offered load A.

Used by tests to check that the simulated box behaves like the M/M/N queue it models (Poisson
arrivals, exponential service, infinite patience), and by supervisors' tools for staffing.
Formulas: A = λ·h (erlangs); P(wait) = C(N, A); ASA = C·h / (N − A);
SL(t) = 1 − C·exp(−(N − A)·t / h); occupancy = A / N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ErlangC:
    agents: int
    offered_erlangs: float
    mean_service_s: float

    def __post_init__(self) -> None:
        if self.agents < 1:
            raise ValueError("agents must be at least 1")
        if not 0 < self.offered_erlangs < self.agents:
            raise ValueError(
                f"offered load {self.offered_erlangs:.2f} E must be below {self.agents} agents"
            )

    @classmethod
    def from_rate(cls, agents: int, calls_per_hour: float, mean_service_s: float) -> ErlangC:
        return cls(agents, calls_per_hour * mean_service_s / 3600.0, mean_service_s)

    @property
    def probability_of_waiting(self) -> float:
        n, a = self.agents, self.offered_erlangs
        # Erlang B by the stable recursion, then C from B.
        b = 1.0
        for k in range(1, n + 1):
            b = a * b / (k + a * b)
        return n * b / (n - a * (1.0 - b))

    @property
    def average_speed_of_answer_s(self) -> float:
        return (
            self.probability_of_waiting * self.mean_service_s / (self.agents - self.offered_erlangs)
        )

    def service_level(self, threshold_s: float) -> float:
        rate = (self.agents - self.offered_erlangs) / self.mean_service_s
        return 1.0 - self.probability_of_waiting * math.exp(-rate * threshold_s)

    @property
    def occupancy(self) -> float:
        return self.offered_erlangs / self.agents
