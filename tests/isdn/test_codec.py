"""Q.931 message and information element codec, on the bytes libpri puts on the wire."""

from __future__ import annotations

import pytest

from firmware.isdn import ie as IE
from firmware.isdn import q931
from firmware.isdn.ie import IeContentError, IeId
from firmware.isdn.q931 import MessageType as MT
from firmware.isdn.q931 import Q931FormatError

# A SETUP libpri (NI2, network side) sent to us, from the libpri debug dump.
LIBPRI_SETUP = bytes.fromhex(
    "0802000105" + "04038090a2" + "1803a98385" + "6c050180353536" + "700481353535"
)


def test_q931_4_header_and_ies_of_a_libpri_setup() -> None:
    d = q931.decode(LIBPRI_SETUP)
    m = d.message
    assert d.problems == ()
    assert (m.mtype, m.call_ref, m.flag) == (MT.SETUP, 1, False)
    bc = IE.BearerCapability.decode(m.ie(IeId.BEARER_CAPABILITY).contents)
    assert (bc.capability, bc.rate, bc.layer1) == (IE.CAP_SPEECH, 0x10, IE.LAYER1_ULAW)
    cid = IE.ChannelId.decode(m.ie(IeId.CHANNEL_ID).contents)
    assert (cid.channel, cid.exclusive) == (5, True)
    calling = IE.PartyNumber.decode(m.ie(IeId.CALLING_NUMBER).contents, calling=True)
    assert (calling.digits, calling.plan, calling.presentation) == ("556", 1, IE.PRES_ALLOWED)
    called = IE.PartyNumber.decode(m.ie(IeId.CALLED_NUMBER).contents, calling=False)
    assert (called.digits, called.type_of_number, called.plan) == ("555", 0, 1)
    assert m.encode() == LIBPRI_SETUP


def test_wire_facts_encodings() -> None:
    assert IE.ChannelId(5, True).encode() == bytes.fromhex("1803a98385")
    assert IE.ChannelId(5, False).encode() == bytes.fromhex("1803a18385")
    assert IE.BearerCapability(layer1=IE.LAYER1_ULAW).encode() == bytes.fromhex("04038090a2")
    assert IE.BearerCapability(layer1=IE.LAYER1_ALAW).encode() == bytes.fromhex("04038090a3")
    assert IE.Cause(16, IE.LOC_PRIVATE_LOCAL).encode() == bytes.fromhex("08028190")
    assert IE.RestartIndicator(IE.RESTART_INDICATED).encode() == bytes.fromhex("790180")
    assert IE.RestartIndicator.decode(b"\x87").restart_class == IE.RESTART_ALL_INTERFACES
    msg = q931.encode(MT.RESTART, 0, False, [IE.ChannelId(3).encode(), b"\x79\x01\x80"])
    assert msg == bytes.fromhex("08020000461803a98383790180")


def test_ni2_display_type_octet_is_skipped() -> None:
    assert IE.Display.decode(b"\xb1ACME CORP").text == "ACME CORP"
    assert IE.Display("ACME").encode(b"\xb1") == b"\x28\x05\xb1ACME"


def test_cause_with_recommendation_octet_and_diagnostic() -> None:
    c = IE.Cause.decode(bytes((0x02, 0x80 | 0x01, 0x80 | 96, 0x04)))
    assert (c.value, c.location, c.diagnostic) == (96, 2, b"\x04")


@pytest.mark.parametrize(
    ("contents", "why"),
    [
        (b"\xad\x83\x85", "D-channel indicated"),
        (b"\x29\x83\x85", "interface identifier"),
        (b"\xa9\x93\x85", "slot map"),
        (b"\xa9\x83", "truncated"),
        (b"\xa9\x83\x05\x06", "more than one channel"),
        (b"\x89\x83\x85", "basic-rate"),
    ],
)
def test_q931_4_5_13_channel_id_content_errors(contents: bytes, why: str) -> None:
    with pytest.raises(IeContentError):
        IE.ChannelId.decode(contents)


def test_party_number_rejects_non_ia5_digits() -> None:
    with pytest.raises(IeContentError):
        IE.PartyNumber.decode(b"\x81\x35\xff", calling=False)
    with pytest.raises(IeContentError):
        IE.PartyNumber("12x").encode(IeId.CALLED_NUMBER)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "q931_short"),
        (b"\x09\x02\x00\x01\x05", "q931_bad_pd"),
        (b"\x08", "q931_short"),
        (b"\x08\x01\x01\x05", "q931_bad_cr_length"),
        (b"\x08\x03\x00\x00\x01\x05", "q931_bad_cr_length"),
        (b"\x08\x12\x00\x01\x05", "q931_bad_cr_length"),
        (b"\x08\x02\x00\x01", "q931_short"),
        (b"\x08\x02\x00\x01\x85", "q931_bad_message_type"),
    ],
)
def test_q931_5_8_1_to_3_header_errors_are_discarded(data: bytes, kind: str) -> None:
    with pytest.raises(Q931FormatError) as exc:
        q931.decode(data)
    assert exc.value.kind == kind


def test_q931_5_8_ie_problems_are_reported() -> None:
    head = bytes.fromhex("0802000105")
    # truncated: length runs past the end
    d = q931.decode(head + b"\x04\x03\x80\x90")
    assert [(p.kind, p.ident) for p in d.problems] == [("truncated", 0x04)]
    # oversized: a progress indicator of 5 octets
    d = q931.decode(head + b"\x1e\x05\x81\x88\x00\x00\x00")
    assert [(p.kind, p.ident) for p in d.problems] == [("oversized", 0x1E)]
    assert d.message.ie(0x1E) is None
    # unknown: 0x0b is comprehension-required, 0x55 is not
    d = q931.decode(head + b"\x0b\x01\x00\x55\x01\x00")
    probs = {(p.kind, p.ident, p.comprehension_required) for p in d.problems}
    assert probs == {("unknown", 0x0B, True), ("unknown", 0x55, False)}
    # out of sequence and duplicate
    d = q931.decode(head + b"\x18\x03\xa9\x83\x85\x04\x03\x80\x90\xa2\x18\x03\xa9\x83\x86")
    kinds = [p.kind for p in d.problems]
    assert "out_of_sequence" in kinds and "duplicate" in kinds
    assert IE.ChannelId.decode(d.message.ie(IeId.CHANNEL_ID).contents).channel == 5


def test_q931_4_5_3_shift_to_national_codesets() -> None:
    # locking shift to codeset 6 and a non-locking shift to codeset 5: neither is "unknown"
    data = (
        bytes.fromhex("0802000105")
        + b"\x04\x03\x80\x90\xa2"
        + b"\x9d\x28\x02AB"
        + b"\x96\x7b\x01\x00"
    )
    d = q931.decode(data)
    assert d.problems == ()
    assert d.message.ie(0x28, codeset=5).contents == b"AB"
    assert d.message.ie(0x7B, codeset=6).contents == b"\x00"
    assert d.message.ie(IeId.BEARER_CAPABILITY) is not None


def test_sending_complete_single_octet() -> None:
    d = q931.decode(bytes.fromhex("0802000105a104038090a3"))
    assert d.message.has(IeId.SENDING_COMPLETE)
    assert d.message.encode() == bytes.fromhex("0802000105a104038090a3")
