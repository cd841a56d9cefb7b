"""Q.931 message codec: header (§4.1–4.4) and information element framing (§4.5).

`decode(data)` returns the message and the problems found in its information elements
(truncated, oversized, unknown, out of sequence, duplicated) so call control can answer as
§5.8 prescribes; header errors that make the message unusable raise `Q931FormatError` with a
`kind` the stack counts. `encode(...)` builds a message from already-encoded elements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from firmware.isdn.ie import KNOWN_VARIABLE_IES, MAX_CONTENTS, IeId

PD_Q931 = 0x08
GLOBAL_CR = 0


class MessageType(IntEnum):
    ALERTING = 0x01
    CALL_PROCEEDING = 0x02
    PROGRESS = 0x03
    SETUP = 0x05
    CONNECT = 0x07
    SETUP_ACKNOWLEDGE = 0x0D
    CONNECT_ACKNOWLEDGE = 0x0F
    USER_INFORMATION = 0x20
    SUSPEND_REJECT = 0x21
    RESUME_REJECT = 0x22
    SUSPEND = 0x25
    RESUME = 0x26
    SUSPEND_ACKNOWLEDGE = 0x2D
    RESUME_ACKNOWLEDGE = 0x2E
    DISCONNECT = 0x45
    RESTART = 0x46
    RELEASE = 0x4D
    RESTART_ACKNOWLEDGE = 0x4E
    RELEASE_COMPLETE = 0x5A
    SEGMENT = 0x60
    FACILITY = 0x62
    NOTIFY = 0x6E
    STATUS_ENQUIRY = 0x75
    CONGESTION_CONTROL = 0x79
    INFORMATION = 0x7B
    STATUS = 0x7D


KNOWN_MESSAGE_TYPES = frozenset(int(m) for m in MessageType)


def message_name(mtype: int) -> str:
    try:
        return MessageType(mtype).name
    except ValueError:
        return f"UNKNOWN_0x{mtype:02x}"


class Q931FormatError(ValueError):
    """A message the receiver must discard (§5.8.1–5.8.3.1); `kind` names the counter."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class RawIe:
    """One information element as found on the wire (single-octet elements have no contents)."""

    ident: int
    contents: bytes = b""
    codeset: int = 0

    @property
    def single_octet(self) -> bool:
        return bool(self.ident & 0x80)

    def encode(self) -> bytes:
        if self.single_octet:
            return bytes((self.ident,))
        return bytes((self.ident, len(self.contents))) + self.contents


@dataclass(frozen=True)
class IeProblem:
    kind: str  # truncated | oversized | unknown | out_of_sequence | duplicate
    ident: int
    codeset: int = 0

    @property
    def comprehension_required(self) -> bool:
        """Codeset 0 identifiers 0000xxxx must be understood (§4.5.1, §5.8.7.1)."""
        return self.codeset == 0 and self.ident < 0x10


@dataclass(frozen=True)
class Message:
    mtype: int
    call_ref: int
    flag: bool  # call reference flag: True in messages sent TO the side that allocated the CR
    ies: tuple[RawIe, ...] = ()

    def ie(self, ident: int, codeset: int = 0) -> RawIe | None:
        for e in self.ies:
            if e.ident == ident and e.codeset == codeset:
                return e
        return None

    def has(self, ident: int) -> bool:
        return self.ie(ident) is not None

    @property
    def name(self) -> str:
        return message_name(self.mtype)

    def encode(self) -> bytes:
        return encode(self.mtype, self.call_ref, self.flag, (e.encode() for e in self.ies))


@dataclass(frozen=True)
class Decoded:
    message: Message
    problems: tuple[IeProblem, ...] = ()


_REPEATABLE = frozenset({IeId.PROGRESS, IeId.CAUSE, IeId.DISPLAY, IeId.FACILITY, IeId.USER_USER})


def encode(mtype: int, call_ref: int, flag: bool, ies: Iterable[bytes] = ()) -> bytes:
    """Build a message with a 2-octet call reference from already-encoded elements."""
    if not 0 <= call_ref <= 0x7FFF:
        raise ValueError(f"call reference {call_ref} outside 0..32767")
    head = bytes((PD_Q931, 2, (call_ref >> 8) | (0x80 if flag else 0), call_ref & 0xFF, mtype))
    return head + b"".join(ies)


def decode(data: bytes) -> Decoded:
    """Parse one message; raise `Q931FormatError` when §5.8 says to discard it."""
    n = len(data)
    if n < 1:
        raise Q931FormatError("q931_short", "empty message")
    if data[0] != PD_Q931:
        raise Q931FormatError("q931_bad_pd", f"protocol discriminator 0x{data[0]:02x}")
    if n < 2:
        raise Q931FormatError("q931_short", "no call reference")
    if data[1] & 0xF0:
        raise Q931FormatError("q931_bad_cr_length", f"call reference octet 0x{data[1]:02x}")
    crlen = data[1] & 0x0F
    if crlen != 2:
        raise Q931FormatError("q931_bad_cr_length", f"{crlen}-octet call reference on a PRI")
    if n < 5:
        raise Q931FormatError("q931_short", f"{n} octets, no message type")
    flag = bool(data[2] & 0x80)
    cr = ((data[2] & 0x7F) << 8) | data[3]
    mtype = data[4]
    if mtype & 0x80:
        raise Q931FormatError("q931_bad_message_type", f"message type 0x{mtype:02x} has bit 8 set")
    ies: list[RawIe] = []
    problems: list[IeProblem] = []
    seen: set[tuple[int, int]] = set()
    i = 5
    locked = 0
    last_ident = -1
    while i < n:
        octet = data[i]
        codeset = locked
        if octet & 0x80:  # single-octet element
            i += 1
            if (octet & 0xF0) == 0x90:  # shift
                new = octet & 0x07
                if octet & 0x08:  # non-locking: applies to the next element only
                    if i < n and not data[i] & 0x80:
                        ident = data[i]
                        i = _variable(data, i, ident, new, ies, problems, seen)
                    continue
                locked = new
                continue
            ies.append(RawIe(octet, b"", codeset))
            continue
        ident = octet
        if codeset == 0:
            if ident < last_ident:
                problems.append(IeProblem("out_of_sequence", ident))
            last_ident = ident
        i = _variable(data, i, ident, codeset, ies, problems, seen)
    return Decoded(Message(mtype, cr, flag, tuple(ies)), tuple(problems))


def _variable(
    data: bytes,
    i: int,
    ident: int,
    codeset: int,
    ies: list[RawIe],
    problems: list[IeProblem],
    seen: set[tuple[int, int]],
) -> int:
    n = len(data)
    if i + 1 >= n:
        problems.append(IeProblem("truncated", ident, codeset))
        return n
    length = data[i + 1]
    end = i + 2 + length
    if end > n:
        problems.append(IeProblem("truncated", ident, codeset))
        return n
    contents = bytes(data[i + 2 : end])
    if codeset == 0:
        if ident not in KNOWN_VARIABLE_IES:
            problems.append(IeProblem("unknown", ident))
        elif length > MAX_CONTENTS.get(ident, 255):
            problems.append(IeProblem("oversized", ident))
            return end
        key = (codeset, ident)
        if key in seen and ident not in _REPEATABLE:
            problems.append(IeProblem("duplicate", ident))
            return end
        seen.add(key)
    ies.append(RawIe(ident, contents, codeset))
    return end
