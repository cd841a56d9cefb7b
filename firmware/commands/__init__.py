"""The `callbox` subcommands, one module each (see firmware/cli.py)."""
