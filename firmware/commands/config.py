"""`callbox config check FILE` and `callbox config hash-pin`.

check: reads the whole config, prints a summary and exits 0, or prints every problem (one line
each: `FILE: key.path: what is wrong (hint)`) on stderr and exits 1.
hash-pin: reads an agent PIN (from the terminal without echo, or one line from stdin) and prints
the salted scrypt hash to paste into `[agents.<id>] pin_hash`.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from firmware.config import ConfigError, default_path, hash_pin, load_config, summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="callbox config", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="check a config file and summarise it")
    check.add_argument("file", nargs="?", help=f"the config (default: {default_path()})")
    check.add_argument("-q", "--quiet", action="store_true", help="no summary when it is good")
    sub.add_parser("hash-pin", help="hash an agent PIN for [agents.<id>] pin_hash")
    args = parser.parse_args(argv)

    if args.action == "hash-pin":
        if sys.stdin.isatty():
            pin = getpass.getpass("agent PIN: ")
            if getpass.getpass("again: ") != pin:
                print("callbox config hash-pin: the PINs differ", file=sys.stderr)
                return 1
        else:
            pin = sys.stdin.readline().strip()
        if not pin.isdigit() or not 4 <= len(pin) <= 12:
            print("callbox config hash-pin: a PIN is 4 to 12 digits", file=sys.stderr)
            return 1
        print(hash_pin(pin))
        return 0

    path = args.file or str(default_path())
    try:
        config = load_config(path)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        n = len(exc.problems)
        print(f"{path}: {n} problem{'s' if n != 1 else ''}; config NOT usable", file=sys.stderr)
        return 1
    if not args.quiet:
        print(summary(config))
    return 0
