"""Options for tests on a real box."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--card", default=None, help="card URL, e.g. dahdi:///etc/dahdi/system.conf")
