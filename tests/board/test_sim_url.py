"""sim:// URLs: every parameter is checked and a bad one is named in the error."""

from __future__ import annotations

import pytest

from board import open_card
from board.card import ChannelKind
from board.errors import BoardURLError
from board.sim.card import SimCard


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("trunks=x", "trunks"),
        ("trunks=-1", "trunks"),
        ("stations=1.5", "stations"),
        ("trunks=0&stations=0", "trunks=0"),
        ("colour=red", "colour"),
        ("trunks=1&trunks=2", "trunks"),
        ("zone=mars", "zone"),
        ("ring=mars", "ring"),
        ("cid=morse", "cid"),
        ("law=mulaw", "law"),
        ("noise=loud", "noise"),
        ("noise=-10", "noise"),
        ("echo=D11", "D11"),
        ("erl=30", "erl"),
        ("delay_ms=100", "delay_ms"),
        ("echo=off&erl=12", "erl"),
        ("traffic=0", "traffic"),
        ("aht=100", "aht"),
        ("traffic=10&ivr=1:x", "ivr"),
        ("traffic=10&ivr=1a:1", "ivr"),
        ("stations=2&agents=3", "agents"),
        ("pin=12ab", "pin"),
        ("agent_mode=sleepy", "agent_mode"),
        ("block=0", "block"),
        ("start=yesterday", "start"),
        ("seed=-3", "seed"),
    ],
)
def test_a_bad_parameter_is_named(query: str, named: str) -> None:
    with pytest.raises(BoardURLError) as info:
        open_card(f"sim://?{query}")
    assert named in str(info.value)
    assert info.value.errno != 0


def test_a_host_or_path_is_refused() -> None:
    with pytest.raises(BoardURLError, match="no host or path"):
        SimCard("sim://box1/?trunks=1")


def test_trunks_come_first_then_stations() -> None:
    with open_card("sim://?trunks=3&stations=2") as card:
        kinds = [(c.number, c.kind, c.name) for c in card.channels]
    assert kinds == [
        (1, ChannelKind.FXO, "sim/trunk/1"),
        (2, ChannelKind.FXO, "sim/trunk/2"),
        (3, ChannelKind.FXO, "sim/trunk/3"),
        (4, ChannelKind.FXS, "sim/station/1"),
        (5, ChannelKind.FXS, "sim/station/2"),
    ]


def test_defaults_follow_the_zone() -> None:
    us = SimCard("sim://?zone=us").config
    uk = SimCard("sim://?zone=uk").config
    assert (us.law, us.cid, us.ring) == ("ulaw", "bell202", "us")
    assert (uk.law, uk.cid, uk.ring) == ("alaw", "v23", "uk")


def test_the_virtual_clock_advances_one_block_per_exchange() -> None:
    import numpy as np

    card = SimCard("sim://?trunks=1&stations=1&start=1700000000&block=80")
    assert card.now == 1_700_000_000.0
    tx = np.zeros((2, 80), dtype=np.int16)
    for _ in range(1000):
        card.exchange(tx)
    assert card.now == pytest.approx(1_700_000_000.0 + 1000 * 80 / 8000, abs=1e-6)
