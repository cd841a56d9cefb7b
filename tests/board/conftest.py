"""Simulated-card tests: speech renders are cached under $CALLBOX_TEST_CACHE/sim-voices."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault(
    "CALLBOX_SIM_CACHE",
    str(Path(os.environ.get("CALLBOX_TEST_CACHE", "/tmp/callbox-test-cache")) / "sim-voices"),
)
