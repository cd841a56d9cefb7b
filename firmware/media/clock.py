"""The media clock: the box's one source of time (`now`, epoch seconds).

Tick *k* covers media time `[t0 + k·tick, t0 + (k+1)·tick)`; after `advance()` the clock's `now`
is the end of the tick just processed, so `now == t0 + ticks·tick`.

- `VirtualClock`: `t0` is given; time moves only when the engine advances it, as fast as the
  engine runs (the server adds the lock-step with calld).
- `RealClock`: `t0` is the wall clock at start; `seconds_until_due()` paces the ticks by the
  monotonic clock. If the engine falls more than `max_lag` behind (an overrun, or a paced card
  whose crystal drifts from the system clock), the clock re-anchors to the wall clock.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod


class Clock(ABC):
    mode: str

    def __init__(self, tick_s: float) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick must be positive, got {tick_s}")
        self.tick_s = tick_s
        self.ticks = 0  # ticks processed

    @property
    @abstractmethod
    def now(self) -> float:
        """Media time (epoch seconds) at the end of the last processed tick."""

    def time_of_sample(self, sample: float) -> float:
        """Media time of a sample index counted from tick 0 (8 kHz)."""
        return self.time_of_tick(0) + sample / 8000.0

    @abstractmethod
    def time_of_tick(self, tick: int) -> float:
        """Media time at the start of tick `tick`."""

    def advance(self) -> None:
        self.ticks += 1

    def start(self) -> None:  # noqa: B027 - only the real clock has something to do
        """Called when the tick loop starts (a real clock anchors to the wall clock here)."""

    def seconds_until_due(self) -> float:
        """How long to wait before the next tick may run (0 or less: run it now)."""
        return 0.0


class VirtualClock(Clock):
    mode = "virtual"

    def __init__(self, tick_s: float, epoch: float) -> None:
        super().__init__(tick_s)
        self.epoch = float(epoch)

    @property
    def now(self) -> float:
        return self.time_of_tick(self.ticks)

    def time_of_tick(self, tick: int) -> float:
        return self.epoch + tick * self.tick_s


class RealClock(Clock):
    mode = "real"

    def __init__(self, tick_s: float, *, paced_by_card: bool = False, max_lag: float = 0.5) -> None:
        super().__init__(tick_s)
        self.paced_by_card = paced_by_card
        self.max_lag = max_lag
        self.reanchors = 0
        self.overruns = 0
        self._anchor(time.time(), time.monotonic())

    def start(self) -> None:
        self._anchor(time.time(), time.monotonic())

    def _anchor(self, wall: float, mono: float) -> None:
        self._wall0 = wall - self.ticks * self.tick_s  # media time of tick 0
        self._mono0 = mono - self.ticks * self.tick_s

    @property
    def now(self) -> float:
        return self.time_of_tick(self.ticks)

    def time_of_tick(self, tick: int) -> float:
        return self._wall0 + tick * self.tick_s

    def seconds_until_due(self) -> float:
        if self.paced_by_card:
            return 0.0  # exchange() blocks until the card's next block
        return self._mono0 + self.ticks * self.tick_s - time.monotonic()

    def advance(self) -> None:
        super().advance()
        mono = time.monotonic()
        if self.paced_by_card:
            lag = time.time() - self.now
        else:
            lag = mono - (self._mono0 + self.ticks * self.tick_s)
            if lag > self.tick_s:
                self.overruns += 1
        if abs(lag) > self.max_lag:
            # Only forwards in time: the media clock never runs backwards.
            wall = max(time.time(), self.now)
            self._anchor(wall, mono)
            self.reanchors += 1
