"""Media tick cost on the simulated card: 24 trunks + 48 stations, 24 calls up.

Each call is a simulated caller on a trunk (answered by the engine) bridged duplex to an
off-hook station; both sides talk (real speech: the Asterisk prompts, played back to back), with
DTMF detection on all 48 bridged channels and the line echo canceller on every trunk when the
echo kernel is available (the card adds G.168 D2 line echo and -60 dBm0 noise). The other 24
stations are idle on hook.

Printed per configuration: median and p99 time of `Engine.tick()` as a share of the 20 ms tick,
split into the whole tick (including the simulated card's own `exchange()`, i.e. the simulated
telephone network) and the engine alone (tick minus the card), each as elapsed wall time and as
the thread's CPU time (on a shared, loaded machine the wall p99 mostly measures preemption by
other processes; the CPU time does not). Side by side in one run:
- compiled DSP kernels (what the box runs),
- the same with the pure-Python reference twins (`impl="reference"`, fewer ticks: slow),
- bridging only (no detectors, no canceller), and the idle box (no calls).

    python3 tests/bench/bench_media_tick.py [--ticks 1500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from board import open_card  # noqa: E402
from cython_ext.wavfile import read_wav  # noqa: E402
from firmware.media import protocol as p  # noqa: E402
from firmware.media.clock import VirtualClock  # noqa: E402
from firmware.media.engine import Engine, EngineConfig  # noqa: E402

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TRUNKS, STATIONS, CALLS = 24, 48, 24
TICK_MS = 20


class TimedCard:
    """Wraps a card and adds up the time spent inside it."""

    def __init__(self, card: Any) -> None:
        self._card = card
        self.inside = 0
        self.inside_cpu = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._card, name)

    def exchange(self, tx: np.ndarray) -> np.ndarray:
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        try:
            return self._card.exchange(tx)  # type: ignore[no-any-return]
        finally:
            self.inside += time.perf_counter_ns() - t0
            self.inside_cpu += time.thread_time_ns() - c0

    def events(self) -> list[Any]:
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        try:
            return self._card.events()  # type: ignore[no-any-return]
        finally:
            self.inside += time.perf_counter_ns() - t0
            self.inside_cpu += time.thread_time_ns() - c0


def speech(seconds: float, offset: int) -> np.ndarray:
    files = sorted(SOUNDS.glob("*.wav"))
    out, total, i = [], 0, offset
    while total < seconds * 8000:
        s = read_wav(files[i % len(files)])
        out.append(s)
        total += len(s)
        i += 7
    return np.concatenate(out)


def scenario(calls: int, dsp: bool, impl: str | None, ticks: int) -> dict[str, float]:
    card = open_card(f"sim://?trunks={TRUNKS}&stations={STATIONS}&seed=1&echo=D2&noise=-60")
    timed = TimedCard(card)
    config = EngineConfig(tick_ms=TICK_MS, echo=dsp, impl=impl)
    engine = Engine(timed, VirtualClock(TICK_MS / 1000, card.now), config)  # type: ignore[arg-type, attr-defined]
    seconds = (ticks + 200) * TICK_MS / 1000
    callers = [card.call(t, number=f"55501{t:02d}", behave=False) for t in range(1, calls + 1)]  # type: ignore[attr-defined]
    for _ in range(10):
        engine.tick()
    for i in range(calls):
        trunk, station = 1 + i, TRUNKS + 1 + i
        engine.apply(p.Hook(channel=trunk, offhook=True))
        card.phone(station).off_hook()  # type: ignore[attr-defined]
        engine.apply(p.Connect(a=trunk, b=station))
        if dsp:
            engine.apply(p.Detect(channel=trunk, dtmf=True))
            engine.apply(p.Detect(channel=station, dtmf=True))
    for _ in range(5):
        engine.tick()
    for i, caller in enumerate(callers):
        caller.say(speech(seconds, i))
        card.phone(TRUNKS + 1 + i).speak(speech(seconds, 1000 + i))  # type: ignore[attr-defined]
    for _ in range(50):  # warm up: caches, canceller convergence
        engine.tick()
    total, alone = np.zeros(ticks), np.zeros(ticks)
    total_cpu, alone_cpu = np.zeros(ticks), np.zeros(ticks)
    for k in range(ticks):
        timed.inside = timed.inside_cpu = 0
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        engine.tick()
        dt, dc = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
        total[k], total_cpu[k] = dt, dc
        alone[k], alone_cpu[k] = dt - timed.inside, dc - timed.inside_cpu
    snap = engine.snapshot()
    engine.close()
    tick_ns = TICK_MS * 1e6
    echo_on = sum(1 for c in snap["channels"] if c.get("echo"))
    return {
        "total_median": float(np.median(total)) / tick_ns,
        "total_p99": float(np.percentile(total, 99)) / tick_ns,
        "engine_median": float(np.median(alone)) / tick_ns,
        "engine_p99": float(np.percentile(alone, 99)) / tick_ns,
        "total_cpu_median": float(np.median(total_cpu)) / tick_ns,
        "total_cpu_p99": float(np.percentile(total_cpu, 99)) / tick_ns,
        "engine_cpu_median": float(np.median(alone_cpu)) / tick_ns,
        "engine_cpu_p99": float(np.percentile(alone_cpu, 99)) / tick_ns,
        "echo_channels": echo_on,
        "impl": snap["dsp"]["implementation"],
        "ticks": ticks,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=1500, help="ticks measured (compiled)")
    ap.add_argument("--ref-ticks", type=int, default=100, help="ticks measured (reference)")
    args = ap.parse_args()
    rows = [
        ("24 calls, DSP on, compiled", scenario(CALLS, True, "compiled", args.ticks)),
        ("24 calls, DSP on, reference", scenario(CALLS, True, "reference", args.ref_ticks)),
        ("24 calls, bridging only", scenario(CALLS, False, None, args.ticks)),
        ("idle box (no calls)", scenario(0, False, None, args.ticks)),
    ]
    print(f"media tick ({TICK_MS} ms), sim card {TRUNKS} trunks + {STATIONS} stations")
    print("share of the tick: median / p99; wall = elapsed, cpu = this thread's CPU time")
    head = ("whole tick wall", "engine wall", "whole tick cpu", "engine cpu")
    print(f"{'configuration':30} {'ticks':>5} {'EC':>3} " + " ".join(f"{h:>17}" for h in head))
    for name, r in rows:
        cells = [
            f"{r[k + '_median']:>7.1%} / {r[k + '_p99']:>6.1%}"
            for k in ("total", "engine", "total_cpu", "engine_cpu")
        ]
        print(f"{name:30} {r['ticks']:>5} {r['echo_channels']:>3} " + " ".join(cells))
    comp, ref = rows[0][1], rows[1][1]
    print(
        f"reference / compiled (engine alone, CPU, median): "
        f"{ref['engine_cpu_median'] / comp['engine_cpu_median']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
