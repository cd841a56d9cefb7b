"""Q.931 information elements: the ones call control reads, as frozen dataclasses.

Each typed element has `encode() -> bytes` (identifier, length and contents) and a
`decode(contents)` classmethod that raises `IeContentError` on contents that break the coding
rules of Q.931 §4.5. Elements the stack carries but does not interpret stay raw
(`firmware.isdn.q931.RawIe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class IeContentError(ValueError):
    """An information element's contents break its coding rules (Q.931 §5.8.6.2 / §5.8.7.2)."""


class IeId(IntEnum):
    """Codeset 0 information element identifiers (Q.931 table 4-3)."""

    SENDING_COMPLETE = 0xA1  # single octet
    BEARER_CAPABILITY = 0x04
    CAUSE = 0x08
    CALL_IDENTITY = 0x10
    CALL_STATE = 0x14
    CHANNEL_ID = 0x18
    FACILITY = 0x1C
    PROGRESS = 0x1E
    NETWORK_FACILITIES = 0x20
    NOTIFICATION = 0x27
    DISPLAY = 0x28
    DATE_TIME = 0x29
    KEYPAD = 0x2C
    SIGNAL = 0x34
    INFORMATION_RATE = 0x40
    CONNECTED_NUMBER = 0x4C
    CALLING_NUMBER = 0x6C
    CALLING_SUBADDRESS = 0x6D
    CALLED_NUMBER = 0x70
    CALLED_SUBADDRESS = 0x71
    REDIRECTING_NUMBER = 0x74
    REDIRECTION_NUMBER = 0x76
    TRANSIT_NETWORK = 0x78
    RESTART_INDICATOR = 0x79
    LOW_LAYER_COMPAT = 0x7C
    HIGH_LAYER_COMPAT = 0x7D
    USER_USER = 0x7E


# Maximum contents length (octets after the length octet) per codeset-0 element; longer is an
# "oversized" element (Q.931 table 4-3 gives the maximum total lengths; contents = total - 2).
MAX_CONTENTS: dict[int, int] = {
    IeId.BEARER_CAPABILITY: 10,
    IeId.CAUSE: 30,
    IeId.CALL_IDENTITY: 8,
    IeId.CALL_STATE: 1,
    IeId.CHANNEL_ID: 32,
    IeId.FACILITY: 255,
    IeId.PROGRESS: 2,
    IeId.NETWORK_FACILITIES: 255,
    IeId.NOTIFICATION: 255,
    IeId.DISPLAY: 82,
    IeId.DATE_TIME: 6,
    IeId.KEYPAD: 32,
    IeId.SIGNAL: 1,
    IeId.INFORMATION_RATE: 4,
    IeId.CONNECTED_NUMBER: 32,
    IeId.CALLING_NUMBER: 32,
    IeId.CALLING_SUBADDRESS: 21,
    IeId.CALLED_NUMBER: 32,
    IeId.CALLED_SUBADDRESS: 21,
    IeId.REDIRECTING_NUMBER: 32,
    IeId.REDIRECTION_NUMBER: 32,
    IeId.TRANSIT_NETWORK: 255,
    IeId.RESTART_INDICATOR: 1,
    IeId.LOW_LAYER_COMPAT: 16,
    IeId.HIGH_LAYER_COMPAT: 3,
    IeId.USER_USER: 129,
}

KNOWN_VARIABLE_IES = frozenset(int(i) for i in IeId if i < 0x80)

# Causes used by the stack (Q.850).
CAUSE_UNALLOCATED = 1
CAUSE_NORMAL_CLEARING = 16
CAUSE_USER_BUSY = 17
CAUSE_NO_USER_RESPONDING = 18
CAUSE_CALL_REJECTED = 21
CAUSE_DESTINATION_OUT_OF_ORDER = 27
CAUSE_INVALID_NUMBER_FORMAT = 28
CAUSE_RESPONSE_TO_STATUS_ENQUIRY = 30
CAUSE_NORMAL_UNSPECIFIED = 31
CAUSE_NO_CIRCUIT_AVAILABLE = 34
CAUSE_NETWORK_OUT_OF_ORDER = 38
CAUSE_TEMPORARY_FAILURE = 41
CAUSE_CHANNEL_NOT_AVAILABLE = 44
CAUSE_BEARER_NOT_IMPLEMENTED = 65
CAUSE_INVALID_CALL_REFERENCE = 81
CAUSE_CHANNEL_DOES_NOT_EXIST = 82
CAUSE_INCOMPATIBLE_DESTINATION = 88
CAUSE_MANDATORY_IE_MISSING = 96
CAUSE_MESSAGE_TYPE_NONEXISTENT = 97
CAUSE_MESSAGE_NOT_COMPATIBLE = 98
CAUSE_IE_NONEXISTENT = 99
CAUSE_INVALID_IE_CONTENTS = 100
CAUSE_WRONG_STATE_FOR_STATUS = 101
CAUSE_RECOVERY_ON_TIMER_EXPIRY = 102

CAUSE_NAMES: dict[int, str] = {
    1: "unallocated number",
    16: "normal clearing",
    17: "user busy",
    18: "no user responding",
    19: "no answer from user",
    21: "call rejected",
    27: "destination out of order",
    28: "invalid number format",
    30: "response to STATUS ENQUIRY",
    31: "normal, unspecified",
    34: "no circuit/channel available",
    38: "network out of order",
    41: "temporary failure",
    44: "requested circuit/channel not available",
    65: "bearer capability not implemented",
    81: "invalid call reference value",
    82: "identified channel does not exist",
    88: "incompatible destination",
    96: "mandatory information element is missing",
    97: "message type non-existent or not implemented",
    98: "message not compatible with call state",
    99: "information element non-existent or not implemented",
    100: "invalid information element contents",
    101: "message not compatible with call state",
    102: "recovery on timer expiry",
}


def cause_name(cause: int) -> str:
    return CAUSE_NAMES.get(cause, f"cause {cause}")


def _tlv(ident: int, contents: bytes) -> bytes:
    if len(contents) > 255:
        raise IeContentError(f"IE 0x{ident:02x}: contents of {len(contents)} octets exceed 255")
    return bytes((ident, len(contents))) + contents


def _need(contents: bytes, n: int, what: str) -> None:
    if len(contents) < n:
        raise IeContentError(f"{what}: {len(contents)} octets, need at least {n}")


# --- Bearer capability (§4.5.5) -----------------------------------------------------------

CAP_SPEECH = 0x00
CAP_UNRESTRICTED_DIGITAL = 0x08
CAP_RESTRICTED_DIGITAL = 0x09
CAP_AUDIO_3K1 = 0x10
CAP_AUDIO_7K = 0x11
CAP_VIDEO = 0x18
_CAPABILITIES = {CAP_SPEECH, CAP_UNRESTRICTED_DIGITAL, CAP_RESTRICTED_DIGITAL, CAP_AUDIO_3K1}
LAYER1_ULAW = 0x02
LAYER1_ALAW = 0x03


@dataclass(frozen=True)
class BearerCapability:
    capability: int = CAP_SPEECH
    rate: int = 0x10  # 64 kbit/s circuit mode
    layer1: int | None = LAYER1_ULAW  # None: no octet 5

    def encode(self) -> bytes:
        body = bytes((0x80 | self.capability, 0x80 | self.rate))
        if self.layer1 is not None:
            body += bytes((0xA0 | self.layer1,))
        return _tlv(IeId.BEARER_CAPABILITY, body)

    @classmethod
    def decode(cls, c: bytes) -> BearerCapability:
        _need(c, 2, "bearer capability")
        if c[0] & 0x60:
            # Coding standard other than ITU-T: accepted but the capability is not ours to read.
            pass
        cap = c[0] & 0x1F
        if not c[0] & 0x80:
            raise IeContentError("bearer capability: octet 3 extension bit is 0")
        i = 1
        rate = c[i] & 0x7F
        if rate & 0x60:
            raise IeContentError("bearer capability: transfer mode is not circuit mode")
        rate &= 0x1F
        while not c[i] & 0x80:  # octets 4a/4b
            i += 1
            if i >= len(c):
                raise IeContentError("bearer capability: octet 4 group is truncated")
        i += 1
        if rate == 0x18:  # multirate: octet 4.1 follows
            if i >= len(c):
                raise IeContentError("bearer capability: multirate without rate multiplier")
            i += 1
        layer1 = None
        if i < len(c):
            if (c[i] & 0x60) != 0x20:
                raise IeContentError("bearer capability: octet 5 is not layer 1 identification")
            layer1 = c[i] & 0x1F
        return cls(cap, rate, layer1)


# --- Channel identification (§4.5.13) ---------------------------------------------------


@dataclass(frozen=True)
class ChannelId:
    """One B-channel (or none/any) of the primary rate interface carrying the D-channel."""

    channel: int | None  # None: "no channel" or "any channel"
    exclusive: bool = True
    any_channel: bool = False  # selection 11: any channel

    def encode(self) -> bytes:
        octet3 = 0x80 | 0x20 | (0x08 if self.exclusive else 0)
        if self.channel is None:
            return _tlv(IeId.CHANNEL_ID, bytes((octet3 | (0x03 if self.any_channel else 0),)))
        if not 1 <= self.channel <= 127:
            raise IeContentError(f"channel id: channel {self.channel} outside 1..127")
        return _tlv(IeId.CHANNEL_ID, bytes((octet3 | 0x01, 0x83, 0x80 | self.channel)))

    @classmethod
    def decode(cls, c: bytes) -> ChannelId:
        _need(c, 1, "channel id")
        o3 = c[0]
        if not o3 & 0x80:
            raise IeContentError("channel id: interface identifier present (no NFAS here)")
        if not o3 & 0x20:
            raise IeContentError("channel id: basic-rate interface type on a primary rate span")
        if o3 & 0x04:
            raise IeContentError("channel id: D-channel indicated")
        exclusive = bool(o3 & 0x08)
        sel = o3 & 0x03
        if sel == 0x00:
            return cls(None, exclusive)
        if sel == 0x03:
            return cls(None, exclusive, any_channel=True)
        if sel != 0x01:
            raise IeContentError("channel id: reserved channel selection")
        _need(c, 3, "channel id")
        o32 = c[1]
        if (o32 & 0x60) != 0x00:
            raise IeContentError("channel id: coding standard is not ITU-T")
        if o32 & 0x10:
            raise IeContentError("channel id: slot map not supported")
        if (o32 & 0x0F) != 0x03:
            raise IeContentError("channel id: channel type is not B-channel units")
        number = c[2] & 0x7F
        if len(c) > 3 or not c[2] & 0x80:
            raise IeContentError("channel id: more than one channel")
        return cls(number, exclusive)


# --- Party numbers (§4.5.8, §4.5.10) -----------------------------------------------------

TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_NATIONAL = 2
TON_NETWORK_SPECIFIC = 3
TON_SUBSCRIBER = 4
TON_ABBREVIATED = 6
PLAN_UNKNOWN = 0
PLAN_ISDN = 1
PLAN_PRIVATE = 9

PRES_ALLOWED = 0
PRES_RESTRICTED = 1
PRES_NOT_AVAILABLE = 2
_DIGITS = frozenset(b"0123456789*#ABCD")


@dataclass(frozen=True)
class PartyNumber:
    """Called or calling party number; `presentation`/`screening` only for calling numbers."""

    digits: str
    type_of_number: int = TON_UNKNOWN
    plan: int = PLAN_ISDN
    presentation: int | None = None
    screening: int = 0

    def encode(self, ident: int) -> bytes:
        o3 = ((self.type_of_number & 7) << 4) | (self.plan & 0x0F)
        if self.presentation is None:
            head = bytes((0x80 | o3,))
        else:
            head = bytes((o3, 0x80 | (self.presentation & 3) << 5 | (self.screening & 3)))
        digits = self.digits.encode("ascii")
        if not set(digits) <= _DIGITS:
            raise IeContentError(f"party number: {self.digits!r} has characters outside 0-9*#A-D")
        return _tlv(ident, head + digits)

    @classmethod
    def decode(cls, c: bytes, calling: bool) -> PartyNumber:
        _need(c, 1, "party number")
        o3 = c[0]
        ton, plan = (o3 >> 4) & 7, o3 & 0x0F
        i = 1
        pres: int | None = None
        screening = 0
        if not o3 & 0x80:
            if not calling:
                raise IeContentError("called party number: octet 3 extension bit is 0")
            _need(c, 2, "calling party number")
            if not c[1] & 0x80:
                raise IeContentError("calling party number: octet 3a extension bit is 0")
            pres, screening = (c[1] >> 5) & 3, c[1] & 3
            i = 2
        digits = bytes(c[i:])
        if not set(digits) <= _DIGITS:
            raise IeContentError("party number: digits outside the IA5 set 0-9*#A-D")
        return cls(digits.decode("ascii"), ton, plan, pres, screening)


# --- Cause (§4.5.12, Q.850) ---------------------------------------------------------------

LOC_USER = 0
LOC_PRIVATE_LOCAL = 1
LOC_PUBLIC_LOCAL = 2


@dataclass(frozen=True)
class Cause:
    value: int
    location: int = LOC_PRIVATE_LOCAL
    diagnostic: bytes = b""

    def encode(self) -> bytes:
        return _tlv(
            IeId.CAUSE,
            bytes((0x80 | (self.location & 0x0F), 0x80 | (self.value & 0x7F))) + self.diagnostic,
        )

    @classmethod
    def decode(cls, c: bytes) -> Cause:
        _need(c, 2, "cause")
        loc = c[0] & 0x0F
        i = 1
        if not c[0] & 0x80:  # octet 3a recommendation
            i = 2
            _need(c, 3, "cause")
        if not c[i] & 0x80:
            raise IeContentError("cause: octet 4 extension bit is 0")
        return cls(c[i] & 0x7F, loc, bytes(c[i + 1 :]))


# --- Progress indicator, call state, restart indicator, display ---------------------------

PROGRESS_NOT_END_TO_END = 1
PROGRESS_DEST_NON_ISDN = 2
PROGRESS_ORIG_NON_ISDN = 3
PROGRESS_INBAND = 8


@dataclass(frozen=True)
class ProgressIndicator:
    description: int
    location: int = LOC_PRIVATE_LOCAL

    def encode(self) -> bytes:
        return _tlv(IeId.PROGRESS, bytes((0x80 | self.location, 0x80 | self.description)))

    @classmethod
    def decode(cls, c: bytes) -> ProgressIndicator:
        if len(c) != 2 or not c[0] & 0x80 or not c[1] & 0x80:
            raise IeContentError("progress indicator: must be 2 octets with extension bits set")
        return cls(c[1] & 0x7F, c[0] & 0x0F)


@dataclass(frozen=True)
class CallState:
    state: int

    def encode(self) -> bytes:
        return _tlv(IeId.CALL_STATE, bytes((self.state & 0x3F,)))

    @classmethod
    def decode(cls, c: bytes) -> CallState:
        if len(c) != 1:
            raise IeContentError("call state: must be 1 octet")
        return cls(c[0] & 0x3F)


RESTART_INDICATED = 0
RESTART_SINGLE_INTERFACE = 6
RESTART_ALL_INTERFACES = 7


@dataclass(frozen=True)
class RestartIndicator:
    restart_class: int

    def encode(self) -> bytes:
        return _tlv(IeId.RESTART_INDICATOR, bytes((0x80 | self.restart_class,)))

    @classmethod
    def decode(cls, c: bytes) -> RestartIndicator:
        if len(c) != 1 or not c[0] & 0x80:
            raise IeContentError("restart indicator: must be 1 octet with extension bit set")
        klass = c[0] & 0x07
        if klass not in (RESTART_INDICATED, RESTART_SINGLE_INTERFACE, RESTART_ALL_INTERFACES):
            raise IeContentError(f"restart indicator: reserved class {klass}")
        return cls(klass)


@dataclass(frozen=True)
class Display:
    text: str

    def encode(self, prefix: bytes = b"") -> bytes:
        return _tlv(IeId.DISPLAY, prefix + self.text.encode("ascii", "replace"))

    @classmethod
    def decode(cls, c: bytes) -> Display:
        if c and c[0] & 0x80:  # NI2 and others put a display-type octet first
            c = c[1:]
        if any(b & 0x80 for b in c):
            raise IeContentError("display: characters outside IA5")
        return cls(bytes(c).decode("ascii"))
