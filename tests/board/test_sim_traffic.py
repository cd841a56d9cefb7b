"""The traffic generator: Poisson arrivals, exponential holding and patience, IVR choices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simtools import START, Run

from board.card import RingStart
from board.sim.card import SimCard
from board.sim.traffic import TrafficError, TrafficGenerator, TrafficParams

HOURS = 2000.0
RATE_PER_HOUR = 60.0


def _ks_exponential(samples: np.ndarray, mean: float) -> float:
    """Kolmogorov-Smirnov distance between `samples` and an exponential of `mean`."""
    x = np.sort(samples)
    cdf = 1.0 - np.exp(-x / mean)
    n = x.size
    return float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))


@pytest.fixture(scope="module")
def arrivals() -> np.ndarray:
    gen = TrafficGenerator(1, TrafficParams(calls_per_hour=RATE_PER_HOUR), START)  # default seed
    return np.asarray(gen.arrivals(START + HOURS * 3600.0))


def test_poisson_arrival_count_within_four_sigma(arrivals: np.ndarray) -> None:
    expected = RATE_PER_HOUR * HOURS
    assert abs(arrivals.size - expected) < 4 * math.sqrt(expected)


def test_interarrival_times_are_exponential(arrivals: np.ndarray) -> None:
    gaps = np.diff(arrivals)
    mean = 3600.0 / RATE_PER_HOUR
    assert gaps.mean() == pytest.approx(mean, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)  # exponential: CV = 1
    critical_1pct = 1.628 / math.sqrt(gaps.size)
    assert _ks_exponential(gaps, mean) < critical_1pct
    # the same test refuses evenly spaced arrivals at the same rate: it has power
    even = np.full(gaps.size, mean) * np.random.default_rng(1).uniform(0.5, 1.5, gaps.size)
    assert _ks_exponential(even, mean) > 5 * critical_1pct


def test_hourly_counts_have_poisson_dispersion(arrivals: np.ndarray) -> None:
    counts = np.bincount(((arrivals - START) // 3600).astype(int), minlength=int(HOURS))
    dispersion = counts.var(ddof=1) / counts.mean()
    assert abs(dispersion - 1.0) < 4 * math.sqrt(2.0 / (HOURS - 1))


def test_call_plans_follow_the_parameters() -> None:
    params = TrafficParams(
        calls_per_hour=100, aht=200, patience=50, ivr={"1": 3, "2": 1, "": 1}, agent_ends=0.25
    )
    gen = TrafficGenerator(5, params, START)
    plans = [gen.plan(START) for _ in range(20000)]
    holds = np.array([p.hold for p in plans])
    patience = np.array([p.patience for p in plans])
    assert holds.mean() == pytest.approx(200, rel=0.03)
    assert _ks_exponential(holds, 200) < 1.628 / math.sqrt(holds.size)
    assert patience.mean() == pytest.approx(50, rel=0.03)
    shares = {d: sum(p.digits == d for p in plans) / len(plans) for d in ("1", "2", "")}
    assert shares == pytest.approx({"1": 0.6, "2": 0.2, "": 0.2}, abs=0.015)
    assert sum(p.ender == "agent" for p in plans) / len(plans) == pytest.approx(0.25, abs=0.015)
    private = [p for p in plans if p.number == "P"]
    assert len(private) / len(plans) == pytest.approx(0.05, abs=0.01)
    public = [p for p in plans if p.number != "P"]
    assert all(len(p.number or "") == 10 and p.cid_name for p in public)


def test_deterministic_from_the_seed() -> None:
    def day(seed: int) -> list[tuple[float, str | None, str, float]]:
        gen = TrafficGenerator(seed, TrafficParams(calls_per_hour=300), START)
        return [
            (t, (p := gen.plan(t)).number, p.digits, p.hold) for t in gen.arrivals(START + 3600)
        ]

    assert day(3) == day(3)
    assert day(3) != day(4)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"calls_per_hour": 0}, "calls_per_hour"),
        ({"calls_per_hour": 10, "aht": -1}, "aht"),
        ({"calls_per_hour": 10, "ivr": {"1x": 1}}, "ivr"),
        ({"calls_per_hour": 10, "ivr": {"1": 0}}, "sum to zero"),
        ({"calls_per_hour": 10, "agent_ends": 2}, "agent_ends"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, object], problem: str) -> None:
    with pytest.raises(TrafficError, match=problem):
        TrafficParams.from_dict(params)


def test_traffic_rings_free_trunks_and_counts_blocked_calls() -> None:
    # nobody answers: every caller rings for ring_patience, so 3 trunks fill up at 900/h
    card = SimCard(f"sim://?trunks=3&stations=0&start={START}&seed=9&cid=off&noise=off")
    gen = card.start_traffic(TrafficParams(calls_per_hour=900, ring_patience=20))
    run = Run(card)
    run.run(600.0)
    callers = [p for p in card.network.parties.values() if p.kind == "caller"]
    assert gen.offered == len(callers) + gen.blocked
    assert gen.blocked > 0
    assert abs(gen.offered - 150) < 4 * math.sqrt(150)
    # each placed call rang a trunk at its arrival (first ring within one tick)
    first_rings = sorted(c.placed_at for c in callers)
    rings = run.times(RingStart)
    for t in first_rings:
        assert min(abs(r - t) for r in rings) <= 0.021
    assert all(c.end_reason == "no answer" for c in callers if c.state == "gone")
