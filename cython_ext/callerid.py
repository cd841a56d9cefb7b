"""Caller ID: the message layer, the receiver and the sender.

Standards:
- Telcordia GR-30-CORE (Bell 202 FSK, North America): on-hook ("type 1", between the first and
  second ring) and off-hook ("type 2", call waiting: CAS alert tone, DTMF ACK from the phone,
  then FSK). SDMF (message type 0x04: 8 date/time digits then the number, or "O"/"P") and MDMF
  (type 0x80: parameters 0x01 date/time, 0x02 number, 0x04 reason the number is absent,
  0x07 name, 0x08 reason the name is absent).
- ETSI EN 300 659-1/-2/-3 (V.23 FSK, Europe): the same MDMF "call set-up" message 0x80 and the
  same parameter codes; unknown parameters (call type, ...) are skipped.
- DTMF caller ID (ETSI EN 300 659-1 Annex B style, Nordic countries, the Netherlands, ...): the
  number between a start code "A" (or "D") and the end code "C" (or "#"); "B00C" means the
  number is unavailable ("O") and "B10C" that it is private ("P").

Every FSK message ends with a checksum: the two's complement of the sum, modulo 256, of every
byte before it (type, length, parameters), so the sum of all bytes is 0 mod 256.

The FSK receiver (`cython_ext.fsk`) demodulates both Bell 202 and V.23 and measures which mark
frequency it hears; this module turns its characters into checksummed messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cython_ext.fsk import (
    FskCharacter,
    FskReceiver,
    async_bits,
    fsk_modulate,
)
from cython_ext.levels import sine_peak

log = logging.getLogger(__name__)

__all__ = [
    "CallerIdError",
    "CallerIdMessage",
    "CallerIdReceiver",
    "CallerIdSender",
    "callerid_signal",
    "checksum",
    "decode_message",
    "dtmf_digits",
    "encode_message",
    "parse_dtmf_digits",
]

RATE = 8000
SDMF_CALLER_ID = 0x04
MDMF_CALLER_ID = 0x80
#: other message types a line may carry (message waiting, charge, SMS): valid but not caller ID
OTHER_MESSAGE_TYPES = frozenset({0x06, 0x82, 0x86, 0x89})
PARAM_DATETIME = 0x01
PARAM_NUMBER = 0x02
PARAM_NUMBER_ABSENT = 0x04
PARAM_NAME = 0x07
PARAM_NAME_ABSENT = 0x08
ABSENCE_CODES = ("O", "P")  # "O": out of area / unavailable, "P": private / withheld
STANDARDS = ("bell202", "v23", "dtmf")
#: a message starts with a character preceded by at least this many idle mark bits
MIN_LEAD_BITS = 16
# on-hook: channel seizure (alternating 0/1) and mark signal, GR-30 and EN 300 659-1
SEIZURE_BITS = 300
MARK_BITS = 180
# off-hook: no seizure, mark signal of 80 bits (GR-30 type 2, EN 300 659-2)
OFFHOOK_MARK_BITS = 80
TRAILING_MARK_BITS = 10
CAS_HZ = (2130.0, 2750.0)
CAS_MS = 80
ACK_DIGITS = ("A", "D")
DTMF_ON_MS = 70
DTMF_OFF_MS = 70
DTMF_ABSENCE = {"O": "B00C", "P": "B10C"}
DTMF_MAX_GAP_MS = 500
DTMF_MAX_DIGITS = 24


class CallerIdError(ValueError):
    """A message that cannot be encoded or decoded (bad field, checksum, structure)."""


def _check_text(kind: str, value: str | None, limit: int, allowed: str | None = None) -> None:
    if value is None:
        return
    if not value or len(value) > limit:
        raise CallerIdError(f"{kind} must be 1..{limit} characters, got {len(value)}")
    for ch in value:
        if not 0x20 <= ord(ch) < 0x7F or (allowed is not None and ch not in allowed):
            raise CallerIdError(f"{kind} {value!r}: character {ch!r} not allowed")


@dataclass(frozen=True)
class CallerIdMessage:
    """One caller-ID message. `datetime` is "MMDDhhmm"; absence codes are "O" or "P".

    `message_type` is 0x04 (SDMF) or 0x80 (MDMF) for FSK, 0 for DTMF; `format` is "sdmf",
    "mdmf" or "dtmf". `standard` says how a received message came ("bell202", "v23", "dtmf"; not
    compared).
    """

    number: str | None = None
    name: str | None = None
    datetime: str | None = None
    number_absent: str | None = None
    name_absent: str | None = None
    message_type: int = MDMF_CALLER_ID
    format: str = "mdmf"
    standard: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_text("number", self.number, 20, "0123456789*#+ABCD")
        _check_text("name", self.name, 50)
        if self.datetime is not None and (len(self.datetime) != 8 or not self.datetime.isdigit()):
            raise CallerIdError(f"date/time {self.datetime!r}: expected 8 digits MMDDhhmm")
        for kind, code in (
            ("number_absent", self.number_absent),
            ("name_absent", self.name_absent),
        ):
            if code is not None and code not in ABSENCE_CODES:
                raise CallerIdError(f"{kind} {code!r}: expected 'O' or 'P'")
        if self.number is not None and self.number_absent is not None:
            raise CallerIdError("a message carries the number or its absence code, not both")
        if self.name is not None and self.name_absent is not None:
            raise CallerIdError("a message carries the name or its absence code, not both")
        if self.format not in ("sdmf", "mdmf", "dtmf"):
            raise CallerIdError(f"unknown format {self.format!r}")

    def fields(self) -> dict[str, str | None]:
        """The five caller fields (the `callbox dsp callerid` JSON keys)."""
        return {
            "number": self.number,
            "name": self.name,
            "datetime": self.datetime,
            "number_absent": self.number_absent,
            "name_absent": self.name_absent,
        }


def checksum(data: bytes) -> int:
    """The byte that makes the modulo-256 sum of `data` plus itself zero."""
    return (-sum(data)) & 0xFF


def encode_message(message: CallerIdMessage) -> bytes:
    """Type, length, payload and checksum bytes of an FSK caller-ID message."""
    if message.format == "sdmf":
        if message.datetime is None:
            raise CallerIdError("SDMF always carries the date and time (MMDDhhmm)")
        if message.name is not None or message.name_absent is not None:
            raise CallerIdError("SDMF cannot carry a name; use MDMF")
        tail = message.number or message.number_absent
        if tail is None:
            raise CallerIdError("SDMF needs a number or a number absence code")
        if message.number is not None and not message.number.isdigit():
            raise CallerIdError("SDMF numbers are digits only")
        payload = (message.datetime + tail).encode("ascii")
        mtype = SDMF_CALLER_ID
    elif message.format == "mdmf":
        payload = b""
        for code, value in (
            (PARAM_DATETIME, message.datetime),
            (PARAM_NUMBER, message.number),
            (PARAM_NUMBER_ABSENT, message.number_absent),
            (PARAM_NAME, message.name),
            (PARAM_NAME_ABSENT, message.name_absent),
        ):
            if value is not None:
                raw = value.encode("ascii")
                payload += bytes([code, len(raw)]) + raw
        if not payload:
            raise CallerIdError("an MDMF message needs at least one field")
        mtype = MDMF_CALLER_ID
    else:
        raise CallerIdError("DTMF caller ID has no FSK message; use dtmf_digits()")
    if len(payload) > 255:
        raise CallerIdError("message longer than 255 bytes")
    body = bytes([mtype, len(payload)]) + payload
    return body + bytes([checksum(body)])


def _ascii(raw: bytes, what: str) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CallerIdError(f"{what}: not ASCII") from exc
    return text


def decode_message(data: bytes, standard: str | None = None) -> CallerIdMessage | None:
    """Decode type + length + payload + checksum bytes.

    Returns None for a valid message that is not caller ID (message waiting, ...); raises
    CallerIdError for a bad checksum, length or structure.
    """
    if len(data) < 3 or len(data) != data[1] + 3:
        raise CallerIdError("message length does not match its length byte")
    if sum(data) & 0xFF:
        raise CallerIdError("checksum mismatch")
    mtype, payload = data[0], data[2:-1]
    if mtype in OTHER_MESSAGE_TYPES:
        return None
    if mtype == SDMF_CALLER_ID:
        text = _ascii(payload, "SDMF payload")
        if len(text) < 9 or not text[:8].isdigit():
            raise CallerIdError("SDMF payload is not date/time + number")
        tail = text[8:]
        fields: dict[str, Any] = {"datetime": text[:8]}
        if tail in ABSENCE_CODES:
            fields["number_absent"] = tail
        else:
            fields["number"] = tail
        return CallerIdMessage(**fields, message_type=mtype, format="sdmf", standard=standard)
    if mtype != MDMF_CALLER_ID:
        raise CallerIdError(f"unknown message type 0x{mtype:02x}")
    fields = {}
    pos = 0
    while pos < len(payload):
        if pos + 2 > len(payload):
            raise CallerIdError("MDMF parameter header truncated")
        code, size = payload[pos], payload[pos + 1]
        value = payload[pos + 2 : pos + 2 + size]
        if len(value) != size:
            raise CallerIdError("MDMF parameter runs past the message")
        pos += 2 + size
        key = {
            PARAM_DATETIME: "datetime",
            PARAM_NUMBER: "number",
            PARAM_NUMBER_ABSENT: "number_absent",
            PARAM_NAME: "name",
            PARAM_NAME_ABSENT: "name_absent",
        }.get(code)
        if key is not None:
            fields[key] = _ascii(value, f"MDMF parameter 0x{code:02x}")
    return CallerIdMessage(**fields, message_type=mtype, format="mdmf", standard=standard)


def dtmf_digits(message: CallerIdMessage, start: str = "A") -> str:
    """The DTMF caller-ID string for `message`: "A6175551234C", "B10C", ..."""
    if start not in ("A", "D"):
        raise CallerIdError("DTMF caller ID starts with 'A' or 'D'")
    if message.number is not None:
        if not message.number.isdigit():
            raise CallerIdError("DTMF caller ID numbers are digits only")
        return f"{start}{message.number}C"
    if message.number_absent is not None:
        return DTMF_ABSENCE[message.number_absent]
    raise CallerIdError("DTMF caller ID needs a number or a number absence code")


def parse_dtmf_digits(digits: str) -> CallerIdMessage:
    """Parse "A<number>C", "D<number>C" (or '#'-terminated), "B00C" or "B10C"."""
    if len(digits) < 3 or digits[-1] not in "C#":
        raise CallerIdError(f"DTMF caller ID {digits!r}: no end code")
    body = digits[1:-1]
    if digits[0] in "AD":
        if not body.isdigit():
            raise CallerIdError(f"DTMF caller ID {digits!r}: number has non-digits")
        return CallerIdMessage(number=body, message_type=0, format="dtmf", standard="dtmf")
    if digits[0] == "B":
        for code, sent in DTMF_ABSENCE.items():
            if sent[1:-1] == body:
                return CallerIdMessage(
                    number_absent=code, message_type=0, format="dtmf", standard="dtmf"
                )
        raise CallerIdError(f"DTMF caller ID {digits!r}: unknown absence code")
    raise CallerIdError(f"DTMF caller ID {digits!r}: unknown start code")


class _FskAssembler:
    """Characters to messages: a message starts after a long mark run and ends at its length."""

    def __init__(self, standard: str) -> None:
        self.standard = standard
        self.errors = 0
        self._buf: bytearray | None = None
        self._heard: str | None = None

    def feed(self, ch: FskCharacter) -> CallerIdMessage | None:
        if ch.value < 0:
            if self._buf is not None and len(self._buf) >= 2:
                self.errors += 1
            self._buf = None
            return None
        if ch.lead_bits >= MIN_LEAD_BITS:
            if self._buf is not None and len(self._buf) >= 2:
                self.errors += 1  # a message cut short by a new mark run
            self._buf = None
            if ch.value in (SDMF_CALLER_ID, MDMF_CALLER_ID) or ch.value in OTHER_MESSAGE_TYPES:
                self._buf = bytearray([ch.value])
                self._heard = ch.mark_standard
            return None
        if self._buf is None:
            return None
        self._buf.append(ch.value)
        if len(self._buf) < 2 or len(self._buf) < self._buf[1] + 3:
            return None
        data, self._buf = bytes(self._buf), None
        heard = self._heard
        if self.standard in ("bell202", "v23") and heard not in (None, self.standard):
            return None  # a V.23 message on a receiver held to Bell 202, or the reverse
        try:
            return decode_message(data, standard=heard or self.standard)
        except CallerIdError:
            self.errors += 1
            return None


class _DtmfAssembler:
    """DTMF digits to a caller-ID message: start code, digits, end code, gaps under 500 ms."""

    def __init__(self, impl: str | None) -> None:
        from cython_ext.dtmf import DtmfDetector

        self._detector = DtmfDetector(impl=impl)
        self.errors = 0
        self._digits = ""
        self._last_end = 0
        self._position = 0

    def process(self, block: np.ndarray) -> list[CallerIdMessage]:
        out: list[CallerIdMessage] = []
        self._position += len(block)
        for ev in self._detector.process(block):
            digit = str(ev.digit)
            start, end = int(ev.start), int(ev.end)
            if self._digits and start - self._last_end > DTMF_MAX_GAP_MS * RATE // 1000:
                self.errors += 1
                self._digits = ""
            self._last_end = end
            if not self._digits:
                if digit in "ABD":
                    self._digits = digit
                continue
            self._digits += digit
            if digit in "C#":
                try:
                    out.append(parse_dtmf_digits(self._digits))
                except CallerIdError:
                    self.errors += 1
                self._digits = ""
            elif len(self._digits) > DTMF_MAX_DIGITS:
                self.errors += 1
                self._digits = ""
        if self._digits and self._position - self._last_end > DTMF_MAX_GAP_MS * RATE // 1000:
            self.errors += 1  # a string that never got its end code
            self._digits = ""
        return out


class CallerIdReceiver:
    """Decode caller ID from line audio: Bell 202 or V.23 FSK (told apart by their mark
    frequency) and, with `standard` "auto" or "dtmf", DTMF caller ID.

    `standard`: "auto" (default), "bell202", "v23" (FSK only, held to that standard) or "dtmf".
    `process(block)` returns the valid (checksummed, well-formed) caller-ID messages completed in
    the block; rejected ones are counted in `errors`.
    """

    def __init__(self, impl: str | None = None, standard: str = "auto") -> None:
        if standard not in ("auto", *STANDARDS):
            raise CallerIdError(f"unknown caller ID standard {standard!r}")
        self.standard = standard
        self._fsk = FskReceiver(impl=impl) if standard != "dtmf" else None
        self._fsk_messages = _FskAssembler(standard)
        self._dtmf = _DtmfAssembler(impl) if standard in ("auto", "dtmf") else None

    @property
    def errors(self) -> int:
        """Messages rejected so far (bad checksum or structure, cut short)."""
        return self._fsk_messages.errors + (self._dtmf.errors if self._dtmf else 0)

    def process(self, block: np.ndarray) -> list[CallerIdMessage]:
        samples = np.ascontiguousarray(block, dtype=np.int16)
        out: list[CallerIdMessage] = []
        if self._fsk is not None:
            for ch in self._fsk.process(samples):
                msg = self._fsk_messages.feed(ch)
                if msg is not None:
                    out.append(msg)
        if self._dtmf is not None:
            out.extend(self._dtmf.process(samples))
        return out


def _tones(freqs: tuple[float, ...], ms: int, level_dbm0: float) -> np.ndarray:
    n = np.arange(ms * RATE // 1000)
    amp = sine_peak(level_dbm0)
    wave = sum(amp * np.sin(2.0 * np.pi * f * n / RATE) for f in freqs)
    return np.asarray(wave, dtype=np.float64)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def _fsk_burst(
    message: CallerIdMessage, standard: str, level_dbm0: float, seizure: int, mark: int
) -> np.ndarray:
    bits = [0, 1] * (seizure // 2) + [1] * mark
    bits += async_bits(encode_message(message)) + [1] * TRAILING_MARK_BITS
    return fsk_modulate(bits, standard, level_dbm0=level_dbm0)


def _dtmf_burst(message: CallerIdMessage, level_dbm0: float, start: str) -> np.ndarray:
    from cython_ext.dtmf import dtmf_signal

    return np.asarray(
        dtmf_signal(
            dtmf_digits(message, start),
            level_dbm0=level_dbm0,
            on_ms=DTMF_ON_MS,
            off_ms=DTMF_OFF_MS,
        ),
        dtype=np.int16,
    )


class CallerIdSender:
    """Send caller ID to a phone, block by block.

    `mode="onhook"`: the whole burst (channel seizure, mark signal, message; or the DTMF string)
    for the gap between the first and second ring; the caller plays the rings.
    `mode="offhook"` (call waiting, GR-30 type 2 / EN 300 659-2): the CAS alert tone
    (2130 + 2750 Hz, 80 ms), then silence until the media engine calls `ack(digit)` with the
    phone's DTMF 'A' or 'D'; after `ack_delay_ms`, the mark signal and the message. Without an ACK
    within `ack_timeout_ms` of the CAS end, no FSK is sent and `failed` becomes True.
    """

    def __init__(
        self,
        message: CallerIdMessage,
        standard: str = "bell202",
        mode: str = "onhook",
        level_dbm0: float = -13.5,
        impl: str | None = None,
        *,
        ack_timeout_ms: int = 500,
        ack_delay_ms: int = 100,
        dtmf_start: str = "A",
    ) -> None:
        if standard not in STANDARDS:
            raise CallerIdError(f"unknown caller ID standard {standard!r}")
        if mode not in ("onhook", "offhook"):
            raise CallerIdError(f"unknown caller ID mode {mode!r}")
        if standard == "dtmf" and mode == "offhook":
            raise CallerIdError("DTMF caller ID is on-hook only")
        self.message = message
        self.standard = standard
        self.mode = mode
        self.failed = False
        self.acked: str | None = None
        self._impl = impl
        if mode == "onhook":
            if standard == "dtmf":
                burst = _dtmf_burst(message, level_dbm0, dtmf_start)
            else:
                burst = _fsk_burst(message, standard, level_dbm0, SEIZURE_BITS, MARK_BITS)
            self._queue = burst
            self._waiting = False
        else:
            self._queue = _to_int16(_tones(CAS_HZ, CAS_MS, level_dbm0))
            self._fsk = _fsk_burst(message, standard, level_dbm0, 0, OFFHOOK_MARK_BITS)
            self._delay = ack_delay_ms * RATE // 1000
            self._timeout = ack_timeout_ms * RATE // 1000
            self._waiting = True
            self._waited = 0
        self._pos = 0

    @property
    def done(self) -> bool:
        """Everything has been sent (or the off-hook sender gave up: see `failed`)."""
        return self.failed or (not self._waiting and self._pos >= len(self._queue))

    def ack(self, digit: str) -> bool:
        """The phone's DTMF acknowledgement; 'A' or 'D' after the CAS starts the FSK."""
        if self.mode != "offhook" or not self._waiting or self.failed:
            return False
        if digit not in ACK_DIGITS or self._pos < len(self._queue):
            return False  # not an ACK, or heard during our own CAS
        self.acked = digit
        self._waiting = False
        self._queue = np.concatenate([np.zeros(self._delay, dtype=np.int16), self._fsk])
        self._pos = 0
        return True

    def generate(self, n: int) -> np.ndarray:
        """The next `n` samples (silence once done)."""
        out = np.zeros(n, dtype=np.int16)
        take = min(n, len(self._queue) - self._pos)
        if take > 0:
            out[:take] = self._queue[self._pos : self._pos + take]
            self._pos += take
        if self._waiting and self._pos >= len(self._queue):
            self._waited += n - max(take, 0)
            if self._waited >= self._timeout:
                self.failed = True
                self._waiting = False
                log.info("caller ID: no ACK from the phone within the timeout; FSK not sent")
        return out


def callerid_signal(
    number: str | None = None,
    name: str | None = None,
    datetime: str | None = None,
    number_absent: str | None = None,
    name_absent: str | None = None,
    standard: str = "bell202",
    format: str = "mdmf",
    level_dbm0: float = -13.5,
    *,
    lead_ms: int = 0,
    tail_ms: int = 0,
    dtmf_start: str = "A",
) -> np.ndarray:
    """An on-hook caller-ID burst as int16 samples (what `callbox dsp gen callerid` writes)."""
    fmt = "dtmf" if standard == "dtmf" else format
    message = CallerIdMessage(
        number=number,
        name=name,
        datetime=datetime,
        number_absent=number_absent,
        name_absent=name_absent,
        message_type=0 if fmt == "dtmf" else (SDMF_CALLER_ID if fmt == "sdmf" else MDMF_CALLER_ID),
        format=fmt,
    )
    sender = CallerIdSender(message, standard, "onhook", level_dbm0, dtmf_start=dtmf_start)
    burst = sender.generate(len(sender._queue))
    lead = np.zeros(lead_ms * RATE // 1000, dtype=np.int16)
    tail = np.zeros(tail_ms * RATE // 1000, dtype=np.int16)
    return np.concatenate([lead, burst, tail])
