"""The fuzz target shared by tests/isdn/fuzz_q931.py (atheris / hypothesis at scale) and the
corpus replay test: one input = one Q.931 message (or, with a leading 0xff, one raw LAPD frame)
fed to a CPE stack whose link is up and which holds one protected active call
(CPE by default; `FuzzTarget("network")` plays the user side against our network side).

The target checks, per input: nothing raises; a message that is not for the protected call's
call reference (nor the global one, where a RESTART may legitimately clear it) leaves that call
active; the Q.931 decoder either returns or raises Q931FormatError.
"""

from __future__ import annotations

from collections import Counter

from firmware.isdn import ie as IE
from firmware.isdn import q931
from firmware.isdn.config import IsdnTimers, SpanConfig
from firmware.isdn.events import IncomingCall
from firmware.isdn.q931 import MessageType as MT
from firmware.isdn.stack import IsdnStack

# The peer's command and response addresses when it is the network (we are CPE) or the user.
PEER_ADDR = {"cpe": (b"\x02\x01", b"\x00\x01"), "network": (b"\x00\x01", b"\x02\x01")}
PROTECTED_CR = 0x7FF0
PROTECTED_CHANNEL = 23


class FuzzTarget:
    def __init__(self, role: str = "cpe") -> None:
        self.role = role
        self.cmd, self.rsp = PEER_ADDR[role]
        self.inputs = 0
        self.resets = 0
        self.total: Counter[str] = Counter()  # bad-input counters over all stacks
        self._fresh()

    def _fresh(self) -> None:
        if hasattr(self, "stack"):
            self.total.update(self.stack.counters)
        self.stack = IsdnStack(SpanConfig(role=self.role, timers=IsdnTimers(t203=1e9)))
        self.stack.start(0.0)
        self.stack.receive(self.rsp + b"\x73", 0.0)  # UA: link up
        assert self.stack.link.up
        self._ns = 0
        setup = q931.encode(
            MT.SETUP,
            PROTECTED_CR,
            False,
            [IE.BearerCapability().encode(), IE.ChannelId(PROTECTED_CHANNEL).encode()],
        )
        out = self._i(setup)
        (inc,) = [e for e in out.events if isinstance(e, IncomingCall)]
        self.call_id = inc.call_id
        self.stack.answer(self.call_id)
        self.stack.drain(0.0)
        self._i(q931.encode(MT.CONNECT_ACKNOWLEDGE, PROTECTED_CR, False))
        assert self.stack.calls.calls[self.call_id].state == 10

    def _i(self, info: bytes):  # type: ignore[no-untyped-def]
        nr = self.stack.link._vs  # acknowledge everything the stack sent
        frame = self.cmd + bytes((self._ns << 1, nr << 1)) + info
        self._ns = (self._ns + 1) & 0x7F
        return self.stack.receive(frame, 0.0)

    def __call__(self, data: bytes) -> None:
        self.inputs += 1
        if data[:1] == b"\xff":  # a raw layer-2 frame
            self.stack.receive(data[1:], 0.0)
            if not self.stack.link.up or self.call_id not in self.stack.calls.calls:
                self.resets += 1
                self._fresh()
            return
        data = data[:260]
        try:
            m: q931.Message | None = q931.decode(data).message
        except q931.Q931FormatError:
            m = None
        self._i(data)
        call = self.stack.calls.calls.get(self.call_id)
        targeted = m is not None and m.call_ref in (PROTECTED_CR, 0)
        if not targeted:
            assert call is not None and call.state == 10, (data.hex(), call)
        if call is None or call.state != 10 or not self.stack.link.up:
            self.resets += 1
            self._fresh()
