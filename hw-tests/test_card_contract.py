"""The card contract suite on a real card: `pytest hw-tests --card dahdi:///etc/dahdi/system.conf`.

The tests are tests/board/card_contract.py, the same ones the simulated card passes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "board"))

from card_contract import *  # noqa: E402, F403


@pytest.fixture
def card_url(request: pytest.FixtureRequest) -> str:
    url = request.config.getoption("--card")
    if not url:
        pytest.fail("hw-tests need --card URL (e.g. --card dahdi:///etc/dahdi/system.conf)")
    return str(url)
