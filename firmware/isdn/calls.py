"""Q.931 call control for one PRI span (user or network side), sans-I/O.

`CallLayer` owns the calls of a span: it turns received messages into events, application
requests into messages, and runs the timers (T302, T303, T305, T308, T309, T310, T313, T316).
Received messages go through the §5.8 error procedures before the state machine sees them:
every problem is counted in `counters` and answered the way §5.8 prescribes.

Outputs: `out` (encoded messages for layer 2) and `events` (see `events.py`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmware.isdn import ie as IE
from firmware.isdn.channels import ChannelMap, ChannelStatus
from firmware.isdn.config import SpanConfig
from firmware.isdn.events import (
    Alerting,
    BadInput,
    CallPlaced,
    CallProceeding,
    ChannelRestarted,
    ChannelState,
    Connected,
    Disconnected,
    IncomingCall,
    IsdnEvent,
    MessageReceived,
    MessageSent,
    Progress,
    Released,
)
from firmware.isdn.ie import IeContentError, IeId
from firmware.isdn.q931 import (
    GLOBAL_CR,
    KNOWN_MESSAGE_TYPES,
    Decoded,
    IeProblem,
    Message,
    Q931FormatError,
    decode,
    encode,
    message_name,
)
from firmware.isdn.q931 import MessageType as MT
from firmware.isdn.switch import switch_variant

log = logging.getLogger(__name__)


class CallError(ValueError):
    """An application request that does not fit the call (unknown id, wrong state)."""


# Call states (Q.931 §2.1 numbering, shared by the user and network sides).
NULL = 0
CALL_INITIATED = 1
OVERLAP_SENDING = 2
OUTGOING_PROCEEDING = 3
CALL_DELIVERED = 4
CALL_PRESENT = 6
CALL_RECEIVED = 7
CONNECT_REQUEST = 8
INCOMING_PROCEEDING = 9
ACTIVE = 10
DISCONNECT_REQUEST = 11
DISCONNECT_INDICATION = 12
RELEASE_REQUEST = 19
OVERLAP_RECEIVING = 25

CLEARING = frozenset({DISCONNECT_REQUEST, DISCONNECT_INDICATION, RELEASE_REQUEST})
_PRES = {0: "allowed", 1: "restricted", 2: "not_available", 3: "not_available"}
_CLEARING_MSGS = frozenset({MT.DISCONNECT, MT.RELEASE, MT.RELEASE_COMPLETE})
_STATUS_MSGS = frozenset({MT.STATUS, MT.STATUS_ENQUIRY})
# Messages accepted but not acted on (no STATUS 98 for them).
_IGNORED = frozenset({MT.NOTIFY, MT.FACILITY, MT.USER_INFORMATION, MT.CONGESTION_CONTROL})


@dataclass
class Call:
    call_id: int
    cr: int
    ours: bool  # we allocated the call reference (outgoing call)
    state: int = NULL
    channel: int | None = None
    exclusive: bool = True
    channel_confirmed: bool = False
    called: str = ""
    calling: str = ""
    cause: int = IE.CAUSE_NORMAL_CLEARING
    timers: dict[str, float] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    setup: bytes = b""
    release_msg: bytes = b""
    disconnected: bool = False
    offered: bool = False
    info: tuple[Any, ...] = (None, None, None, None)  # called, calling, display, bearer


@dataclass
class _Restart:
    channel: int | None
    deadline: float
    tries: int = 1
    message: bytes = b""


class CallLayer:
    def __init__(
        self,
        config: SpanConfig,
        counters: Counter[str] | None = None,
        trace: bool = False,
    ) -> None:
        self.config = config
        self.variant = switch_variant(config.switch)
        self.network = config.network
        self.timers = config.timers
        t310 = config.timers.t310
        if t310 is None:
            t310 = self.variant.t310_network if self.network else self.variant.t310
        self.t310 = t310
        self.channels = ChannelMap(config.kind, config.provisioned)
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.trace = trace
        self.out: list[bytes] = []
        self.events: list[IsdnEvent] = []
        self.calls: dict[int, Call] = {}
        self._by_cr: dict[tuple[int, bool], Call] = {}
        self._next_id = 1
        self._next_cr = 1
        self._restarts: dict[int | None, _Restart] = {}
        self.link_up = False
        self._location = IE.LOC_PUBLIC_LOCAL if self.network else IE.LOC_PRIVATE_LOCAL

    # ===================================================================== application API
    def place_call(
        self,
        called: str,
        calling: str,
        channel: int | None,
        now: float,
        *,
        called_type: int = IE.TON_UNKNOWN,
        calling_type: int = IE.TON_UNKNOWN,
        presentation: int = IE.PRES_ALLOWED,
        display: str | None = None,
    ) -> int:
        """Send SETUP; returns the call id. Without a usable link or channel the call is
        released at once (`Released` with cause 38 or 34/44/82)."""
        IE.PartyNumber(called).encode(IeId.CALLED_NUMBER)  # validates digits (raises)
        if calling:
            IE.PartyNumber(calling).encode(IeId.CALLING_NUMBER)
        call = self._new_call(self._alloc_cr(), ours=True)
        call.called, call.calling = called, calling
        if not self.link_up:
            self._release(call, IE.CAUSE_NETWORK_OUT_OF_ORDER)
            return call.call_id
        exclusive = channel is not None or self.network
        if channel is None:
            channel = self.channels.pick(descending=not self.network)
            if channel is None:
                self._release(call, IE.CAUSE_NO_CIRCUIT_AVAILABLE)
                return call.call_id
        elif not self.channels.exists(channel):
            self._release(call, IE.CAUSE_CHANNEL_DOES_NOT_EXIST)
            return call.call_id
        elif not self.channels.is_idle(channel):
            self._release(call, IE.CAUSE_CHANNEL_NOT_AVAILABLE)
            return call.call_id
        call.channel, call.exclusive = channel, exclusive
        call.channel_confirmed = self.network
        self._chan(channel, ChannelStatus.IN_USE)
        ies = []
        if self.variant.sending_complete_in_setup:
            ies.append(b"\xa1")
        ies.append(IE.BearerCapability(IE.CAP_SPEECH, 0x10, self.variant.layer1).encode())
        ies.append(IE.ChannelId(channel, exclusive).encode())
        if display:
            ies.append(IE.Display(display).encode(self.variant.display_prefix))
        if calling:
            screening = 3 if self.network else 0
            ies.append(
                IE.PartyNumber(
                    calling, calling_type, self.variant.calling_number_plan, presentation, screening
                ).encode(IeId.CALLING_NUMBER)
            )
        ies.append(IE.PartyNumber(called, called_type, IE.PLAN_ISDN).encode(IeId.CALLED_NUMBER))
        call.setup = self._send(call, MT.SETUP, ies)
        call.state = CALL_INITIATED
        call.retries["t303"] = 0
        self._start(call, "t303", now)
        self.events.append(CallPlaced(call.call_id, channel, called, calling, call.cr))
        return call.call_id

    def proceeding(self, call_id: int, now: float) -> None:
        call = self._app_call(call_id)
        if call.state not in (CALL_PRESENT, OVERLAP_RECEIVING):
            raise CallError(f"call {call_id}: CALL PROCEEDING in state {call.state}")
        self._stop(call, "t302")
        self._send(call, MT.CALL_PROCEEDING, [self._chan_ie(call)])
        call.channel_confirmed = True
        call.state = INCOMING_PROCEEDING

    def alerting(self, call_id: int, now: float) -> None:
        call = self._app_call(call_id)
        if call.state not in (CALL_PRESENT, OVERLAP_RECEIVING, INCOMING_PROCEEDING):
            raise CallError(f"call {call_id}: ALERTING in state {call.state}")
        self._stop(call, "t302")
        ies = [] if call.channel_confirmed else [self._chan_ie(call)]
        if self.network:
            ies.append(IE.ProgressIndicator(IE.PROGRESS_INBAND, self._location).encode())
        self._send(call, MT.ALERTING, ies)
        call.channel_confirmed = True
        call.state = CALL_RECEIVED

    def answer(self, call_id: int, now: float) -> None:
        call = self._app_call(call_id)
        if call.state not in (
            CALL_PRESENT,
            OVERLAP_RECEIVING,
            INCOMING_PROCEEDING,
            CALL_RECEIVED,
        ):
            raise CallError(f"call {call_id}: CONNECT in state {call.state}")
        self._stop(call, "t302")
        ies = [] if call.channel_confirmed else [self._chan_ie(call)]
        self._send(call, MT.CONNECT, ies)
        call.channel_confirmed = True
        if self.network:
            call.state = ACTIVE
            self.events.append(Connected(call.call_id, call.channel))
        else:
            call.state = CONNECT_REQUEST
            self._start(call, "t313", now)

    def hangup(self, call_id: int, now: float, cause: int = IE.CAUSE_NORMAL_CLEARING) -> None:
        """Clear the call: RELEASE COMPLETE before answering a SETUP, DISCONNECT otherwise."""
        call = self.calls.get(call_id)
        if call is None:
            raise CallError(f"no call {call_id}")
        if call.state in CLEARING:
            return
        call.cause = cause
        if call.state in (CALL_PRESENT, OVERLAP_RECEIVING) and not call.channel_confirmed:
            self._send(call, MT.RELEASE_COMPLETE, [self._cause_ie(cause)])
            self._release(call, cause)
            return
        self._disconnect(call, cause, now)

    def restart(self, channel: int | None, now: float) -> None:
        """RESTART one channel (or the whole interface with None); calls on it are cleared."""
        if channel is not None and not self.channels.exists(channel):
            raise CallError(f"{self.config.kind} span has no B-channel {channel}")
        klass = IE.RESTART_ALL_INTERFACES if channel is None else IE.RESTART_INDICATED
        raw = [IE.RestartIndicator(klass).encode()]
        if channel is not None:
            raw.insert(0, IE.ChannelId(channel, True).encode())
        msg = encode(MT.RESTART, GLOBAL_CR, False, raw)
        self._clear_channels(channel, IE.CAUSE_TEMPORARY_FAILURE, ChannelStatus.RESTARTING)
        self._restarts[channel] = _Restart(channel, now + self.timers.t316, 1, msg)
        self._emit_out(msg, None, channel=channel)

    # ===================================================================== link
    def on_link_up(self, now: float) -> None:
        self.link_up = True
        for call in list(self.calls.values()):
            if "t309" in call.timers:
                self._stop(call, "t309")
                self._send_status(call, IE.CAUSE_NORMAL_UNSPECIFIED)
        for r in self._restarts.values():
            self._emit_out(r.message, None, channel=r.channel)

    def on_link_down(self, now: float) -> None:
        self.link_up = False
        for call in list(self.calls.values()):
            if call.state == ACTIVE:
                if "t309" not in call.timers:
                    self._start(call, "t309", now)
            else:
                self._release(call, IE.CAUSE_TEMPORARY_FAILURE)

    # ===================================================================== timers
    def deadline(self) -> float | None:
        ds = [d for c in self.calls.values() for d in c.timers.values()]
        ds += [r.deadline for r in self._restarts.values()]
        return min(ds) if ds else None

    def tick(self, now: float) -> None:
        for call in list(self.calls.values()):
            for name, due in list(call.timers.items()):
                if now >= due and call.timers.get(name) == due and call.call_id in self.calls:
                    del call.timers[name]
                    self._expired(call, name, now)
        for key, r in list(self._restarts.items()):
            if now >= r.deadline:
                if r.tries > self.timers.n316:
                    del self._restarts[key]
                    self.counters["q931_restart_unacknowledged"] += 1
                    for ch in self._chans(key):
                        self._chan(ch, ChannelStatus.OUT_OF_SERVICE)
                else:
                    r.tries += 1
                    r.deadline = now + self.timers.t316
                    self._emit_out(r.message, None, channel=r.channel)

    def _expired(self, call: Call, name: str, now: float) -> None:
        self.counters[f"q931_{name}_expiry"] += 1
        cause = IE.CAUSE_RECOVERY_ON_TIMER_EXPIRY
        if name == "t303":
            call.retries["t303"] = call.retries.get("t303", 0) + 1
            if call.retries["t303"] < 2:
                self.out.append(call.setup)
                self._trace_out(call.setup, call)
                self._start(call, "t303", now)
            else:  # §5.1.1: clear after the second expiry
                self._send(call, MT.RELEASE_COMPLETE, [self._cause_ie(cause)])
                self._release(call, cause)
        elif name in ("t310", "t313"):
            self._disconnect(call, cause, now)
        elif name == "t302":  # overlap receiving: what we have is the number
            self._offer(call)
        elif name == "t305":
            self._send_release(call, call.cause, now)
        elif name == "t308":
            call.retries["t308"] = call.retries.get("t308", 0) + 1
            if call.retries["t308"] < 2:
                self.out.append(call.release_msg)
                self._trace_out(call.release_msg, call)
                self._start(call, "t308", now)
            else:  # §5.3.4.3: channel to maintenance, then restart it
                ch = call.channel
                self._release(call, cause)
                if ch is not None:
                    self.restart(ch, now)
        elif name == "t309":
            self._release(call, IE.CAUSE_DESTINATION_OUT_OF_ORDER)

    # ===================================================================== receive
    def on_message(self, data: bytes, now: float) -> None:
        try:
            d = decode(data)
        except Q931FormatError as e:
            self._bad(e.kind, str(e))
            return
        m = d.message
        for p in d.problems:
            self._bad(f"q931_ie_{p.kind}", f"IE 0x{p.ident:02x} in {m.name}")
        if m.call_ref == GLOBAL_CR:
            self._trace_in(m, None)
            self._on_global(d, now)
            return
        call = self._by_cr.get((m.call_ref, m.flag))
        self._trace_in(m, call)
        if call is None:
            self._on_unknown_cr(d, now)
            return
        if m.mtype not in KNOWN_MESSAGE_TYPES:
            self._bad("q931_unknown_message", f"type 0x{m.mtype:02x}")
            self._send_status(call, IE.CAUSE_MESSAGE_TYPE_NONEXISTENT, bytes((m.mtype,)))
            return
        if m.mtype == MT.SETUP:
            self._bad("q931_setup_cr_in_use", f"call reference {m.call_ref}")
            return
        handler = self._HANDLERS.get(m.mtype)
        if handler is None:
            if m.mtype not in _IGNORED:
                self._wrong_state(call, m)
            return
        handler(self, call, d, now)

    # --- §5.8 helpers -------------------------------------------------------------------
    def _check(
        self, d: Decoded, mandatory: tuple[int, ...], decoders: dict[int, Callable[[bytes], Any]]
    ) -> tuple[dict[int, Any], int | None, bytes, int | None, bytes]:
        """Decode the listed IEs; return (values, mandatory-error cause, diagnostic,
        non-mandatory-error cause, diagnostic) per §5.8.5–5.8.7."""
        m = d.message
        values: dict[int, Any] = {}
        mand: int | None = None
        mdiag = b""
        opt: int | None = None
        odiag = b""
        bad_ies = {p.ident for p in d.problems if p.kind in ("truncated", "oversized")}
        for ident in mandatory:
            if ident in bad_ies:
                mand, mdiag = IE.CAUSE_INVALID_IE_CONTENTS, bytes((ident,))
                break
            if m.ie(ident) is None:
                mand, mdiag = IE.CAUSE_MANDATORY_IE_MISSING, bytes((ident,))
                self.counters["q931_mandatory_ie_missing"] += 1
                break
        for p in d.problems:
            if p.kind == "unknown":
                if p.comprehension_required and mand is None:
                    mand, mdiag = IE.CAUSE_MANDATORY_IE_MISSING, bytes((p.ident,))
                elif opt is None:
                    opt, odiag = IE.CAUSE_IE_NONEXISTENT, bytes((p.ident,))
            elif p.kind in ("truncated", "oversized") and p.ident not in mandatory and opt is None:
                opt, odiag = IE.CAUSE_INVALID_IE_CONTENTS, bytes((p.ident,))
        for ident, dec in decoders.items():
            raw = m.ie(ident)
            if raw is None:
                continue
            try:
                values[ident] = dec(raw.contents)
            except IeContentError as e:
                self._bad("q931_ie_content", f"{m.name}: {e}")
                if ident in mandatory:
                    if mand is None:
                        mand, mdiag = IE.CAUSE_INVALID_IE_CONTENTS, bytes((ident,))
                elif opt is None:
                    opt, odiag = IE.CAUSE_INVALID_IE_CONTENTS, bytes((ident,))
        return values, mand, mdiag, opt, odiag

    def _on_unknown_cr(self, d: Decoded, now: float) -> None:
        m = d.message
        t = m.mtype
        if t == MT.SETUP:
            if m.flag:  # §5.8.3.2 c)
                self._bad("q931_setup_bad_flag", f"call reference {m.call_ref}")
                return
            self._on_setup(d, now)
            return
        self._bad("q931_unknown_call", f"{m.name} for call reference {m.call_ref}")
        if t == MT.RELEASE_COMPLETE:  # §5.8.3.2 b)
            return
        # Answers go back with the flag the peer's view of the call needs.
        reply_flag = not m.flag
        if t == MT.STATUS_ENQUIRY:  # §5.8.10: we are in the Null state
            self._emit_out(
                encode(
                    MT.STATUS,
                    m.call_ref,
                    reply_flag,
                    [self._cause_ie(IE.CAUSE_RESPONSE_TO_STATUS_ENQUIRY), IE.CallState(0).encode()],
                ),
                None,
            )
            return
        if t == MT.STATUS:  # §5.8.11
            raw = m.ie(IeId.CALL_STATE)
            try:
                peer_state = IE.CallState.decode(raw.contents).state if raw else None
            except IeContentError:
                peer_state = None
            if peer_state not in (None, NULL):
                self._emit_out(
                    encode(
                        MT.RELEASE_COMPLETE,
                        m.call_ref,
                        reply_flag,
                        [self._cause_ie(IE.CAUSE_WRONG_STATE_FOR_STATUS)],
                    ),
                    None,
                )
            return
        # §5.8.3.2 a)
        self._emit_out(
            encode(
                MT.RELEASE_COMPLETE,
                m.call_ref,
                reply_flag,
                [self._cause_ie(IE.CAUSE_INVALID_CALL_REFERENCE)],
            ),
            None,
        )

    def _wrong_state(self, call: Call, m: Message) -> None:
        """§5.8.4: an unexpected message → STATUS with cause 98."""
        self._bad("q931_wrong_state", f"{m.name} in state {call.state}")
        self._send_status(call, IE.CAUSE_MESSAGE_NOT_COMPATIBLE, bytes((m.mtype,)))

    # --- global call reference ------------------------------------------------------------
    def _on_global(self, d: Decoded, now: float) -> None:
        m = d.message
        if m.mtype == MT.RESTART:
            self._on_restart(d, now)
        elif m.mtype == MT.RESTART_ACKNOWLEDGE:
            self._on_restart_ack(d, now)
        elif m.mtype == MT.STATUS:
            self.counters["q931_global_status"] += 1
        else:  # §5.8.3.2 e)
            self._bad("q931_global_cr_misuse", f"{m.name} with the global call reference")
            self._emit_out(
                encode(
                    MT.STATUS,
                    GLOBAL_CR,
                    not m.flag,
                    [
                        self._cause_ie(IE.CAUSE_INVALID_CALL_REFERENCE),
                        IE.CallState(0).encode(),
                    ],
                ),
                None,
            )

    def _restart_target(self, d: Decoded) -> tuple[bool, int | None, bytes, int | None, bytes]:
        vals, mand, mdiag, _, _ = self._check(
            d,
            (IeId.RESTART_INDICATOR,),
            {
                IeId.RESTART_INDICATOR: IE.RestartIndicator.decode,
                IeId.CHANNEL_ID: IE.ChannelId.decode,
            },
        )
        if mand is not None:
            return False, mand, mdiag, None, b""
        klass = vals[IeId.RESTART_INDICATOR].restart_class
        chan_ie = d.message.ie(IeId.CHANNEL_ID)
        if klass == IE.RESTART_INDICATED:
            cid = vals.get(IeId.CHANNEL_ID)
            if cid is None or cid.channel is None:
                cause = IE.CAUSE_INVALID_IE_CONTENTS if chan_ie else IE.CAUSE_MANDATORY_IE_MISSING
                return False, cause, bytes((IeId.CHANNEL_ID,)), None, b""
            if not self.channels.exists(cid.channel):
                return False, IE.CAUSE_CHANNEL_DOES_NOT_EXIST, b"", None, b""
            return True, None, b"", cid.channel, chan_ie.encode() if chan_ie else b""
        return True, None, b"", None, b""

    def _on_restart(self, d: Decoded, now: float) -> None:
        ok, cause, diag, channel, chan_raw = self._restart_target(d)
        m = d.message
        if not ok:
            self._bad("q931_bad_restart", f"cause {cause}")
            self._emit_out(
                encode(
                    MT.STATUS,
                    GLOBAL_CR,
                    not m.flag,
                    [self._cause_ie(cause or 100, diag), IE.CallState(0).encode()],
                ),
                None,
            )
            return
        self._clear_channels(channel, IE.CAUSE_NORMAL_CLEARING, ChannelStatus.IDLE)
        ri = m.ie(IeId.RESTART_INDICATOR)
        assert ri is not None
        ies = ([chan_raw] if chan_raw else []) + [ri.encode()]
        self._emit_out(encode(MT.RESTART_ACKNOWLEDGE, GLOBAL_CR, not m.flag, ies), None, channel)
        self.events.append(ChannelRestarted(channel, by_peer=True))

    def _on_restart_ack(self, d: Decoded, now: float) -> None:
        ok, _, _, channel, _ = self._restart_target(d)
        if not ok or channel not in self._restarts:
            self._bad("q931_unexpected_restart_ack", f"channel {channel}")
            return
        del self._restarts[channel]
        for ch in self._chans(channel):
            if self.channels.status[ch] is ChannelStatus.RESTARTING:
                self._chan(ch, ChannelStatus.IDLE)
        self.events.append(ChannelRestarted(channel, by_peer=False))

    def _chans(self, channel: int | None) -> tuple[int, ...]:
        return self.channels.all if channel is None else (channel,)

    def _clear_channels(self, channel: int | None, cause: int, status: ChannelStatus) -> None:
        targets = set(self._chans(channel))
        for call in list(self.calls.values()):
            if call.channel in targets:
                call.channel_confirmed = False
                self._release(call, cause, free=False)
        for ch in targets:
            self._chan(ch, status)  # unprovisioned channels stay out of service

    # --- SETUP ------------------------------------------------------------------------------
    def _on_setup(self, d: Decoded, now: float) -> None:
        m = d.message
        mandatory: tuple[int, ...] = (IeId.BEARER_CAPABILITY,)
        if not self.network:
            mandatory += (IeId.CHANNEL_ID,)
        vals, mand, mdiag, opt, odiag = self._check(
            d,
            mandatory,
            {
                IeId.BEARER_CAPABILITY: IE.BearerCapability.decode,
                IeId.CHANNEL_ID: IE.ChannelId.decode,
                IeId.CALLED_NUMBER: lambda c: IE.PartyNumber.decode(c, False),
                IeId.CALLING_NUMBER: lambda c: IE.PartyNumber.decode(c, True),
                IeId.DISPLAY: IE.Display.decode,
            },
        )

        def reject(cause: int, diag: bytes = b"") -> None:
            self.counters["q931_setup_rejected"] += 1
            self._emit_out(
                encode(MT.RELEASE_COMPLETE, m.call_ref, True, [self._cause_ie(cause, diag)]), None
            )

        if mand is not None:  # §5.8.6: RELEASE COMPLETE with 96 / 100
            self._bad("q931_setup_invalid", f"cause {mand}")
            reject(mand, mdiag)
            return
        bc = vals[IeId.BEARER_CAPABILITY]
        if bc.capability not in (IE.CAP_SPEECH, IE.CAP_AUDIO_3K1):
            reject(IE.CAUSE_BEARER_NOT_IMPLEMENTED)
            return
        cid: IE.ChannelId | None = vals.get(IeId.CHANNEL_ID)
        channel: int | None
        if cid is None or cid.channel is None:
            if not self.network:
                reject(IE.CAUSE_MANDATORY_IE_MISSING, bytes((IeId.CHANNEL_ID,)))
                return
            channel = self.channels.pick(descending=False)
            if channel is None:
                reject(IE.CAUSE_NO_CIRCUIT_AVAILABLE)
                return
        else:
            channel = cid.channel
            if not self.channels.exists(channel):
                reject(IE.CAUSE_CHANNEL_DOES_NOT_EXIST)
                return
            if not self.channels.is_idle(channel):
                alt = None if cid.exclusive or not self.network else self.channels.pick(False)
                if alt is None:
                    reject(
                        IE.CAUSE_CHANNEL_NOT_AVAILABLE
                        if cid.exclusive
                        else IE.CAUSE_NO_CIRCUIT_AVAILABLE
                    )
                    return
                channel = alt
        if not self.link_up:
            return
        call = self._new_call(m.call_ref, ours=False)
        call.channel = channel
        self._chan(channel, ChannelStatus.IN_USE)
        called: IE.PartyNumber | None = vals.get(IeId.CALLED_NUMBER)
        calling: IE.PartyNumber | None = vals.get(IeId.CALLING_NUMBER)
        call.called = called.digits if called else ""
        call.calling = calling.digits if calling else ""
        call.state = CALL_PRESENT
        call.info = (called, calling, vals.get(IeId.DISPLAY), bc)
        if opt is not None:
            self._send_status(call, opt, odiag)
        complete = m.ie(IE.IeId.SENDING_COMPLETE) is not None
        if self.config.overlap_receiving and not complete:
            self._send(call, MT.SETUP_ACKNOWLEDGE, [self._chan_ie(call)])
            call.channel_confirmed = True
            call.state = OVERLAP_RECEIVING
            self._start(call, "t302", now)
            return
        self._offer(call)

    def _offer(self, call: Call) -> None:
        if call.offered:
            return
        call.offered = True
        called, calling, display, bc = call.info
        pres = "not_available" if calling is None else _PRES.get(calling.presentation or 0, "")
        self.events.append(
            IncomingCall(
                call.call_id,
                call.channel,
                call.called,
                call.calling,
                pres,
                called.type_of_number if called else 0,
                calling.type_of_number if calling else 0,
                display.text if display else None,
                "audio" if bc is not None and bc.capability == IE.CAP_AUDIO_3K1 else "speech",
                call.cr,
            )
        )

    # --- per-message handlers ---------------------------------------------------------------
    def _response_channel(self, call: Call, d: Decoded, now: float) -> bool:
        """The first answer to our SETUP names the channel; False when the call got cleared."""
        vals, mand, mdiag, opt, odiag = self._check(d, (), {IeId.CHANNEL_ID: IE.ChannelId.decode})
        if mand is not None:
            self._send_status(call, mand, mdiag)
            return False
        cid = vals.get(IeId.CHANNEL_ID)
        if cid is not None and cid.channel is not None and not call.channel_confirmed:
            ch = cid.channel
            if ch != call.channel:
                if call.exclusive or not self.channels.exists(ch) or not self.channels.is_idle(ch):
                    self._bad("q931_channel_unacceptable", f"channel {ch}")
                    self._disconnect(call, IE.CAUSE_CHANNEL_NOT_AVAILABLE, now)
                    return False
                if call.channel is not None:
                    self._chan(call.channel, ChannelStatus.IDLE)
                call.channel = ch
                self._chan(ch, ChannelStatus.IN_USE)
            call.channel_confirmed = True
        elif d.message.ie(IeId.CHANNEL_ID) is not None and cid is None:
            self._disconnect(call, IE.CAUSE_INVALID_IE_CONTENTS, now)
            return False
        if opt is not None:
            self._send_status(call, opt, odiag)
        return True

    def _h_call_proceeding(self, call: Call, d: Decoded, now: float) -> None:
        if call.state not in (CALL_INITIATED, OVERLAP_SENDING):
            self._wrong_state(call, d.message)
            return
        self._stop(call, "t303")
        if not self._response_channel(call, d, now):
            return
        call.state = OUTGOING_PROCEEDING
        self._start(call, "t310", now)
        self.events.append(CallProceeding(call.call_id, call.channel))

    def _h_setup_ack(self, call: Call, d: Decoded, now: float) -> None:
        if call.state != CALL_INITIATED:
            self._wrong_state(call, d.message)
            return
        self._stop(call, "t303")
        if not self._response_channel(call, d, now):
            return
        call.state = OVERLAP_SENDING  # we send en bloc: nothing more to send
        self._start(call, "t310", now)

    def _h_alerting(self, call: Call, d: Decoded, now: float) -> None:
        if call.state not in (CALL_INITIATED, OVERLAP_SENDING, OUTGOING_PROCEEDING):
            self._wrong_state(call, d.message)
            return
        self._stop(call, "t303")
        self._stop(call, "t310")
        if not self._response_channel(call, d, now):
            return
        call.state = CALL_DELIVERED
        self.events.append(Alerting(call.call_id))

    def _h_progress(self, call: Call, d: Decoded, now: float) -> None:
        if call.state not in (CALL_INITIATED, OVERLAP_SENDING, OUTGOING_PROCEEDING, CALL_DELIVERED):
            self._wrong_state(call, d.message)
            return
        vals, mand, mdiag, opt, odiag = self._check(
            d, (IeId.PROGRESS,), {IeId.PROGRESS: IE.ProgressIndicator.decode}
        )
        if mand is not None:
            self._send_status(call, mand, mdiag)
            return
        self._stop(call, "t303")
        self._stop(call, "t310")
        self.events.append(Progress(call.call_id, vals[IeId.PROGRESS].description))

    def _h_connect(self, call: Call, d: Decoded, now: float) -> None:
        if call.state not in (
            CALL_INITIATED,
            OVERLAP_SENDING,
            OUTGOING_PROCEEDING,
            CALL_DELIVERED,
        ):
            self._wrong_state(call, d.message)
            return
        self._stop(call, "t303")
        self._stop(call, "t310")
        if not self._response_channel(call, d, now):
            return
        self._send(call, MT.CONNECT_ACKNOWLEDGE, [])
        call.state = ACTIVE
        self.events.append(Connected(call.call_id, call.channel))

    def _h_connect_ack(self, call: Call, d: Decoded, now: float) -> None:
        if call.state == CONNECT_REQUEST:
            self._stop(call, "t313")
            call.state = ACTIVE
            self.events.append(Connected(call.call_id, call.channel))
        elif call.state == ACTIVE:
            pass  # the network side went active when it sent CONNECT
        else:
            self._wrong_state(call, d.message)

    def _cause_of(self, d: Decoded) -> tuple[int | None, int | None, bytes]:
        vals, mand, mdiag, _, _ = self._check(d, (IeId.CAUSE,), {IeId.CAUSE: IE.Cause.decode})
        c = vals.get(IeId.CAUSE)
        return (c.value if c else None), mand, mdiag

    def _h_disconnect(self, call: Call, d: Decoded, now: float) -> None:
        cause, mand, _ = self._cause_of(d)
        if call.state == RELEASE_REQUEST:
            return
        if call.state == DISCONNECT_REQUEST:  # clear collision (§5.3.5)
            self._stop(call, "t305")
            self._send_release(call, call.cause, now)
            return
        self._stop_all(call)
        # §5.8.6: a missing or bad cause is taken as 31, and our RELEASE carries 96 / 100
        if mand is not None or cause is None:
            cause = IE.CAUSE_NORMAL_UNSPECIFIED
        call.state = DISCONNECT_INDICATION
        self._disconnected(call, cause)
        self._send_release(call, cause if mand is None else mand, now)

    def _h_release(self, call: Call, d: Decoded, now: float) -> None:
        cause, mand, mdiag = self._cause_of(d)
        first = call.state not in (DISCONNECT_REQUEST, RELEASE_REQUEST)
        if call.state == RELEASE_REQUEST:  # release collision (§5.3.5): no answer
            self._release(call, call.cause)
            return
        if cause is None:
            cause = call.cause if not first else IE.CAUSE_NORMAL_UNSPECIFIED
        if first and mand is not None:
            self._send(call, MT.RELEASE_COMPLETE, [self._cause_ie(mand, mdiag)])
        else:
            self._send(call, MT.RELEASE_COMPLETE, [self._cause_ie(cause)])
        if first:
            self._disconnected(call, cause)
        self._release(call, cause)

    def _h_release_complete(self, call: Call, d: Decoded, now: float) -> None:
        cause, _, _ = self._cause_of(d)
        first = call.state not in (DISCONNECT_REQUEST, RELEASE_REQUEST)
        if cause is None:  # §5.8.6.1: taken as 31 when it is the first clearing message
            cause = IE.CAUSE_NORMAL_UNSPECIFIED if first else call.cause
        if first:
            self._disconnected(call, cause)
        self._release(call, cause)

    def _h_status_enquiry(self, call: Call, d: Decoded, now: float) -> None:
        self._send_status(call, IE.CAUSE_RESPONSE_TO_STATUS_ENQUIRY)

    def _h_status(self, call: Call, d: Decoded, now: float) -> None:
        vals, mand, _, _, _ = self._check(
            d,
            (IeId.CAUSE, IeId.CALL_STATE),
            {IeId.CAUSE: IE.Cause.decode, IeId.CALL_STATE: IE.CallState.decode},
        )
        if mand is not None:  # no STATUS in answer to a STATUS: count and drop
            self._bad("q931_status_invalid", f"cause {mand}")
            return
        peer = vals[IeId.CALL_STATE].state
        cause = vals[IeId.CAUSE].value
        self.counters["q931_status_received"] += 1
        if peer == NULL:  # §5.8.11: the peer has no call: release locally
            self._disconnected(call, cause)
            self._release(call, cause)
            return
        if not _compatible(call.state, peer):
            self._bad("q931_status_incompatible", f"ours {call.state}, peer {peer}")
            self._disconnected(call, IE.CAUSE_WRONG_STATE_FOR_STATUS)
            self._send_release(call, IE.CAUSE_WRONG_STATE_FOR_STATUS, now)

    def _h_information(self, call: Call, d: Decoded, now: float) -> None:
        if call.state != OVERLAP_RECEIVING:
            return  # keypad or other information in other states: nothing to do on a PRI
        vals, _, _, opt, odiag = self._check(
            d, (), {IeId.CALLED_NUMBER: lambda c: IE.PartyNumber.decode(c, False)}
        )
        num = vals.get(IeId.CALLED_NUMBER)
        if num is not None:
            call.called += num.digits
        if d.message.ie(IE.IeId.SENDING_COMPLETE) is not None:
            self._stop(call, "t302")
            self._offer(call)
        else:
            self._start(call, "t302", now)

    _HANDLERS: dict[int, Callable[[CallLayer, Call, Decoded, float], None]] = {
        MT.CALL_PROCEEDING: _h_call_proceeding,
        MT.SETUP_ACKNOWLEDGE: _h_setup_ack,
        MT.ALERTING: _h_alerting,
        MT.PROGRESS: _h_progress,
        MT.CONNECT: _h_connect,
        MT.CONNECT_ACKNOWLEDGE: _h_connect_ack,
        MT.DISCONNECT: _h_disconnect,
        MT.RELEASE: _h_release,
        MT.RELEASE_COMPLETE: _h_release_complete,
        MT.STATUS_ENQUIRY: _h_status_enquiry,
        MT.STATUS: _h_status,
        MT.INFORMATION: _h_information,
    }

    # ===================================================================== internals
    def _bad(self, kind: str, detail: str) -> None:
        self.counters[kind] += 1
        log.debug("bad input %s: %s", kind, detail)
        if self.trace:
            self.events.append(BadInput(kind, detail))

    def _new_call(self, cr: int, ours: bool) -> Call:
        call = Call(self._next_id, cr, ours)
        self._next_id += 1
        self.calls[call.call_id] = call
        self._by_cr[(cr, ours)] = call
        return call

    def _alloc_cr(self) -> int:
        for _ in range(0x7FFF):
            cr = self._next_cr
            self._next_cr = cr + 1 if cr < 0x7FFF else 1
            if (cr, True) not in self._by_cr:
                return cr
        raise CallError("no free call reference")

    def _app_call(self, call_id: int) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise CallError(f"no call {call_id}")
        return call

    def _chan(self, channel: int, status: ChannelStatus) -> None:
        if self.channels.set(channel, status):
            self.events.append(ChannelState(channel, status.value))

    def _chan_ie(self, call: Call) -> bytes:
        return IE.ChannelId(call.channel, True).encode()

    def _cause_ie(self, cause: int, diag: bytes = b"") -> bytes:
        return IE.Cause(cause, self._location, diag).encode()

    def _start(self, call: Call, name: str, now: float) -> None:
        dur = self.t310 if name == "t310" else getattr(self.timers, name)
        call.timers[name] = now + dur

    def _stop(self, call: Call, name: str) -> None:
        call.timers.pop(name, None)

    def _stop_all(self, call: Call) -> None:
        call.timers.clear()

    def _send(self, call: Call, mtype: int, ies: list[bytes]) -> bytes:
        msg = encode(mtype, call.cr, not call.ours, ies)
        self.out.append(msg)
        self._trace_out(msg, call)
        return msg

    def _emit_out(self, msg: bytes, call: Call | None, channel: int | None = None) -> None:
        self.out.append(msg)
        self._trace_out(msg, call, channel)

    def _send_status(self, call: Call, cause: int, diag: bytes = b"") -> None:
        self._send(
            call, MT.STATUS, [self._cause_ie(cause, diag), IE.CallState(call.state).encode()]
        )

    def _disconnect(self, call: Call, cause: int, now: float) -> None:
        self._stop_all(call)
        call.cause = cause
        pi = (
            [IE.ProgressIndicator(IE.PROGRESS_INBAND, self._location).encode()]
            if self.network
            else []
        )
        self._send(call, MT.DISCONNECT, [self._cause_ie(cause)] + pi)
        call.state = DISCONNECT_REQUEST
        self._start(call, "t305", now)

    def _send_release(self, call: Call, cause: int, now: float) -> None:
        self._stop_all(call)
        call.cause = cause
        call.release_msg = self._send(call, MT.RELEASE, [self._cause_ie(cause)])
        call.state = RELEASE_REQUEST
        call.retries["t308"] = 0
        self._start(call, "t308", now)

    def _disconnected(self, call: Call, cause: int) -> None:
        if not call.disconnected:
            call.disconnected = True
            call.cause = cause
            self.events.append(Disconnected(call.call_id, cause, IE.cause_name(cause)))

    def _release(self, call: Call, cause: int, free: bool = True) -> None:
        """The call is gone: free its channel, forget it, tell call control."""
        call.timers.clear()
        call.state = NULL
        self.calls.pop(call.call_id, None)
        self._by_cr.pop((call.cr, call.ours), None)
        ch = call.channel
        if free and ch is not None and self.channels.status.get(ch) is ChannelStatus.IN_USE:
            self._chan(ch, ChannelStatus.IDLE)
        self.events.append(Released(call.call_id, cause, IE.cause_name(cause)))

    # --- tracing (for the CLI's JSON lines) ---------------------------------------------------
    def _trace_out(self, msg: bytes, call: Call | None, channel: int | None = None) -> None:
        if self.trace:
            self.events.append(_describe(MessageSent, msg, call, channel))

    def _trace_in(self, m: Message, call: Call | None) -> None:
        if self.trace:
            self.events.append(_describe(MessageReceived, m.encode(), call, None))


def _compatible(ours: int, peer: int) -> bool:
    """§5.8.11: a STATUS whose call state cannot follow from ours means the call is broken.

    Only clear contradictions count (one side active while the other has not got past the
    SETUP); transient differences while messages cross are compatible.
    """
    if ours in CLEARING or peer in CLEARING:
        return True
    early = {CALL_INITIATED, OVERLAP_SENDING, CALL_PRESENT, OVERLAP_RECEIVING}
    if ours == ACTIVE and peer in early | {OUTGOING_PROCEEDING, INCOMING_PROCEEDING}:
        return False
    return not (ours in early and peer == ACTIVE)


def _describe(
    cls: type[MessageSent] | type[MessageReceived],
    raw: bytes,
    call: Call | None,
    channel: int | None,
) -> MessageSent | MessageReceived:
    m = decode(raw).message
    called = calling = None
    cause = None
    for e in m.ies:
        if e.codeset:
            continue
        try:
            if e.ident == IeId.CHANNEL_ID:
                channel = IE.ChannelId.decode(e.contents).channel
            elif e.ident == IeId.CALLED_NUMBER:
                called = IE.PartyNumber.decode(e.contents, False).digits
            elif e.ident == IeId.CALLING_NUMBER:
                calling = IE.PartyNumber.decode(e.contents, True).digits
            elif e.ident == IeId.CAUSE and cause is None:
                cause = IE.Cause.decode(e.contents).value
        except IeContentError:
            pass
    return cls(
        message_name(m.mtype),
        m.call_ref,
        call.call_id if call else None,
        channel,
        called,
        calling,
        cause,
    )


__all__ = ["CallLayer", "CallError", "Call", "IeProblem"]
