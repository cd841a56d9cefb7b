"""Q.921 (LAPD) data link for one PRI D-channel: SAPI 0, TEI 0, modulo 128, sans-I/O.

`DataLink` is driven by `receive(frame, now)`, `tick(now)`, `send(info, now)`,
`start(now)` / `stop(now)`; it queues the frames to transmit in `out` and the indications for
layer 3 in `indications` (`LinkUp`, `LinkDown`, `DataIndication`). `deadline()` says when
`tick` next has work. Frames are address + control + information, without flags or FCS.

Invalid frames (§5.8.4: too short, EA bits, wrong SAPI/TEI, longer than N201) are discarded and
counted; frame rejection conditions (§5.8.5: undefined control field, S/U frame with an
information field, I-frame that is a response) are counted and, with the link up, trigger
re-establishment.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass
from enum import IntEnum

log = logging.getLogger(__name__)

SABME = 0x6F
UA = 0x63
DISC = 0x43
DM = 0x0F
FRMR = 0x87
UI = 0x03
XID = 0xAF
RR = 0x01
RNR = 0x05
REJ = 0x09
PF = 0x10  # P/F bit of a U frame control octet


class LinkState(IntEnum):
    TEI_ASSIGNED = 4
    AWAITING_ESTABLISHMENT = 5
    AWAITING_RELEASE = 6
    MULTIPLE_FRAME_ESTABLISHED = 7
    TIMER_RECOVERY = 8


@dataclass(frozen=True)
class LinkTimers:
    t200: float = 1.0
    t203: float = 10.0
    n200: int = 3
    k: int = 7
    n201: int = 260
    retry: float = 1.0  # pause before a persistent link tries to establish again


@dataclass(frozen=True)
class LinkUp:
    reestablished: bool = False


@dataclass(frozen=True)
class LinkDown:
    reason: str


@dataclass(frozen=True)
class DataIndication:
    info: bytes


L2Indication = LinkUp | LinkDown | DataIndication


def _mod(x: int) -> int:
    return x & 0x7F


class DataLink:
    """One point-to-point LAPD data link (user side when `network` is False)."""

    def __init__(
        self,
        network: bool,
        timers: LinkTimers | None = None,
        counters: Counter[str] | None = None,
        persistent: bool = True,
    ) -> None:
        self.network = network
        self.timers = timers or LinkTimers()
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.persistent = persistent
        self.state = LinkState.TEI_ASSIGNED
        self.out: list[bytes] = []
        self.indications: list[L2Indication] = []
        self._vs = self._va = self._vr = 0
        self._rc = 0
        self._t200: float | None = None
        self._t203: float | None = None
        self._retry_at: float | None = None
        self._queue: deque[bytes] = deque()  # I-frames not yet sent
        self._unacked: deque[bytes] = deque()  # sent, from V(A) on
        self._peer_busy = False
        self._reject_exception = False
        self._ack_pending = False
        self._wanted = False  # layer 3 wants the link up

    # -- addresses ---------------------------------------------------------------------------
    def _addr(self, command: bool) -> bytes:
        cr = 1 if command == self.network else 0
        return bytes((cr << 1, 0x01))

    def _u(self, ctl: int, command: bool, pf: bool) -> None:
        self.out.append(self._addr(command) + bytes((ctl | (PF if pf else 0),)))

    def _s(self, kind: int, command: bool, pf: bool) -> None:
        self.out.append(self._addr(command) + bytes((kind, (self._vr << 1) | int(pf))))

    @property
    def up(self) -> bool:
        return self.state in (LinkState.MULTIPLE_FRAME_ESTABLISHED, LinkState.TIMER_RECOVERY)

    def deadline(self) -> float | None:
        ds = [d for d in (self._t200, self._t203, self._retry_at) if d is not None]
        return min(ds) if ds else None

    # -- layer 3 requests --------------------------------------------------------------------
    def start(self, now: float) -> None:
        """DL-ESTABLISH request: bring the link up and keep it up (if persistent)."""
        self._wanted = True
        if self.state == LinkState.TEI_ASSIGNED:
            self._establish(now)

    def stop(self, now: float) -> None:
        """DL-RELEASE request: DISC, then down."""
        self._wanted = False
        self._retry_at = None
        if self.up:
            self._discard_queues()
            self._rc = 0
            self._u(DISC, True, True)
            self._t200 = now + self.timers.t200
            self._t203 = None
            self.state = LinkState.AWAITING_RELEASE

    def layer1_down(self, now: float) -> None:
        """The physical layer went away: the link is down, no retries until `start`."""
        self._wanted = False
        self._retry_at = None
        if self.state != LinkState.TEI_ASSIGNED:
            self._down("layer 1 down")

    def send(self, info: bytes, now: float) -> bool:
        """DL-DATA request; False (and nothing queued) when the link is not up or establishing."""
        if self.state not in (
            LinkState.MULTIPLE_FRAME_ESTABLISHED,
            LinkState.TIMER_RECOVERY,
            LinkState.AWAITING_ESTABLISHMENT,
        ):
            return False
        if len(info) > self.timers.n201:
            raise ValueError(f"I-frame information of {len(info)} octets exceeds N201")
        self._queue.append(bytes(info))
        self._push(now)
        return True

    # -- internals -----------------------------------------------------------------------------
    def _discard_queues(self) -> None:
        self._queue.clear()
        self._unacked.clear()

    def _reset_vars(self) -> None:
        self._vs = self._va = self._vr = 0
        self._peer_busy = False
        self._reject_exception = False
        self._ack_pending = False

    def _establish(self, now: float) -> None:
        self._rc = 0
        self._retry_at = None
        self._u(SABME, True, True)
        self._t200 = now + self.timers.t200
        self._t203 = None
        self.state = LinkState.AWAITING_ESTABLISHMENT

    def _reestablish(self, now: float, reason: str) -> None:
        self.counters["l2_reestablish"] += 1
        log.info("LAPD re-establishing: %s", reason)
        self._discard_queues()
        self._reset_vars()
        self._establish(now)
        self.indications.append(LinkDown(reason))

    def _down(self, reason: str) -> None:
        was_up = self.up or self.state == LinkState.AWAITING_RELEASE
        self.state = LinkState.TEI_ASSIGNED
        self._t200 = self._t203 = None
        self._discard_queues()
        self._reset_vars()
        if was_up or reason:
            self.indications.append(LinkDown(reason))

    def _became_up(self, now: float, reestablished: bool = False) -> None:
        self._t200 = None
        self._t203 = now + self.timers.t203
        self.state = LinkState.MULTIPLE_FRAME_ESTABLISHED
        self.indications.append(LinkUp(reestablished))
        self._push(now)

    def _push(self, now: float) -> None:
        """Transmit I-frames while the window allows (§5.5.1)."""
        if self.state != LinkState.MULTIPLE_FRAME_ESTABLISHED or self._peer_busy:
            return
        while _mod(self._vs - self._va) < self.timers.k:
            idx = _mod(self._vs - self._va)
            if idx < len(self._unacked):
                info = self._unacked[idx]
            elif self._queue:
                info = self._queue.popleft()
                self._unacked.append(info)
            else:
                break
            self.out.append(self._addr(True) + bytes((self._vs << 1, self._vr << 1)) + info)
            self._vs = _mod(self._vs + 1)
            self._ack_pending = False
            if self._t200 is None:
                self._t203 = None
                self._t200 = now + self.timers.t200

    def _nr_valid(self, nr: int) -> bool:
        return _mod(nr - self._va) <= _mod(self._vs - self._va)

    def _ack_to(self, nr: int) -> None:
        while self._va != nr and self._unacked:
            self._unacked.popleft()
            self._va = _mod(self._va + 1)
        self._va = nr

    def _nr_established(self, nr: int, now: float) -> None:
        """N(R) handling in state 7 (§5.5.3.2)."""
        if nr == self._vs:
            self._ack_to(nr)
            self._t200 = None
            self._t203 = now + self.timers.t203
        elif nr != self._va:
            self._ack_to(nr)
            self._t200 = now + self.timers.t200

    # -- timers ----------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            if self._wanted and self.state == LinkState.TEI_ASSIGNED:
                self._establish(now)
        if self._t200 is not None and now >= self._t200:
            self._t200 = None
            self._t200_expiry(now)
        if self._t203 is not None and now >= self._t203:
            self._t203 = None
            if self.state == LinkState.MULTIPLE_FRAME_ESTABLISHED:
                self._rc = 0
                self._enquiry(now)

    def _enquiry(self, now: float) -> None:
        self._s(RR, True, True)
        self._t200 = now + self.timers.t200
        self.state = LinkState.TIMER_RECOVERY

    def _t200_expiry(self, now: float) -> None:
        st = self.state
        if st == LinkState.AWAITING_ESTABLISHMENT:
            if self._rc >= self.timers.n200:
                self.counters["l2_establish_failed"] += 1
                self._down("no answer to SABME")
                self._schedule_retry(now)
            else:
                self._rc += 1
                self._u(SABME, True, True)
                self._t200 = now + self.timers.t200
        elif st == LinkState.MULTIPLE_FRAME_ESTABLISHED:
            self._rc = 0
            self._enquiry(now)
            self._rc = 1
        elif st == LinkState.TIMER_RECOVERY:
            if self._rc >= self.timers.n200:
                self.counters["l2_n200_exceeded"] += 1
                self._reestablish(now, "peer stopped answering (N200 exceeded)")
            else:
                self._rc += 1
                self._s(RR, True, True)
                self._t200 = now + self.timers.t200
        elif st == LinkState.AWAITING_RELEASE:
            if self._rc >= self.timers.n200:
                self._down("")
            else:
                self._rc += 1
                self._u(DISC, True, True)
                self._t200 = now + self.timers.t200

    def _schedule_retry(self, now: float) -> None:
        if self.persistent and self._wanted:
            self._retry_at = now + self.timers.retry

    # -- receive -----------------------------------------------------------------------------
    def receive(self, frame: bytes, now: float) -> None:
        n = len(frame)
        c = self.counters
        if n < 3:
            c["l2_short"] += 1
            return
        if n > 4 + self.timers.n201:
            c["l2_oversized"] += 1
            return
        o1, o2 = frame[0], frame[1]
        if o1 & 1 or not o2 & 1:
            c["l2_bad_ea"] += 1
            return
        if o1 >> 2 != 0:
            c["l2_bad_sapi"] += 1
            return
        if o2 >> 1 != 0:
            c["l2_bad_tei"] += 1
            return
        cr = (o1 >> 1) & 1
        command = (cr == 0) if self.network else (cr == 1)
        ctl = frame[2]
        if not ctl & 1:  # I frame
            if n < 4:
                c["l2_short"] += 1
                return
            if not command:
                self._reject(now, "l2_bad_control", "I-frame sent as a response")
                return
            self._on_i(ctl >> 1, frame[3] >> 1, bool(frame[3] & 1), bytes(frame[4:]), now)
        elif ctl & 3 == 1:  # S frame
            if n < 4:
                c["l2_short"] += 1
                return
            if n != 4:
                self._reject(now, "l2_bad_length", "S frame with an information field")
                return
            if ctl not in (RR, RNR, REJ):
                self._reject(now, "l2_bad_control", f"undefined S control 0x{ctl:02x}")
                return
            self._on_s(ctl, frame[3] >> 1, bool(frame[3] & 1), command, now)
        else:
            pf = bool(ctl & PF)
            kind = ctl & ~PF & 0xFF
            if kind == UI:
                c["l2_ui_ignored"] += 1
                return
            if kind in (XID, FRMR):
                if kind == FRMR and self.up:
                    self._reestablish(now, "FRMR received")
                else:
                    c["l2_ignored"] += 1
                return
            if kind not in (SABME, UA, DISC, DM):
                self._reject(now, "l2_bad_control", f"undefined U control 0x{ctl:02x}")
                return
            if n != 3:
                self._reject(now, "l2_bad_length", "U frame with an information field")
                return
            if (kind in (SABME, DISC)) != command:
                c["l2_bad_cr"] += 1
                return
            self._on_u(kind, pf, now)

    def _reject(self, now: float, kind: str, detail: str) -> None:
        self.counters[kind] += 1
        if self.up:
            self._reestablish(now, detail)

    def _on_u(self, kind: int, pf: bool, now: float) -> None:
        st = self.state
        if kind == SABME:
            if st == LinkState.AWAITING_RELEASE:
                self._u(DM, False, pf)
                return
            self._u(UA, False, pf)
            if st == LinkState.TEI_ASSIGNED:
                self._reset_vars()
                self._retry_at = None
                self._became_up(now)
            elif self.up:
                if self._unacked or self._queue:
                    self.counters["l2_peer_reset_with_data"] += 1
                self._discard_queues()
                self._reset_vars()
                self._became_up(now, reestablished=True)
            # AWAITING_ESTABLISHMENT: collision, stay and wait for the UA (§5.5.1.3)
        elif kind == DISC:
            if self.up:
                self._u(UA, False, pf)
                self._down("peer released the link (DISC)")
                self._schedule_retry(now)
            else:
                self._u(DM, False, pf)
        elif kind == UA:
            if st == LinkState.AWAITING_ESTABLISHMENT and pf:
                self._reset_vars()
                self._became_up(now)
            elif st == LinkState.AWAITING_RELEASE and pf:
                self._down("")
            else:
                self.counters["l2_unsolicited_ua"] += 1
        elif kind == DM:
            if st == LinkState.AWAITING_ESTABLISHMENT and pf:
                self._down("peer refused the link (DM)")
                self._schedule_retry(now)
            elif st == LinkState.AWAITING_RELEASE and pf:
                self._down("")
            elif self.up and not pf:
                self._reestablish(now, "DM received with the link up")
            elif st == LinkState.TEI_ASSIGNED and not pf and self._wanted:
                self._establish(now)

    def _on_s(self, kind: int, nr: int, pf: bool, command: bool, now: float) -> None:
        st = self.state
        if not self.up:
            if st == LinkState.TEI_ASSIGNED and command and pf:
                self._u(DM, False, True)
            return
        self._peer_busy = kind == RNR
        if command and pf:
            self._s(RR, False, True)
        if not self._nr_valid(nr):
            self.counters["l2_bad_nr"] += 1
            self._reestablish(now, "N(R) sequence error")
            return
        if st == LinkState.TIMER_RECOVERY:
            if not command and pf:
                self._ack_to(nr)
                self._t200 = None
                self._t203 = now + self.timers.t203
                self._vs = nr  # retransmit whatever is still unacknowledged
                self.state = LinkState.MULTIPLE_FRAME_ESTABLISHED
            else:
                self._ack_to(nr)
        else:
            if kind == REJ:
                self._ack_to(nr)
                self._vs = nr
                self._t200 = None
                self._t203 = now + self.timers.t203
            else:
                self._nr_established(nr, now)
        self._push(now)

    def _on_i(self, ns: int, nr: int, p: bool, info: bytes, now: float) -> None:
        st = self.state
        if not self.up:
            if st == LinkState.TEI_ASSIGNED and p:
                self._u(DM, False, True)
            return
        if len(info) > self.timers.n201:
            self._reject(now, "l2_oversized", "I-frame longer than N201")
            return
        if ns == self._vr:
            self._vr = _mod(self._vr + 1)
            self._reject_exception = False
            self.indications.append(DataIndication(info))
            if p:
                self._s(RR, False, True)
            else:
                self._ack_pending = True
        else:
            self.counters["l2_ns_sequence"] += 1
            if self._reject_exception:
                if p:
                    self._s(RR, False, True)
            else:
                self._reject_exception = True
                self._s(REJ, False, p)
        if not self._nr_valid(nr):
            self.counters["l2_bad_nr"] += 1
            self._reestablish(now, "N(R) sequence error")
            return
        if st == LinkState.TIMER_RECOVERY:
            self._ack_to(nr)
        else:
            self._nr_established(nr, now)
        self._push(now)

    def flush(self) -> None:
        """Acknowledge received I-frames with RR unless an I-frame already carried N(R).

        The stack calls this after layer 3 has answered, so replies piggyback the ack.
        """
        if self._ack_pending and self.up:
            self._ack_pending = False
            self._s(RR, False, False)
