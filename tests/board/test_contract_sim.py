"""The card contract suite (card_contract.py) on the simulated card."""

from __future__ import annotations

import pytest
from card_contract import *  # noqa: F403 - the contract's tests and fixtures


@pytest.fixture(
    params=[
        "sim://?trunks=2&stations=3&seed=1&start=1700000000",
        "sim://?trunks=1&stations=1&law=alaw&zone=uk&echo=all&noise=off&block=80",
        "sim://?trunks=2&stations=2&seed=1&pri=T1",  # bchan/dchan channels (board/sim/pri.py)
        "sim://?trunks=1&stations=1&law=alaw&zone=uk&pri=E1&block=80",
    ]
)
def card_url(request: pytest.FixtureRequest) -> str:
    return str(request.param)
