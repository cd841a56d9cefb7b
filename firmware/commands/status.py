"""`callbox status`: what the running box is doing, from calld's admin socket.

    callbox status [--socket PATH | --config FILE] [--json]

Without `--socket`, asks the calld of `callbox run` (its runtime dir) if one runs, else the calld
of the config (`calld.sock` beside the config's media socket; default /etc/callbox/callbox.toml).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from firmware.calld.admin import request
from firmware.status.view import BoxView, render


def find_socket(args: argparse.Namespace) -> Path:
    if args.socket:
        return Path(args.socket)
    if args.config is None:
        from firmware.commands.run import default_runtime_dir

        candidate = default_runtime_dir() / "calld.sock"
        if candidate.exists():
            return candidate
    from firmware.config import load_config

    config = load_config(args.config or Path("/etc/callbox/callbox.toml"))
    return config.media.socket.with_name("calld.sock")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="callbox status", description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", type=Path, help="calld's admin socket")
    ap.add_argument("--config", type=Path, help="the box's config (to find the socket)")
    ap.add_argument("--json", action="store_true", help="print the whole snapshot as JSON")
    args = ap.parse_args(argv)
    try:
        path = find_socket(args)
        reply = asyncio.run(request(path, "snapshot"))
    except (OSError, ValueError, TimeoutError) as exc:
        print(f"callbox status: cannot ask calld: {exc}", file=sys.stderr)
        return 1
    if not reply.get("ok"):
        print(f"callbox status: {reply.get('error')}", file=sys.stderr)
        return 1
    snap = reply["snapshot"]
    if args.json:
        json.dump(snap, sys.stdout, indent=2)
        print()
        return 0
    v = snap.get("view", {})
    view = BoxView(
        status=v.get("status", {}),
        queues=v.get("queues", {}),
        agents=v.get("agents", {}),
        ports={int(k): val for k, val in v.get("ports", {}).items()},
        spans=v.get("spans", {}),
        recent=v.get("recent", []),
    )
    media, mqtt = snap.get("media", {}), snap.get("mqtt")
    box = snap.get("box", {})
    for line in render(
        view,
        media.get("now"),
        color=sys.stdout.isatty(),
        title=f"{box.get('site')}/{box.get('box')}",
    ):
        print(line)
    print()
    print(f"media: {media.get('state')} clock {media.get('clock')} errors {media.get('errors')}")
    if mqtt:
        print(
            f"mqtt: {'connected' if mqtt.get('connected') else 'NOT connected'}, "
            f"{mqtt.get('published')} published, {mqtt.get('commands_rejected')} commands rejected"
        )
    else:
        print("mqtt: disabled")
    return 0
