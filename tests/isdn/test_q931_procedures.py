"""Q.931 procedures with crafted messages: §5.8 error handling, STATUS / STATUS ENQUIRY,
the timers and their causes, RESTART, overlap receiving, link failure (T309).

libpri never sends STATUS ENQUIRY and answers unknown call references its own way, so these
run against a bare LAPD peer (conftest.CraftedPeer) that sends exactly the bytes we craft.
"""

from __future__ import annotations

import pytest

from firmware.isdn import ie as IE
from firmware.isdn import q931
from firmware.isdn.events import (
    Alerting,
    ChannelRestarted,
    Connected,
    Disconnected,
    IncomingCall,
    LinkDown,
    LinkUp,
    Released,
)
from firmware.isdn.ie import IeId
from firmware.isdn.q931 import MessageType as MT

from .conftest import CraftedPeer, crafted

BEARER = IE.BearerCapability(layer1=IE.LAYER1_ULAW).encode()


def setup_msg(cr: int = 0x21, channel: int = 3, *extra: bytes, bearer: bool = True) -> bytes:
    ies = ([BEARER] if bearer else []) + [IE.ChannelId(channel).encode()]
    ies += [
        IE.PartyNumber("2125551000", 2, 1, 0).encode(IeId.CALLING_NUMBER),
        IE.PartyNumber("5551234", 0, 1).encode(IeId.CALLED_NUMBER),
    ]
    return q931.encode(MT.SETUP, cr, False, ies + list(extra))


def cause_of(m: q931.Message) -> int:
    raw = m.ie(IeId.CAUSE)
    assert raw is not None, m
    return IE.Cause.decode(raw.contents).value


def state_of(m: q931.Message) -> int:
    raw = m.ie(IeId.CALL_STATE)
    assert raw is not None, m
    return IE.CallState.decode(raw.contents).state


def only(msgs: list[q931.Message]) -> q931.Message:
    assert len(msgs) == 1, msgs
    return msgs[0]


def active_incoming(p: CraftedPeer, cr: int = 0x21, channel: int = 3) -> int:
    """Network-originated call answered by us (CPE) and acknowledged: state 10."""
    p.send(setup_msg(cr, channel))
    inc = [e for e in p.take_events() if isinstance(e, IncomingCall)]
    assert len(inc) == 1
    cid = inc[0].call_id
    p.stack.answer(cid)
    p.drain()
    assert [m.mtype for m in p.take()] == [MT.CONNECT]
    p.send(q931.encode(MT.CONNECT_ACKNOWLEDGE, cr, False))
    assert any(isinstance(e, Connected) for e in p.take_events())
    return cid


# ----------------------------------------------------------------------------- §5.8.3
def test_q931_5_8_3_2a_unknown_call_reference_gets_release_complete_81(cpe: CraftedPeer) -> None:
    cpe.send(q931.encode(MT.DISCONNECT, 77, False, [IE.Cause(16).encode()]))
    m = only(cpe.take())
    assert (m.mtype, m.call_ref, m.flag) == (MT.RELEASE_COMPLETE, 77, True)
    assert cause_of(m) == IE.CAUSE_INVALID_CALL_REFERENCE
    assert cpe.stack.counters["q931_unknown_call"] == 1


def test_q931_5_8_3_2b_release_complete_for_unknown_call_is_ignored(cpe: CraftedPeer) -> None:
    cpe.send(q931.encode(MT.RELEASE_COMPLETE, 78, True, [IE.Cause(16).encode()]))
    assert cpe.take() == []
    assert cpe.stack.counters["q931_unknown_call"] == 1


def test_q931_5_8_3_2c_setup_with_flag_set_is_ignored(cpe: CraftedPeer) -> None:
    data = bytearray(setup_msg(0x22))
    data[2] |= 0x80
    cpe.send(bytes(data))
    assert cpe.take() == [] and cpe.take_events() == []
    assert cpe.stack.counters["q931_setup_bad_flag"] == 1


def test_q931_5_8_3_2d_setup_for_a_call_in_progress_is_ignored(cpe: CraftedPeer) -> None:
    active_incoming(cpe, 0x23, 3)
    cpe.send(setup_msg(0x23, 4))
    assert cpe.take() == []
    assert not [e for e in cpe.take_events() if isinstance(e, IncomingCall)]
    assert cpe.stack.counters["q931_setup_cr_in_use"] == 1


def test_q931_5_8_3_2e_global_call_reference_misuse_gets_status_81(cpe: CraftedPeer) -> None:
    cpe.send(q931.encode(MT.CONNECT, 0, False))
    m = only(cpe.take())
    assert (m.mtype, m.call_ref) == (MT.STATUS, 0)
    assert cause_of(m) == IE.CAUSE_INVALID_CALL_REFERENCE


@pytest.mark.parametrize(
    ("data", "counter"),
    [
        (b"\x08\x01\x05\x05", "q931_bad_cr_length"),
        (b"\x41\x02\x00\x21\x05", "q931_bad_pd"),
        (b"\x08\x02\x00", "q931_short"),
    ],
)
def test_q931_5_8_1_to_3_1_bad_header_discarded_without_answer(
    cpe: CraftedPeer, data: bytes, counter: str
) -> None:
    cpe.send(data)
    assert cpe.take() == []
    assert cpe.stack.counters[counter] == 1


# ----------------------------------------------------------------------------- §5.8.4
def test_q931_5_8_4_unknown_message_type_gets_status_97(cpe: CraftedPeer) -> None:
    cid = active_incoming(cpe)
    cpe.send(q931.encode(0x33, 0x21, False))
    m = only(cpe.take())
    assert m.mtype == MT.STATUS and cause_of(m) == IE.CAUSE_MESSAGE_TYPE_NONEXISTENT
    assert state_of(m) == 10
    assert cid in cpe.stack.calls.calls


def test_q931_5_8_4_message_not_compatible_with_state_gets_status_98(cpe: CraftedPeer) -> None:
    active_incoming(cpe)
    cpe.send(q931.encode(MT.CALL_PROCEEDING, 0x21, False, [IE.ChannelId(3).encode()]))
    m = only(cpe.take())
    assert m.mtype == MT.STATUS and cause_of(m) == IE.CAUSE_MESSAGE_NOT_COMPATIBLE


# ----------------------------------------------------------------------------- §5.8.6–7
def test_q931_5_8_6_1_setup_without_bearer_gets_release_complete_96(cpe: CraftedPeer) -> None:
    cpe.send(setup_msg(0x24, 3, bearer=False))
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_MANDATORY_IE_MISSING
    assert IE.Cause.decode(m.ie(IeId.CAUSE).contents).diagnostic == bytes((IeId.BEARER_CAPABILITY,))
    assert not [e for e in cpe.take_events() if isinstance(e, IncomingCall)]


def test_q931_5_8_6_2_setup_with_bad_channel_id_gets_release_complete_100(
    cpe: CraftedPeer,
) -> None:
    data = setup_msg(0x25, 3).replace(b"\x18\x03\xa9\x83\x83", b"\x18\x03\xad\x83\x83")
    cpe.send(data)
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_INVALID_IE_CONTENTS


@pytest.mark.parametrize(("channel", "cause"), [(24, 82), (99, 82), (0, 100)])
def test_setup_for_a_channel_the_t1_span_lacks_is_rejected(
    cpe: CraftedPeer, channel: int, cause: int
) -> None:
    data = setup_msg(0x26, 1).replace(b"\xa9\x83\x81", b"\xa9\x83" + bytes((0x80 | channel,)))
    cpe.send(data)
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE_COMPLETE
    assert cause_of(m) in (cause, IE.CAUSE_CHANNEL_DOES_NOT_EXIST)


def test_setup_for_timeslot_16_on_e1_is_rejected() -> None:
    p = crafted("cpe", "euroisdn")
    p.send(setup_msg(0x27, 16))
    m = only(p.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_CHANNEL_DOES_NOT_EXIST


def test_setup_for_busy_channel_gets_44(cpe: CraftedPeer) -> None:
    active_incoming(cpe, 0x28, 5)
    cpe.send(setup_msg(0x29, 5))
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_CHANNEL_NOT_AVAILABLE


def test_q931_5_8_7_1_unknown_comprehension_required_ie_in_setup_gets_96(
    cpe: CraftedPeer,
) -> None:
    cpe.send(setup_msg(0x2A, 3) + b"\x0b\x01\x00")
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_MANDATORY_IE_MISSING


def test_q931_5_8_7_1_unknown_optional_ie_offers_the_call_and_reports_99(
    cpe: CraftedPeer,
) -> None:
    cpe.send(setup_msg(0x2B, 3) + b"\x7a\x02\x01\x02")
    m = only(cpe.take())
    assert m.mtype == MT.STATUS and cause_of(m) == IE.CAUSE_IE_NONEXISTENT
    inc = [e for e in cpe.take_events() if isinstance(e, IncomingCall)]
    assert len(inc) == 1 and inc[0].called == "5551234"


def test_q931_5_8_7_2_oversized_display_is_dropped_and_reported_100(cpe: CraftedPeer) -> None:
    cpe.send(setup_msg(0x2C, 3) + b"\x28\x90" + b"A" * 0x90)
    m = only(cpe.take())
    assert m.mtype == MT.STATUS and cause_of(m) == IE.CAUSE_INVALID_IE_CONTENTS
    inc = [e for e in cpe.take_events() if isinstance(e, IncomingCall)]
    assert inc and inc[0].display is None
    assert cpe.stack.counters["q931_ie_oversized"] == 1


def test_truncated_mandatory_ie_in_setup_gets_100(cpe: CraftedPeer) -> None:
    data = q931.encode(MT.SETUP, 0x2D, False, [IE.ChannelId(3).encode(), b"\x04\x05\x80\x90"])
    cpe.send(data)
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_INVALID_IE_CONTENTS
    assert cpe.stack.counters["q931_ie_truncated"] == 1


def test_q931_5_8_6_1_disconnect_without_cause_is_cleared_with_96(cpe: CraftedPeer) -> None:
    cid = active_incoming(cpe)
    cpe.send(q931.encode(MT.DISCONNECT, 0x21, False))
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE and cause_of(m) == IE.CAUSE_MANDATORY_IE_MISSING
    ev = cpe.take_events()
    assert Disconnected(cid, 31, IE.cause_name(31)) in ev  # taken as "normal, unspecified"


def test_other_calls_undisturbed_by_a_barrage_of_bad_messages(cpe: CraftedPeer) -> None:
    cid = active_incoming(cpe, 0x30, 7)
    victim = active_incoming(cpe, 0x31, 8)
    junk = [
        b"\x08\x02\x00\x30\x7d\x08",  # STATUS with a truncated cause
        b"\x08\x02\x00\x30\x62\xff",  # FACILITY with garbage
        b"\x08\x05\x00\x30",  # 5-octet call reference
        b"\x08\x02\x00\x30\x7b\x70\xff",  # INFORMATION with a truncated number
        b"\x08\x02\x80\x30\x01",  # ALERTING with the wrong flag: unknown call
        b"\x08\x02\x00\x30\x00",  # message type 0 (escape): STATUS 97
        b"\x08\x02\x00\x31\x45\x08\x01",  # DISCONNECT for the other call, bad cause
    ]
    for j in junk:
        cpe.send(j)
    replies = cpe.take()
    rel = [m for m in replies if m.mtype == MT.RELEASE]
    assert len(rel) == 1 and rel[0].call_ref == 0x31 and cause_of(rel[0]) == 100  # §5.8.6.2
    assert Disconnected(victim, 31, IE.cause_name(31)) in cpe.take_events()
    assert cpe.stack.calls.calls[cid].state == 10
    assert cpe.stack.link.up
    cpe.stack.hangup(cid)
    cpe.drain()
    assert [m.mtype for m in cpe.take()] == [MT.DISCONNECT]
    cpe.send(q931.encode(MT.RELEASE, 0x30, False, [IE.Cause(16).encode()]))
    assert [m.mtype for m in cpe.take()] == [MT.RELEASE_COMPLETE]
    assert Released(cid, 16, IE.cause_name(16)) in cpe.take_events()


# ----------------------------------------------------------------------------- STATUS
def test_q931_5_8_10_status_enquiry_for_unknown_call_reports_null(cpe: CraftedPeer) -> None:
    cpe.send(q931.encode(MT.STATUS_ENQUIRY, 0x40, False))
    m = only(cpe.take())
    assert m.mtype == MT.STATUS and (m.call_ref, m.flag) == (0x40, True)
    assert cause_of(m) == IE.CAUSE_RESPONSE_TO_STATUS_ENQUIRY and state_of(m) == 0


def test_q931_5_8_10_status_enquiry_for_active_call_reports_state_10(cpe: CraftedPeer) -> None:
    active_incoming(cpe)
    cpe.send(q931.encode(MT.STATUS_ENQUIRY, 0x21, False))
    m = only(cpe.take())
    assert cause_of(m) == 30 and state_of(m) == 10


def test_q931_5_8_11_status_with_null_state_releases_the_call(cpe: CraftedPeer) -> None:
    cid = active_incoming(cpe)
    cpe.send(q931.encode(MT.STATUS, 0x21, False, [IE.Cause(30).encode(), IE.CallState(0).encode()]))
    assert cpe.take() == []
    ev = cpe.take_events()
    assert any(isinstance(e, Released) and e.call_id == cid for e in ev)
    assert cpe.stack.calls.channels.is_idle(3)


def test_q931_5_8_11_incompatible_status_clears_with_101(cpe: CraftedPeer) -> None:
    active_incoming(cpe)
    cpe.send(q931.encode(MT.STATUS, 0x21, False, [IE.Cause(30).encode(), IE.CallState(6).encode()]))
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE and cause_of(m) == IE.CAUSE_WRONG_STATE_FOR_STATUS


def test_q931_5_8_11_status_for_unknown_call_in_non_null_state_gets_101(cpe: CraftedPeer) -> None:
    cpe.send(
        q931.encode(MT.STATUS, 0x41, False, [IE.Cause(30).encode(), IE.CallState(10).encode()])
    )
    m = only(cpe.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_WRONG_STATE_FOR_STATUS


def test_compatible_status_changes_nothing(cpe: CraftedPeer) -> None:
    cid = active_incoming(cpe)
    cpe.send(
        q931.encode(MT.STATUS, 0x21, False, [IE.Cause(30).encode(), IE.CallState(10).encode()])
    )
    assert cpe.take() == []
    assert cpe.stack.calls.calls[cid].state == 10


# ----------------------------------------------------------------------------- timers
def placed(p: CraftedPeer) -> tuple[int, q931.Message]:
    cid = p.stack.place_call("5550100", "5550199")
    p.drain()
    setup = only(p.take())
    assert setup.mtype == MT.SETUP
    return cid, setup


def test_q931_5_1_1_t303_retransmits_setup_then_clears_with_102() -> None:
    p = crafted("cpe", t303=4.0)
    cid, setup = placed(p)
    p.advance(4.05)
    again = only(p.take())
    assert again.mtype == MT.SETUP and again.call_ref == setup.call_ref
    p.advance(4.05)
    m = only(p.take())
    assert m.mtype == MT.RELEASE_COMPLETE and cause_of(m) == IE.CAUSE_RECOVERY_ON_TIMER_EXPIRY
    assert Released(cid, 102, IE.cause_name(102)) in p.take_events()
    assert p.stack.counters["q931_t303_expiry"] == 2


def test_q931_5_1_7_t310_expiry_disconnects_with_102() -> None:
    p = crafted("cpe", t310=10.0)
    cid, setup = placed(p)
    ch = IE.ChannelId.decode(setup.ie(IeId.CHANNEL_ID).contents).channel
    p.send(q931.encode(MT.CALL_PROCEEDING, setup.call_ref, True, [IE.ChannelId(ch).encode()]))
    p.advance(9.9)
    assert p.take() == []
    p.advance(0.2)
    m = only(p.take())
    assert m.mtype == MT.DISCONNECT and cause_of(m) == 102


def test_q931_5_2_8_t313_expiry_disconnects_with_102() -> None:
    p = crafted("cpe", t313=4.0)
    p.send(setup_msg(0x50, 9))
    (inc,) = [e for e in p.take_events() if isinstance(e, IncomingCall)]
    p.stack.answer(inc.call_id)
    p.drain()
    assert [m.mtype for m in p.take()] == [MT.CONNECT]
    p.advance(4.1)
    m = only(p.take())
    assert m.mtype == MT.DISCONNECT and cause_of(m) == 102


def test_q931_5_3_t305_then_t308_then_channel_restart() -> None:
    p = crafted("cpe", t305=30.0, t308=4.0)
    cid = active_incoming(p, 0x51, 11)
    p.stack.hangup(cid, 17)
    p.drain()
    assert cause_of(only(p.take())) == 17  # DISCONNECT
    p.advance(30.1)
    rel = only(p.take())
    assert rel.mtype == MT.RELEASE and cause_of(rel) == 17  # the original cause (§5.3.3)
    p.advance(4.1)
    assert only(p.take()).mtype == MT.RELEASE  # first T308 expiry: RELEASE again
    p.advance(4.1)
    restart = only(p.take())  # second expiry: channel to maintenance and restarted
    assert restart.mtype == MT.RESTART and restart.call_ref == 0
    assert IE.ChannelId.decode(restart.ie(IeId.CHANNEL_ID).contents).channel == 11
    assert Released(cid, 102, IE.cause_name(102)) in p.take_events()
    assert p.stack.calls.channels.status[11].value == "restarting"
    p.send(
        q931.encode(MT.RESTART_ACKNOWLEDGE, 0, True, [IE.ChannelId(11).encode(), b"\x79\x01\x80"])
    )
    assert ChannelRestarted(11, by_peer=False) in p.take_events()
    assert p.stack.calls.channels.is_idle(11)


# ----------------------------------------------------------------------------- RESTART
def test_q931_5_5_restart_clears_the_call_on_the_channel(cpe: CraftedPeer) -> None:
    cid = active_incoming(cpe, 0x60, 4)
    cpe.send(q931.encode(MT.RESTART, 0, False, [IE.ChannelId(4).encode(), b"\x79\x01\x80"]))
    ack = only(cpe.take())
    assert ack.mtype == MT.RESTART_ACKNOWLEDGE and ack.flag
    assert IE.ChannelId.decode(ack.ie(IeId.CHANNEL_ID).contents).channel == 4
    ev = cpe.take_events()
    assert any(isinstance(e, Released) and e.call_id == cid for e in ev)
    assert ChannelRestarted(4, by_peer=True) in ev
    assert cid not in cpe.stack.calls.calls and cpe.stack.calls.channels.is_idle(4)


def test_q931_5_5_restart_all_interfaces(cpe: CraftedPeer) -> None:
    active_incoming(cpe, 0x61, 1)
    active_incoming(cpe, 0x62, 2)
    cpe.send(q931.encode(MT.RESTART, 0, False, [b"\x79\x01\x87"]))
    ack = only(cpe.take())
    assert ack.mtype == MT.RESTART_ACKNOWLEDGE and ack.ie(IeId.CHANNEL_ID) is None
    assert cpe.stack.calls.calls == {}
    assert ChannelRestarted(None, by_peer=True) in cpe.take_events()


def test_restart_of_a_missing_channel_gets_status_82(cpe: CraftedPeer) -> None:
    cpe.send(q931.encode(MT.RESTART, 0, False, [b"\x18\x03\xa9\x83\xe3", b"\x79\x01\x80"]))
    m = only(cpe.take())
    assert m.mtype == MT.STATUS and cause_of(m) == IE.CAUSE_CHANNEL_DOES_NOT_EXIST


# ----------------------------------------------------------------------------- overlap, T309
def test_overlap_receiving_collects_digits_until_sending_complete() -> None:
    from dataclasses import replace

    p = crafted("cpe")
    p.stack.calls.config = replace(p.stack.calls.config, overlap_receiving=True)
    p.send(
        q931.encode(
            MT.SETUP,
            0x70,
            False,
            [BEARER, IE.ChannelId(6).encode(), IE.PartyNumber("55").encode(IeId.CALLED_NUMBER)],
        )
    )
    assert only(p.take()).mtype == MT.SETUP_ACKNOWLEDGE
    assert not [e for e in p.take_events() if isinstance(e, IncomingCall)]
    p.send(q931.encode(MT.INFORMATION, 0x70, False, [IE.PartyNumber("51").encode(0x70)]))
    p.send(q931.encode(MT.INFORMATION, 0x70, False, [b"\xa1", IE.PartyNumber("23").encode(0x70)]))
    (inc,) = [e for e in p.take_events() if isinstance(e, IncomingCall)]
    assert inc.called == "555123" and inc.channel == 6
    p.stack.alerting(inc.call_id)
    p.drain()
    alert = only(p.take())
    assert alert.mtype == MT.ALERTING and alert.ie(IeId.CHANNEL_ID) is None  # already confirmed


def test_q931_5_8_8_active_call_survives_a_short_link_failure() -> None:
    p = crafted("cpe", t309=6.0)
    cid = active_incoming(p, 0x71, 8)
    p.link.stop(p.now)  # peer sends DISC
    frames = list(p.link.out)
    p.link.out.clear()
    for f in frames:
        p.send_frame(f)
    ev = p.take_events()
    assert any(isinstance(e, LinkDown) for e in ev)
    assert cid in p.stack.calls.calls
    p.advance(2.0)  # our side keeps trying to bring the link back
    p.link.start(p.now)
    frames = list(p.link.out)
    p.link.out.clear()
    for f in frames:
        p.send_frame(f)
    p.advance(1.0)
    assert p.stack.link.up
    assert any(isinstance(e, LinkUp) for e in p.take_events())
    status = [m for m in p.take() if m.mtype == MT.STATUS]
    assert status and state_of(status[0]) == 10
    assert p.stack.calls.calls[cid].state == 10


def test_place_call_with_link_down_is_released_with_38() -> None:
    p = crafted("cpe")
    p.stack.layer1_down(p.now)
    cid = p.stack.place_call("1", "2")
    out = p.stack.drain(p.now)
    assert out.frames == []
    assert Released(cid, 38, IE.cause_name(38)) in out.events


def test_outgoing_call_alerting_then_connect(net: CraftedPeer) -> None:
    cid, setup = placed(net)
    assert setup.ie(IeId.CHANNEL_ID).contents[0] == 0xA9  # network: exclusive
    net.send(q931.encode(MT.ALERTING, setup.call_ref, True))
    net.send(q931.encode(MT.CONNECT, setup.call_ref, True))
    assert [m.mtype for m in net.take()] == [MT.CONNECT_ACKNOWLEDGE]
    ev = net.take_events()
    assert Alerting(cid) in ev and any(isinstance(e, Connected) for e in ev)


def test_capture_switches_on_and_off_at_run_time(cpe: CraftedPeer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import struct

    path = tmp_path / "d.pcap"
    cpe.stack.start_capture(str(path))
    cid, setup = placed(cpe)  # SETUP out, RR in
    cpe.stack.stop_capture()
    cpe.stack.hangup(cid)
    cpe.drain()  # not captured
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, linktype) == (0xA1B2C3D4, 177)
    records = []
    off = 24
    while off < len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off : off + 16])
        records.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    sent = [r for r in records if r[:2] == b"\x00\x04"]
    received = [r for r in records if r[:2] == b"\x00\x00"]
    assert len(sent) == 1 and sent[0][16 + 4 :] == setup.encode()  # after address + control
    assert len(received) == 1 and received[0][16 + 2] == 0x01  # the peer's RR
    assert all(r[14:16] == b"\x00\x30" for r in records)  # ETH_P_LAPD


def test_q931_5_5_1_t316_resends_restart_then_channel_goes_out_of_service() -> None:
    p = crafted("cpe", t316=10.0)
    p.stack.restart(9)
    p.drain()
    assert only(p.take()).mtype == MT.RESTART
    assert p.stack.calls.channels.status[9].value == "restarting"
    p.advance(10.05)
    assert only(p.take()).mtype == MT.RESTART
    p.advance(10.0)
    assert only(p.take()).mtype == MT.RESTART
    p.advance(10.0)
    assert p.take() == []
    assert p.stack.calls.channels.status[9].value == "out_of_service"
    assert p.stack.counters["q931_restart_unacknowledged"] == 1
    # a RESTART from the peer brings it back
    p.send(q931.encode(MT.RESTART, 0, False, [IE.ChannelId(9).encode(), b"\x79\x01\x80"]))
    assert only(p.take()).mtype == MT.RESTART_ACKNOWLEDGE
    assert p.stack.calls.channels.is_idle(9)
