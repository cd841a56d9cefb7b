"""A one-day traffic run of the whole box on the virtual clock: the sim's speed-up over real time.

Runs `callbox sim` as a user would (callbox-media with the simulated card, callbox-calld, real
audio both ways, the records written) with a realistic call-center day: 15 agents, 240 calls/h,
AHT 180 s, patience 120 s (offered load 12 E, 80 % occupancy), 24 h of arrivals. Prints:

- virtual seconds per wall second (the speed-up against real time, the reference), and what a
  whole day takes at that pace when a shorter `--hours` was run;
- the CPU split between the processes: callbox-media (media engine + simulated card in one
  process), callbox-calld, and the `callbox sim` driver; per virtual second and per 20 ms tick;
- the day's figures (offered, answered, abandoned, service level, ASA, AHT, occupancy).

    python3 tests/bench/bench_sim_day.py [--hours 24] [--agents 15] [--cph 240] [--aht 180]

The card's own share of the media process is measured apart by bench_sim_card.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICK_S = 0.020
CLK_TCK = 100.0  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def box_processes(workdir: Path) -> dict[str, int]:
    """The media and calld processes of the run using `workdir` (by their command lines)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(cmd).decode(errors="replace")
        if str(workdir) not in text:
            continue
        if "firmware.media.main" in text:
            found["media"] = int(entry.name)
        elif "firmware.calld.main" in text:
            found["calld"] = int(entry.name)
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=24.0, help="hours of arrivals (a day: 24)")
    ap.add_argument("--agents", type=int, default=15)
    ap.add_argument("--cph", type=float, default=240.0, help="calls per hour")
    ap.add_argument("--aht", type=float, default=180.0)
    ap.add_argument("--patience", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-sim-day-"))
    cmd = [
        sys.executable, "-m", "firmware.cli", "sim", "--agents", str(args.agents),
        "--calls-per-hour", f"{args.cph:g}", "--aht", f"{args.aht:g}",
        "--patience", f"{args.patience:g}", "--hours", f"{args.hours:g}",
        "--seed", str(args.seed), "--speed", "max", "--json", "--keep", str(workdir),
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cpu: dict[str, float] = {}
    pids: dict[str, int] = {}
    while proc.poll() is None:
        if len(pids) < 2:
            pids = box_processes(workdir)
        for name, pid in pids.items():
            seconds = cpu_seconds(pid)
            if seconds is not None:
                cpu[name] = seconds  # the last reading before the process ends
        time.sleep(0.5)
    wall = time.monotonic() - started
    out, err = proc.communicate()
    if proc.returncode != 0:
        print(err.decode(errors="replace")[-3000:], file=sys.stderr)
        return 1
    import resource

    driver = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = json.loads(out.decode().strip().splitlines()[-1])
    virtual = figures["simulated_seconds"]
    ticks = virtual / TICK_S
    speedup = virtual / wall
    print(
        f"one-day traffic run: {args.agents} agents, {args.cph:g} calls/h, AHT {args.aht:g} s, "
        f"patience {args.patience:g} s, {args.hours:g} h of arrivals (+ drain)"
    )
    print(f"  virtual {virtual:.0f} s in {wall:.1f} s wall: speed-up {speedup:.1f}x real time")
    if args.hours < 24:
        print(f"  a 24 h day at this pace: {24 * 3600 / speedup / 60:.0f} min wall")
    driver_cpu = driver.ru_utime + driver.ru_stime - sum(cpu.values())
    parts = {**cpu, "sim driver": max(0.0, driver_cpu)}
    total = sum(parts.values())
    for name, seconds in parts.items():
        print(
            f"  {name:>10}: {seconds:7.1f} s CPU ({seconds / max(total, 1e-9):5.1%}), "
            f"{1e3 * seconds / ticks:6.3f} ms per tick, {seconds / virtual * 100:5.1f} % of a core "
            f"per virtual second"
        )
    keys = ("offered", "answered", "abandoned", "service_level", "asa_s", "aht_s", "occupancy")
    print("  figures: " + ", ".join(f"{k}={figures[k]}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
