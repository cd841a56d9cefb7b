"""Render callbox's own prompts with espeak-ng (8 kHz mono 16-bit WAV) into this folder.

The rendered WAVs are committed, so a box or a test never needs espeak-ng at run time; run
`python3 -m firmware.prompts.render` after changing `PROMPTS` (needs espeak-ng and sox).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# file stem -> what it says
PROMPTS: dict[str, str] = {
    "main-menu": "Thank you for calling. For sales, press 1. For support, press 2.",
    "sales-call": "Sales call.",
    "support-call": "Support call.",
    "all-agents-busy": "All our agents are busy. Please call again later. Goodbye.",
}


def render(stem: str, text: str, folder: Path = HERE) -> Path:
    out = folder / f"{stem}.wav"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), text], check=True)
        subprocess.run(
            [
                "sox",
                str(raw),
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                str(out),
            ],
            check=True,
        )
    return out


def main() -> int:
    for stem, text in PROMPTS.items():
        print(render(stem, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
