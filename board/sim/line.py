"""A CO line on an FXO port: what the exchange does between a caller and the box.

States: `idle` (box on hook, no call) → `ringing` (a call: ring bursts in the zone's cadence and,
between the first and second ring, the caller ID burst as real FSK audio) → `answered` (the box
went off hook: ring trip, caller and box hear each other) → either the box hangs up (back to
`idle`, the caller is told) or the caller hangs up: the exchange drops loop current (a
`LoopCurrentDrop` event, disconnect supervision) and a second later plays reorder until the box
hangs up (`far_gone`). The box taking an idle line off hook gives `seized` (dial tone).
Line echo (the far-end hybrid) and noise are applied by the network to every off-hook trunk.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from board.card import LoopCurrentDrop, RingStart, RingStop
from board.sim import signals

if TYPE_CHECKING:
    from board.sim.network import Network, Outlet, Timer
    from board.sim.people import Caller

log = logging.getLogger(__name__)

#: silence after the first ring before the caller ID burst starts (GR-30: at least 500 ms)
CALLERID_DELAY = 0.5
#: after the far end hangs up, the exchange plays reorder after this long, for this long
REORDER_AFTER = 1.0
REORDER_SECONDS = 60.0


class CoLine:
    """One trunk: channel `channel`, matrix row `row`."""

    def __init__(
        self,
        net: Network,
        row: int,
        channel: int,
        cadence: signals.RingCadence,
        zone: str,
        callerid_standard: str,
    ) -> None:
        self.net, self.row, self.channel = net, row, channel
        self.name = f"trunk-{row + 1}"
        self.cadence, self.zone, self.callerid_standard = cadence, zone, callerid_standard
        self._state = "idle"
        self.box_offhook = False
        self.caller: Caller | None = None
        self.ring_on = False
        self.rings = 0  # ring bursts of this call so far
        self._step = 0
        self._timer: Timer | None = None
        self._sounds: Outlet = net.sound_outlet(row)
        self._callerid: tuple[str | None, str | None, str | None] | None = None

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        self._state = value
        self.net.trunk_busy[self.row] = value != "idle"

    @property
    def idle(self) -> bool:
        return self.state == "idle" and self.caller is None

    # ---- the far end ---------------------------------------------------------------------------

    def incoming(
        self, caller: Caller, number: str | None, name: str | None, datetime: str | None = None
    ) -> None:
        """A call for the box: start ringing; caller ID (if any) goes between 1st and 2nd ring."""
        if not self.idle:
            raise RuntimeError(f"{self.name} is {self.state}")
        self.caller = caller
        caller.line = self
        self.state = "ringing"
        self.rings = 0
        self._step = 0
        self._callerid = None
        if self.callerid_standard != "off" and (number or name):
            if datetime is None:
                datetime = time.strftime("%m%d%H%M", time.gmtime(self.net.now))
            self._callerid = (number, name, datetime)
        self._ring_step()

    def _ring_step(self) -> None:
        if self.state != "ringing":
            return
        pattern = self.cadence.pattern
        i = self._step % len(pattern)
        on = i % 2 == 0
        if on:
            self.ring_on = True
            self.rings += 1
            self.net.emit(RingStart(self.channel))
        else:
            self.ring_on = False
            self.net.emit(RingStop(self.channel))
            first_gap = self._step == max(range(1, len(pattern), 2), key=lambda k: pattern[k])
            if first_gap and self._callerid is not None:
                self.net.after(CALLERID_DELAY, self._send_callerid)
        self._step += 1
        self._timer = self.net.after(pattern[i], self._ring_step)

    def _send_callerid(self) -> None:
        if self.state != "ringing" or self._callerid is None:
            return
        number, name, datetime = self._callerid
        burst = signals.callerid_audio(number, name, datetime, self.callerid_standard)
        self._sounds.play(burst)
        self.net.count("callerid_sent")

    def far_hangup(self) -> None:
        """The caller hangs up."""
        caller, self.caller = self.caller, None
        if caller is not None:
            caller.line = None
        if self.state == "ringing":
            self._stop_ringing()
            self.state = "idle"
        elif self.state == "answered":
            self.state = "far_gone"
            self.net.connected[self.row] = False
            self.net.emit(LoopCurrentDrop(self.channel))
            self._timer = self.net.after(REORDER_AFTER, self._reorder)

    def _reorder(self) -> None:
        if self.state != "far_gone":
            return
        try:
            self._sounds.play(signals.exchange_tone(self.zone, "reorder", REORDER_SECONDS))
        except signals.SignalUnavailableError as exc:
            self.net.count("reorder_unavailable")
            log.warning("%s: no reorder tone: %s", self.name, exc)

    def _stop_ringing(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.ring_on:
            self.ring_on = False
            self.net.emit(RingStop(self.channel))
        self._sounds.stop()
        self._callerid = None

    # ---- the box -------------------------------------------------------------------------------

    def set_hook(self, offhook: bool) -> None:
        if offhook == self.box_offhook:
            return
        self.box_offhook = offhook
        self.net.offhook_trunks[self.row] = offhook
        if offhook:
            self.net.reset_echo(self.row)
            if self.state == "ringing":
                self._stop_ringing()  # ring trip
                self.state = "answered"
                self.net.connected[self.row] = True
                if self.caller is not None:
                    self.caller.on_answered()
            elif self.state == "idle":
                self.state = "seized"
                try:
                    self._sounds.play(signals.exchange_tone(self.zone, "dial", 30.0))
                except signals.SignalUnavailableError as exc:
                    self.net.count("dialtone_unavailable")
                    log.debug("%s: no dial tone: %s", self.name, exc)
        else:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._sounds.stop()
            self.net.connected[self.row] = False
            caller, self.caller = self.caller, None
            self.state = "idle"
            if caller is not None:
                caller.line = None
                caller.on_box_hangup()

    def flash(self) -> None:
        self.net.count("trunk_flash")
        log.debug("%s: hook flash from the box", self.name)

    def snapshot(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "kind": "fxo",
            "name": self.name,
            "state": self.state,
            "box_offhook": self.box_offhook,
            "ringing": self.ring_on,
            "caller": self.caller.name if self.caller else None,
        }
