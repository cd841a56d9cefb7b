"""A scriptable analog phone on an FXS port.

The box rings it (`ring(on)`: the card applies the zone's cadence; the phone's owner is told of
each burst); the phone goes off hook (ring trip: ringing stops at once), on hook, or flashes
(on hook for `FLASH_SECONDS`, reported as one `HookFlash`); it dials DTMF as real audio, speaks
WAV clips, and records what it hears. Its voice only reaches the box while it is off hook.

A phone is always occupied by a party: its own scripted one ("station-K") until an agent sits
down at it (`people.Agent`), which then hears its rings and speaks through it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from board.card import HookFlash, OffHook, OnHook
from board.sim import signals

if TYPE_CHECKING:
    from collections.abc import Callable

    from board.sim.network import Network, Recorder, Timer
    from board.sim.people import Party

log = logging.getLogger(__name__)

FLASH_SECONDS = 0.5


class PhoneError(RuntimeError):
    """A phone was asked to do something its state does not allow (dial on hook, …)."""


class Phone:
    def __init__(self, net: Network, row: int, channel: int, cadence: signals.RingCadence) -> None:
        from board.sim.people import Party

        self.net, self.row, self.channel, self.cadence = net, row, channel, cadence
        self.index = row - net.trunks + 1
        self.name = f"station-{self.index}"
        self.offhook = False
        self.ringing = False  # the box is ringing this station
        self.ring_on = False  # a ring burst is on now
        self.flashing = False
        self._step = 0
        self._timer: Timer | None = None
        self.outlet = net.party_outlet(row)
        self.own_party = Party(net, self.name, "phone")
        self.own_party.channel = channel
        self.occupant: Party = self.own_party
        net.parties[self.name] = self.own_party

    # ---- the box rings -------------------------------------------------------------------------

    def ring(self, on: bool) -> None:
        if on == self.ringing:
            return
        if on and self.offhook:
            return  # ring trip at once: an off-hook phone never rings
        self.ringing = on
        if on:
            self._step = 0
            self._ring_step()
        else:
            self._stop_ringing()

    def _ring_step(self) -> None:
        if not self.ringing:
            return
        pattern = self.cadence.pattern
        i = self._step % len(pattern)
        self.ring_on = i % 2 == 0
        self.occupant.on_ring(self.ring_on)
        self._step += 1
        self._timer = self.net.after(pattern[i], self._ring_step)

    def _stop_ringing(self) -> None:
        self.ringing = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.ring_on:
            self.ring_on = False
            self.occupant.on_ring(False)

    # ---- the person at the phone ---------------------------------------------------------------

    def off_hook(self) -> None:
        if self.offhook:
            return
        self.offhook = True
        if self.ringing:
            self._stop_ringing()
        self.net.connected[self.row] = True
        self.net.emit(OffHook(self.channel))

    def on_hook(self) -> None:
        if not self.offhook:
            return
        self.offhook = False
        self.flashing = False
        self.outlet.stop()
        self.net.connected[self.row] = False
        self.net.emit(OnHook(self.channel))

    def flash(self) -> None:
        if not self.offhook:
            raise PhoneError(f"{self.name}: cannot flash on hook")
        if self.flashing:
            return
        self.flashing = True
        self.net.connected[self.row] = False

        def back() -> None:
            if self.flashing and self.offhook:
                self.flashing = False
                self.net.connected[self.row] = True
                self.net.emit(HookFlash(self.channel))

        self.net.after(FLASH_SECONDS, back)

    def dial(self, digits: str, on_done: Callable[[], None] | None = None) -> None:
        if not self.offhook:
            raise PhoneError(f"{self.name}: cannot dial on hook")
        self.outlet.play(signals.dtmf_audio(digits), on_done)

    def speak(self, samples: np.ndarray, on_done: Callable[[], None] | None = None) -> None:
        self.outlet.play(np.asarray(samples, dtype=np.int16), on_done)

    def record(self, path: str | None = None, what: str = "heard") -> Recorder:
        return self.net.record(self.row, what, path)

    def snapshot(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "kind": "fxs",
            "name": self.name,
            "offhook": self.offhook,
            "ringing": self.ringing,
            "party": self.occupant.name,
        }
