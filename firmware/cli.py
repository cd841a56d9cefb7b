"""The `callbox` command: one table of subcommands, each imported only when it runs.

Each entry names a module with `main(argv: list[str]) -> int`; the module builds its own
argparse parser with `prog="callbox <name>"`. A laptop running `callbox dsp dtmf` never imports
the media engine, MQTT or DAHDI code.
"""

from __future__ import annotations

import importlib
import sys

# name: (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("firmware.commands.run", "run the box under supervisord (simulated board by default)"),
    "sim": (
        "firmware.commands.sim",
        "run a traffic simulation on the virtual clock, print figures",
    ),
    "config": ("firmware.commands.config", "check a config file (`callbox config check FILE`)"),
    "dsp": ("firmware.dsptools", "run a DSP kernel on WAV files or generate test signals"),
    "isdn": ("firmware.isdn.cli", "the ISDN PRI stack on its own (`callbox isdn peer …`)"),
    "status": ("firmware.commands.status", "show what the running box is doing"),
    "console": ("firmware.console.main", "the technicians' serial console (`--port /dev/ttyS0`)"),
}


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: callbox <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`callbox <command> --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"callbox: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
