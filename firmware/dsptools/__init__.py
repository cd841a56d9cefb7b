"""`callbox dsp …`: run the DSP kernels on WAV files, generate test signals.

Output formats are an interface other tools use: keep them stable (see the kernels' README).
Every tool processes all the files it is given; a bad file gets one clear line on stderr naming
it, the others are still processed, and the exit status is 1 if any file failed.
"""

from __future__ import annotations

import importlib
import sys

TOOLS: dict[str, tuple[str, str]] = {
    "dtmf": ("firmware.dsptools.dtmf", "detect DTMF digits: one JSON line per digit"),
    "callerid": ("firmware.dsptools.callerid", "decode caller ID: one JSON line per file"),
    "cpt": ("firmware.dsptools.cpt", "detect call-progress tones: one JSON line per tone"),
    "echo": (
        "firmware.dsptools.echo",
        "cancel line echo: --far FAR.wav --near NEAR.wav --out OUT.wav",
    ),
    "gen": ("firmware.dsptools.gen", "generate test signals: gen dtmf|tone|callerid … -o FILE.wav"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        width = max(len(n) for n in TOOLS)
        print("usage: callbox dsp <tool> [options] FILE...\n\ntools:")
        for name, (_, help_) in TOOLS.items():
            print(f"  {name:<{width}}  {help_}")
        return 0 if argv else 2
    if argv[0] not in TOOLS:
        print(f"callbox dsp: unknown tool {argv[0]!r}", file=sys.stderr)
        return 2
    return int(importlib.import_module(TOOLS[argv[0]][0]).main(argv[1:]) or 0)
