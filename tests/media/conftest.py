"""Fixtures for the media engine tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from media_helpers import EPOCH, MOH, SOUNDS
from patchcard import PatchCard

from firmware.media.clock import VirtualClock
from firmware.media.engine import Engine, EngineConfig


@pytest.fixture
def make_engine(tmp_path: Path) -> Callable[..., tuple[Engine, PatchCard]]:
    """Build an engine on a PatchCard with a virtual clock at EPOCH (echo canceller off)."""

    def make(
        trunks: int = 2, stations: int = 2, dchans: int = 0, **config: Any
    ) -> tuple[Engine, PatchCard]:
        if not MOH.is_dir():
            pytest.fail(f"{MOH} missing: install the Debian package asterisk-moh-opsound-wav")
        card = PatchCard(trunks, stations, dchans)
        settings: dict[str, Any] = {
            "sounds_dir": SOUNDS,
            "moh_dir": MOH,
            "record_dir": tmp_path,
            "echo": False,
        }
        settings.update(config)
        engine = Engine(card, VirtualClock(0.02, EPOCH), EngineConfig(**settings))
        return engine, card

    return make
