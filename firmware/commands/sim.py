"""`callbox sim`: a traffic run of the whole box on the virtual clock; prints the day's figures.

The run is the real box: `callbox-media` (virtual clock, simulated card with the traffic
generator and simulated agents) and `callbox-calld` as two processes, exactly as supervisord runs
them, on a config derived from a base config (default: the dev config) with N nailed-up agents in
one queue behind a one-choice IVR. The figures come from the records the box wrote (queue_log and
CDR database), the way a supervisor's report would compute them, not from the simulator's own
bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

SIM_EPOCH = 1_767_261_600.0  # 2026-01-01 10:00 UTC: every run simulates the same day
FIRST_AGENT = 2001
DEV_CONFIG = Path(__file__).resolve().parent.parent / "dev.toml"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="callbox sim",
        description="Run the whole box on the virtual clock with simulated traffic and print "
        "the day's figures (offered, answered, abandoned, service level, ASA, AHT, occupancy).",
    )
    p.add_argument("--config", type=Path, default=DEV_CONFIG, help="base config (default: dev)")
    p.add_argument("--agents", type=int, default=10, help="simulated agents, one queue")
    p.add_argument("--calls-per-hour", type=float, default=120.0, help="Poisson arrival rate")
    p.add_argument("--aht", type=float, default=180.0, help="mean talk time, seconds (exponential)")
    p.add_argument("--patience", type=float, default=120.0, help="mean caller patience, seconds")
    p.add_argument("--hours", type=float, default=8.0, help="hours of arrivals to simulate")
    p.add_argument("--wrapup", type=float, default=0.0, help="agent wrap-up seconds")
    p.add_argument("--sl-threshold", type=float, default=20.0, help="service-level threshold, s")
    p.add_argument("--trunks", type=int, default=None, help="trunk lines (default: enough)")
    p.add_argument("--mode", choices=("nailed", "ring"), default="nailed", help="station mode")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--speed", default="max", help="'max' (as fast as the box can) or a factor of real time"
    )
    p.add_argument("--keep", type=Path, default=None, help="keep records and logs in this folder")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    if args.agents < 1:
        p.error("--agents must be at least 1")
    if args.speed != "max":
        try:
            if float(args.speed) <= 0:
                raise ValueError
        except ValueError:
            p.error("--speed must be 'max' or a positive factor of real time")
    for name in ("calls_per_hour", "aht", "patience", "hours"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    return args


def default_trunks(agents: int, calls_per_hour: float, aht: float, patience: float) -> int:
    """Enough lines that callers are rarely blocked by the trunks in a sane scenario: the agents'
    calls plus a queue of callers who wait up to their patience (capped at a few handle times)."""
    waiting = calls_per_hour * min(patience, 4 * aht) / 3600.0
    return min(240, agents + math.ceil(waiting + 4 * math.sqrt(waiting + 1)) + 2)


def build_config(base: dict[str, Any], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The run's config: the base config's prompts and sounds, a traffic-run topology."""
    from firmware.commands.run import absolute_paths, sim_url
    from firmware.config import hash_pin

    base = absolute_paths(base, args.config.resolve().parent)
    cfg = {k: v for k, v in base.items() if k not in ("stations", "agents", "queues", "ports")}
    trunks = args.trunks or default_trunks(
        args.agents, args.calls_per_hour, args.aht, args.patience
    )
    box = dict(base.get("box", {}))
    # lock-step every 200 ms of virtual time: plenty for call-center timers, half the round trips
    box.update(clock="virtual", clock_every_ticks=10)
    cfg["box"] = box
    zone = box.get("tone_zone", "us")
    pin = f"{secrets.randbelow(10**6):06d}"
    card = sim_url(
        "sim://",
        {
            "trunks": trunks,
            "stations": args.agents,
            "seed": args.seed,
            "zone": zone,
            "control": workdir / "sim.sock",
            "start": SIM_EPOCH,
            "traffic": float(args.calls_per_hour),
            "aht": float(args.aht),
            "patience": float(args.patience),
            "ivr": "1:1",
            "agent_ends": 0,
            "agents": args.agents,
            "agent_first": FIRST_AGENT,
            "pin": pin,
            "agent_mode": args.mode,
        },
    )  # no `wrapup=`: the box's wrap-up timer (the queue's wrapup_s) ends each wrap-up
    cfg["board"] = dict(base.get("board", {}), card=card)
    box["virtual_start"] = SIM_EPOCH
    media = dict(base.get("media", {}))
    media["socket"] = str(workdir / "media.sock")
    cfg["media"] = media
    cfg["records"] = dict(base.get("records", {}), dir=str(workdir / "records"))
    cfg["mqtt"] = dict(base.get("mqtt", {}), enabled=False)
    cfg["recording"] = {"enabled": False}

    menu = dict(base["ivr"]["menus"][next(iter(base["ivr"]["menus"]))])
    menu["choices"] = {"1": "queue:sim"}
    cfg["ivr"] = {"menus": {"main": menu}}
    cfg["ports"] = {
        "trunks": {
            "sim": {
                "channels": f"1-{trunks}",
                "answer_after_rings": 2,
                "callerid": "bell202",
                "ivr_menu": "main",
                "number": "5550100",
            }
        }
    }
    first_queue = dict(next(iter(base["queues"].values())))
    agents, stations, pins, seating = {}, {}, {}, {}
    pin_hash = hash_pin(pin)
    for i in range(args.agents):
        agent_id, station_id = str(FIRST_AGENT + i), str(301 + i)
        agents[agent_id] = {"name": f"Agent {i + 1}", "pin_hash": pin_hash}
        stations[station_id] = {"channel": trunks + 1 + i, "mode": args.mode}
        pins[agent_id] = pin
        seating[station_id] = agent_id
    cfg["agents"], cfg["stations"] = agents, stations
    cfg["queues"] = {
        "sim": {
            "members": list(agents),
            "strategy": "longest-idle",
            "ring_timeout_s": first_queue.get("ring_timeout_s", 15),
            "wrapup_s": args.wrapup,
            "sl_threshold_s": args.sl_threshold,
            "moh_class": "default",
            "whisper": first_queue.get("whisper", []),
        }
    }
    cfg["features"] = dict(base.get("features", {}))
    cfg["sim"] = {
        "seed": args.seed,
        "calls_per_hour": args.calls_per_hour,
        "aht_s": args.aht,
        "patience_s": args.patience,
        "hours": args.hours,
        "answer_delay_s": base.get("sim", {}).get("answer_delay_s", 3.0),
        "wrapup_s": args.wrapup,
        "choice_weights": {"1": 1.0},
        "agent_pins": pins,
        "seating": seating,
    }
    return cfg


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with open(args.config, "rb") as fh:
        base = tomllib.load(fh)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="callbox-sim-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        cfg = build_config(base, args, workdir)
        cfg_path = workdir / "sim.toml"
        cfg_path.write_text(tomli_w.dumps(cfg))
        from firmware.config import load_config

        load_config(cfg_path)  # a bad run config fails here, with the config's own message
        started = time.monotonic()
        sim_seconds = run_box(cfg_path, workdir, args)
        wall = time.monotonic() - started
        figures = report(cfg_path, args)
        figures["simulated_seconds"] = round(sim_seconds, 1)
        figures["wall_seconds"] = round(wall, 1)
        figures["speedup"] = round(sim_seconds / wall, 1) if wall > 0 else None
        if args.json:
            print(json.dumps(figures))
        else:
            for key, value in figures.items():
                print(f"{key:>28}: {value}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def run_box(cfg_path: Path, workdir: Path, args: argparse.Namespace) -> float:
    """Start media + calld, run the traffic to its end, stop both; return simulated seconds."""
    logs = [open(workdir / name, "wb") for name in ("media.log", "calld.log")]  # noqa: SIM115
    python = sys.executable
    procs = [
        subprocess.Popen(
            [python, "-m", "firmware.media.main", "--config", str(cfg_path), "--log-level",
             "warning"],
            stdout=logs[0], stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [python, "-m", "firmware.calld.main", "--config", str(cfg_path), "--log-level",
             "warning"],
            stdout=logs[1], stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    try:
        control = SimControl(workdir / "sim.sock", procs, workdir)
        t0 = control.call("time")["t"]
        stop_at = t0 + args.hours * 3600.0
        drain_limit = stop_at + max(3600.0, 20 * (args.aht + args.patience))
        traffic_on = True
        while True:
            now = control.call("time")["t"]
            if traffic_on and now >= stop_at:
                control.call("traffic", on=False)
                traffic_on = False
            if not traffic_on:
                stats = control.call("stats")["traffic"]
                if stats is None:
                    raise SimRunError("the simulated card has no traffic generator")
                if stats["up"] <= 0:  # every call placed has ended: the day is drained
                    return now - t0
                if now >= drain_limit:
                    raise SimRunError(f"calls still up {now - stop_at:.0f} s after arrivals ended")
            time.sleep(0.2)
    finally:
        _terminate(procs)
        for fh in logs:
            fh.close()


class SimRunError(RuntimeError):
    """The box did not run the traffic to its end (a process died, or calls never ended)."""


class SimControl:
    """A client of the simulated card's control socket (board/sim/control.py)."""

    def __init__(self, path: Path, procs: list[subprocess.Popen[bytes]], workdir: Path) -> None:
        import socket

        self._procs, self._workdir, self._id = procs, workdir, 0
        deadline = time.monotonic() + 60
        while True:
            self._check_alive()
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(str(path))
                break
            except OSError:
                self._sock.close()
                if time.monotonic() > deadline:
                    raise SimRunError(f"sim control socket {path} never came up") from None
                time.sleep(0.1)
        self._file = self._sock.makefile("rwb")

    def _check_alive(self) -> None:
        for proc, name in zip(self._procs, ("media", "calld"), strict=True):
            if proc.poll() is not None:
                tail = (self._workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise SimRunError(f"callbox-{name} exited with {proc.returncode}:\n{tail}")

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        self._check_alive()
        self._id += 1
        self._file.write(json.dumps({"id": self._id, "cmd": cmd, **args}).encode() + b"\n")
        self._file.flush()
        while True:
            line = self._file.readline()
            if not line:
                self._check_alive()
                raise SimRunError("the simulated card closed its control socket")
            reply: dict[str, Any] = json.loads(line)
            if reply.get("id") == self._id:
                if not reply.get("ok"):
                    raise SimRunError(f"sim control {cmd}: {reply.get('error')}")
                return reply


def report(cfg_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The day's figures from the box's own records."""
    from firmware.config import load_config
    from firmware.records.reports import figures

    cfg = load_config(cfg_path)
    db = cfg.records.dir / cfg.records.database
    end = SIM_EPOCH + args.hours * 3600.0
    f = figures(db, SIM_EPOCH, end, sl_threshold_s=args.sl_threshold).to_dict()
    out: dict[str, Any] = {
        "agents": args.agents,
        "calls_per_hour": args.calls_per_hour,
        "hours": args.hours,
        "offered": f["offered"],
        "answered": f["answered"],
        "abandoned": f["abandoned"],
        "service_level": f["service_level"],
        "sl_threshold_s": args.sl_threshold,
        "asa_s": f["asa"],
        "aht_s": f["aht"],
        "talk_s": f["talk"],
        "wrapup_s": f["wrapup"],
        "occupancy": f["occupancy"],
    }
    return {k: _json_number(v) for k, v in out.items()}


def _json_number(value: Any) -> Any:
    """Round floats for reading; a figure that cannot be computed is null, never NaN."""
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def _terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
