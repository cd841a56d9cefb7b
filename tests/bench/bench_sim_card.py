"""The simulated card's own cost: `exchange()` at 24 trunks + 48 stations, and a traffic run.

1. Tick cost. 48 simulated agents (ring mode) logged in on 48 stations; 24 simulated callers on
   the 24 trunks, answered by a minimal box (tests/board/switchboard.py: greeting, ring, whisper,
   duplex bridge) and in conversation (espeak-ng speech, turn-taking, G.168 D2 echo, -60 dBm0
   noise, µ-law at the card edge, the listener identifying voices every 100 ms). Median and p99
   of `SimCard.exchange()` as a share of the 20 ms tick, wall and thread CPU time; the idle card
   (nothing going on) beside it.
2. Side by side, per tick on the same 24 off-hook trunks: the card's batched line echo (one
   Toeplitz matrix product per G.168 model) against the echo engineer's per-line reference
   `cython_ext.echo_paths.LineEcho` (the same G.168 paths), and the card's 64 K-entry G.711
   companding table against encode + decode with `cython_ext.g711`; ratios printed.
3. A traffic run on the virtual clock: Poisson calls at --cph calls/hour (AHT 180 s, patience
   120 s) onto 24 trunks, 48 agents, the minimal box: virtual seconds per wall second (card +
   box), the card's share, and what a one-day run of the card would take.

    python3 tests/bench/bench_sim_card.py [--ticks 1500] [--hours 0.25] [--cph 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "board"))
os.environ.setdefault(
    "CALLBOX_SIM_CACHE",
    str(Path(os.environ.get("CALLBOX_TEST_CACHE", "/tmp/callbox-test-cache")) / "sim-voices"),
)

from switchboard import Switchboard  # noqa: E402

from board.sim.card import SimCard  # noqa: E402
from board.sim.traffic import TrafficParams  # noqa: E402
from cython_ext import g711  # noqa: E402
from cython_ext.echo_paths import LineEcho  # noqa: E402

TICK_S = 0.020
START = 1_700_000_000


class Timed:
    def __init__(self, card: SimCard) -> None:
        self.card = card
        self.orig = card.exchange
        self.wall: list[float] = []
        self.cpu: list[float] = []
        card.exchange = self  # type: ignore[method-assign]

    def __call__(self, tx: np.ndarray) -> np.ndarray:
        t0, c0 = time.perf_counter(), time.thread_time()
        rx = self.orig(tx)
        self.wall.append(time.perf_counter() - t0)
        self.cpu.append(time.thread_time() - c0)
        return rx

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()


def share(xs: list[float]) -> str:
    a = np.asarray(xs) / TICK_S * 100
    return f"median {np.median(a):6.2f} %   p99 {np.percentile(a, 99):6.2f} %"


def busy_card() -> tuple[SimCard, Switchboard]:
    card = SimCard(f"sim://?trunks=24&stations=48&start={START}&seed=3&agents=48&echo=D2")
    sb = Switchboard(card, detect_dtmf=False)
    sb.run(10.0)
    for i in range(24):
        card.call(i + 1, number="2125550100", name="BENCH", hold=3600, patience=3600)
    sb.run(40.0)
    return card, sb


def tick_cost(ticks: int) -> None:
    print("1. SimCard.exchange() per 20 ms tick, 24 trunks + 48 stations")
    card, sb = busy_card()
    talking = sum(1 for p in card.network.parties.values() if p.state == "talking")
    timed = Timed(card)
    for _ in range(ticks):
        sb.step()
    print(f"   24 calls up ({talking} people talking)   wall: {share(timed.wall)}")
    print(f"   {'':35}cpu:  {share(timed.cpu)}")
    idle = SimCard(f"sim://?trunks=24&stations=48&start={START}&seed=3")
    t_idle = Timed(idle)
    tx = np.zeros((72, 160), dtype=np.int16)
    for _ in range(ticks):
        idle.exchange(tx)
    print(f"   idle card                          wall: {share(t_idle.wall)}")
    print(f"   {'':35}cpu:  {share(t_idle.cpu)}")


def side_by_side(ticks: int) -> None:
    print("2. side by side on 24 off-hook trunks, per tick")
    rng = np.random.default_rng(1)
    blocks = (rng.standard_normal((ticks, 24, 160)) * 3000).astype(np.int16)
    card = SimCard(f"sim://?trunks=24&stations=0&start={START}&echo=D2&noise=off&law=linear")
    net = card.network
    net.offhook_trunks[:] = True
    rows = np.arange(24)
    t0 = time.thread_time()
    for k in range(ticks):
        net.heard[:] = blocks[k]
        net._line_echo(rows)
    ours = (time.thread_time() - t0) / ticks
    lines = [LineEcho("D2", 5.0, 12.0) for _ in range(24)]
    t0 = time.thread_time()
    for k in range(ticks):
        for i, line in enumerate(lines):
            line.process(blocks[k, i])
    ref = (time.thread_time() - t0) / ticks
    print(
        f"   line echo: card Toeplitz sgemm {ours * 1e6:6.1f} µs   LineEcho ×24 {ref * 1e6:6.1f} µs"
        f"   ratio {ref / ours:5.1f}×"
    )
    ulaw = SimCard(f"sim://?trunks=72&stations=0&start={START}&echo=off&noise=off").network
    x = (rng.standard_normal((72, 160)) * 3000).astype(np.int16)
    t0 = time.thread_time()
    for _ in range(ticks):
        ulaw._companded(x)
    table = (time.thread_time() - t0) / ticks
    t0 = time.thread_time()
    for _ in range(ticks):
        g711.ulaw_to_linear(g711.linear_to_ulaw(x.reshape(-1)))
    codec = (time.thread_time() - t0) / ticks
    print(
        f"   µ-law 72×160: card table {table * 1e6:7.1f} µs   "
        f"g711 encode+decode {codec * 1e6:7.1f} µs"
        f"   ratio {codec / table:5.1f}×"
    )


def traffic_run(hours: float, cph: float) -> None:
    print(f"3. traffic run: {cph:g} calls/h, AHT 180 s, patience 120 s, {hours:g} h virtual")
    card = SimCard(f"sim://?trunks=24&stations=48&start={START}&seed=4&agents=48&echo=D2")
    card.network.voices.prepare()
    sb = Switchboard(card, detect_dtmf=False)
    sb.run(10.0)
    card.start_traffic(TrafficParams(calls_per_hour=cph, aht=180, patience=120, ivr={"": 1}))
    timed = Timed(card)
    t0, c0 = time.perf_counter(), time.process_time()
    sb.run(hours * 3600)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    card_cpu = float(np.sum(timed.cpu))
    stats = card.network.traffic.stats() if card.network.traffic else {}
    virtual = hours * 3600
    print(f"   offered {stats.get('offered')}, blocked {stats.get('blocked')}")
    print(f"   ended: {stats.get('ended')}")
    print(f"   card + box: {virtual / wall:6.1f}× real time (wall), {virtual / cpu:6.1f}× (cpu)")
    print(
        f"   card alone: {virtual / card_cpu:6.1f}× real time (cpu); a one-day run of the card: "
        f"{86400 / (virtual / card_cpu) / 60:5.1f} min of CPU"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=1500)
    ap.add_argument("--hours", type=float, default=0.25)
    ap.add_argument("--cph", type=float, default=400.0)
    args = ap.parse_args()
    tick_cost(args.ticks)
    side_by_side(args.ticks)
    traffic_run(args.hours, args.cph)


if __name__ == "__main__":
    main()
