"""Helpers shared by the media tests (real prompts and music from Debian's Asterisk packages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cython_ext.wavfile import read_wav
from firmware.media import protocol as p
from firmware.media.engine import Engine

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")  # asterisk-core-sounds-en-wav
MOH = Path("/usr/share/asterisk/moh")  # asterisk-moh-opsound-wav
EPOCH = 1_700_000_000.0


def sound(name: str) -> np.ndarray:
    path = SOUNDS / f"{name}.wav"
    if not path.is_file():
        pytest.fail(f"{path} missing: install the Debian package asterisk-core-sounds-en-wav")
    return read_wav(path)


def run(engine: Engine, ticks: int) -> list[p.Event]:
    events: list[p.Event] = []
    for _ in range(ticks):
        events += engine.tick()
    return events
