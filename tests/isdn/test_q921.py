"""Q.921 data link procedures, frame by frame (user side unless stated)."""

from __future__ import annotations

import pytest

from firmware.isdn.q921 import (
    DataIndication,
    DataLink,
    LinkDown,
    LinkState,
    LinkTimers,
    LinkUp,
)

# Network → user: commands carry C/R=1 (02 01), responses C/R=0 (00 01).
NET_CMD = b"\x02\x01"
NET_RSP = b"\x00\x01"
USER_CMD = b"\x00\x01"
USER_RSP = b"\x02\x01"


def i_frame(ns: int, nr: int, info: bytes, p: bool = False) -> bytes:
    return NET_CMD + bytes((ns << 1, nr << 1 | int(p))) + info


def up_user(timers: LinkTimers | None = None) -> DataLink:
    link = DataLink(network=False, timers=timers or LinkTimers())
    link.start(0.0)
    assert link.out == [USER_CMD + b"\x7f"]  # SABME P=1, a user command
    link.out.clear()
    link.receive(NET_RSP + b"\x73", 0.0)  # UA F=1
    assert link.state == LinkState.MULTIPLE_FRAME_ESTABLISHED
    assert link.indications == [LinkUp()]
    link.indications.clear()
    return link


def test_q921_5_5_1_establishment_both_directions() -> None:
    up_user()
    link = DataLink(network=True)
    link.receive(USER_CMD + b"\x7f", 0.0)  # the user's SABME
    assert link.out == [NET_RSP + b"\x73"]  # UA F=1 as a network response
    assert link.up


def test_q921_5_5_1_3_sabme_collision_waits_for_ua() -> None:
    link = DataLink(network=False)
    link.start(0.0)
    link.out.clear()
    link.receive(NET_CMD + b"\x7f", 0.0)
    assert link.out == [USER_RSP + b"\x73"]
    assert link.state == LinkState.AWAITING_ESTABLISHMENT
    link.receive(NET_RSP + b"\x73", 0.0)
    assert link.up


def test_q921_5_6_i_frames_acknowledged_by_rr() -> None:
    link = up_user()
    link.receive(i_frame(0, 0, b"\x08\x02\x00\x01\x05"), 0.1)
    assert link.indications == [DataIndication(b"\x08\x02\x00\x01\x05")]
    assert link.out == []  # acknowledgment waits for layer 3's answer ...
    link.flush()
    assert link.out == [USER_RSP + b"\x01\x02"]  # ... RR N(R)=1


def test_q921_5_6_ack_piggybacks_on_i_frame() -> None:
    link = up_user()
    link.receive(i_frame(0, 0, b"abc"), 0.1)
    link.send(b"reply", 0.1)
    link.flush()
    assert link.out == [USER_CMD + bytes((0, 1 << 1)) + b"reply"]


def test_q921_5_6_poll_answered_with_final() -> None:
    link = up_user()
    link.receive(i_frame(0, 0, b"x", p=True), 0.1)
    assert link.out == [USER_RSP + b"\x01\x03"]  # RR F=1 N(R)=1


def test_q921_5_6_ns_gap_gets_one_rej() -> None:
    link = up_user()
    link.receive(i_frame(1, 0, b"late"), 0.1)
    link.receive(i_frame(2, 0, b"later"), 0.1)
    assert link.out == [USER_RSP + b"\x09\x00"]  # REJ N(R)=0, once
    assert link.indications == []
    assert link.counters["l2_ns_sequence"] == 2
    link.out.clear()
    link.receive(i_frame(0, 0, b"first"), 0.2)
    assert link.indications == [DataIndication(b"first")]


def test_q921_window_k_limits_outstanding_frames() -> None:
    link = up_user(LinkTimers(k=7))
    for n in range(10):
        link.send(bytes((n,)), 0.0)
    assert len(link.out) == 7
    link.out.clear()
    link.receive(NET_RSP + b"\x01" + bytes((3 << 1,)), 0.1)  # RR N(R)=3
    assert [f[4] for f in link.out] == [7, 8, 9]


def test_q921_5_6_t200_timer_recovery_retransmits() -> None:
    link = up_user(LinkTimers(t200=1.0))
    link.send(b"setup", 0.0)
    link.out.clear()
    link.tick(1.0)  # T200: enquiry RR P=1
    assert link.out == [USER_CMD + b"\x01\x01"]
    assert link.state == LinkState.TIMER_RECOVERY
    link.out.clear()
    link.receive(NET_RSP + b"\x01\x01", 1.1)  # RR F=1 N(R)=0: nothing was received
    assert link.out == [USER_CMD + b"\x00\x00" + b"setup"]
    assert link.state == LinkState.MULTIPLE_FRAME_ESTABLISHED


def test_q921_5_6_rej_makes_us_retransmit() -> None:
    link = up_user()
    link.send(b"a", 0.0)
    link.send(b"b", 0.0)
    link.out.clear()
    link.receive(NET_RSP + b"\x09\x02", 0.1)  # REJ N(R)=1
    assert link.out == [USER_CMD + b"\x02\x00b"]


def test_q921_5_9_t203_polls_an_idle_link() -> None:
    link = up_user(LinkTimers(t203=10.0))
    link.tick(9.9)
    assert link.out == []
    link.tick(10.0)
    assert link.out == [USER_CMD + b"\x01\x01"]


def test_q921_n200_exhausted_reestablishes_then_gives_up() -> None:
    link = up_user(LinkTimers(t200=1.0, t203=10.0, n200=3, retry=5.0))
    t = 10.0
    link.tick(t)  # T203 → enquiry with RC=0, then N200 more polls, then re-establish
    for _ in range(4):
        t += 1.0
        link.tick(t)
    assert link.out[-1] == USER_CMD + b"\x7f"  # SABME: re-establishment
    assert LinkDown("peer stopped answering (N200 exceeded)") in link.indications
    for _ in range(4):
        t += 1.0
        link.tick(t)
    assert link.state == LinkState.TEI_ASSIGNED
    link.out.clear()
    link.tick(t + 5.0)  # persistent: tries again after `retry`
    assert link.out == [USER_CMD + b"\x7f"]


@pytest.mark.parametrize(
    ("frame", "counter"),
    [
        (b"\x02\x01", "l2_short"),
        (b"\x03\x01\x01\x00", "l2_bad_ea"),
        (b"\x02\x00\x01\x00", "l2_bad_ea"),
        (b"\xfe\x01\x01\x00", "l2_bad_sapi"),  # SAPI 63 (management) on a PRI
        (b"\x02\xff\x01\x00", "l2_bad_tei"),  # TEI 127 (broadcast)
        (NET_CMD + b"\x00\x00" + bytes(261), "l2_oversized"),
        (NET_CMD + b"\x00", "l2_short"),
    ],
)
def test_q921_5_8_4_invalid_frames_discarded_and_counted(frame: bytes, counter: str) -> None:
    link = up_user()
    link.receive(frame, 0.1)
    assert link.counters[counter] == 1
    assert link.out == [] and link.indications == []
    assert link.up


@pytest.mark.parametrize(
    ("frame", "counter"),
    [
        (NET_CMD + b"\x0d\x00", "l2_bad_control"),  # undefined S frame
        (NET_CMD + b"\x01\x00\x00", "l2_bad_length"),  # RR with an information field
        (NET_CMD + b"\x53\x00", "l2_bad_length"),  # DISC with an information field
        (NET_CMD + b"\xe3", "l2_bad_control"),  # undefined U frame
        (NET_RSP + b"\x00\x00abc", "l2_bad_control"),  # I frame as a response
    ],
)
def test_q921_5_8_5_frame_rejection_reestablishes(frame: bytes, counter: str) -> None:
    link = up_user()
    link.receive(frame, 0.1)
    assert link.counters[counter] == 1
    assert link.out == [USER_CMD + b"\x7f"]
    assert link.state == LinkState.AWAITING_ESTABLISHMENT


def test_q921_n_r_error_reestablishes() -> None:
    link = up_user()
    link.receive(NET_RSP + b"\x01" + bytes((5 << 1,)), 0.1)  # acks frames never sent
    assert link.counters["l2_bad_nr"] == 1
    assert link.out[-1] == USER_CMD + b"\x7f"


def test_q921_disc_releases_and_dm_when_down() -> None:
    link = up_user()
    link.receive(NET_CMD + b"\x53", 0.1)  # DISC P=1
    assert link.out == [USER_RSP + b"\x73"]
    assert link.state == LinkState.TEI_ASSIGNED
    link.out.clear()
    link.receive(NET_CMD + b"\x53", 0.2)
    assert link.out == [USER_RSP + b"\x1f"]  # DM F=1
