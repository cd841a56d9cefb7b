"""Erlang C against published values (so the theory the traffic test relies on is itself right)."""

import math

import pytest

from firmware.erlang import ErlangC


def test_textbook_example_10_agents_8_erlangs() -> None:
    # A = 8 E on N = 10: P(wait) = 0.4092 (standard Erlang C tables).
    e = ErlangC(10, 8.0, 180.0)
    assert e.probability_of_waiting == pytest.approx(0.4092, abs=5e-4)
    assert e.average_speed_of_answer_s == pytest.approx(0.4092 * 180 / 2, rel=1e-3)
    assert e.occupancy == pytest.approx(0.8)


def test_single_agent_is_mm1() -> None:
    # For N = 1, C = ρ and ASA = ρ·h/(1 − ρ).
    e = ErlangC(1, 0.5, 100.0)
    assert e.probability_of_waiting == pytest.approx(0.5)
    assert e.average_speed_of_answer_s == pytest.approx(100.0)
    assert e.service_level(20.0) == pytest.approx(1 - 0.5 * math.exp(-0.5 * 20 / 100))


def test_from_rate_and_overload_rejected() -> None:
    assert ErlangC.from_rate(5, 60, 180).offered_erlangs == pytest.approx(3.0)
    with pytest.raises(ValueError, match="below 5 agents"):
        ErlangC.from_rate(5, 120, 180)
