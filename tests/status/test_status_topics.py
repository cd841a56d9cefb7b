"""The pure side of the MQTT contract: topics and payloads from facts, command parsing."""

from __future__ import annotations

import json

import pytest

from firmware.calld import facts as f
from firmware.status import topics
from firmware.status.topics import CommandError, TopicError, TopicTree

TREE = TopicTree("hq", "box1")


def test_topic_tree_follows_design_3_6() -> None:
    assert TREE.status == "callbox/v1/hq/box1/status"
    assert TREE.queue_stats("sales") == "callbox/v1/hq/box1/queue/sales/stats"
    assert TREE.agent_state("1001") == "callbox/v1/hq/box1/agent/1001/state"
    assert TREE.port_status(7) == "callbox/v1/hq/box1/port/7/status"
    assert TREE.event("offered") == "callbox/v1/hq/box1/event/offered"
    assert TREE.cmd_filter == "callbox/v1/hq/box1/cmd/+"


@pytest.mark.parametrize("bad", ["", "a/b", "sales+", "#", "x\0y", "q" * 129])
def test_names_that_cannot_be_a_topic_level_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        TREE.queue_stats(bad)
    with pytest.raises(TopicError):
        TopicTree(bad, "box")


def test_queue_stats_are_retained_qos1_with_expiry_and_timestamps() -> None:
    stats = f.QueueStats(
        t=1_700_000_100.1234,
        queue="sales",
        waiting=2,
        oldest_since=1_700_000_042.5,
        agents={"available": 1, "on_call": 3},
        offered=10,
        answered=7,
        abandoned=1,
        answered_within_sl=6,
    )
    (msg,) = topics.messages_for(TREE, stats, stats_expiry_s=120)
    assert (msg.topic, msg.retain, msg.qos, msg.expiry_s) == (
        TREE.queue_stats("sales"),
        True,
        1,
        120,
    )
    body = json.loads(msg.encode())
    assert body["schema"] == topics.SCHEMA
    assert body["oldest_since"] == 1_700_000_042.5
    assert body["t"] == 1_700_000_100.123
    assert body["service_level"] == 0.75  # 6 within threshold of 8 answered + abandoned
    assert body["agents"] == {"available": 1, "on_call": 3}


def test_empty_queue_has_no_oldest_and_no_service_level_yet() -> None:
    body = topics.queue_stats(TREE, f.QueueStats(t=5.0, queue="q", waiting=0, oldest_since=None))
    assert body.payload["oldest_since"] is None and body.payload["service_level"] is None


def test_agent_and_port_state_are_retained_with_since() -> None:
    agent = f.AgentStateChanged(
        t=20.0,
        agent="1001",
        name="Ann",
        state=f.AgentState.ON_CALL,
        since=19.5,
        station="st1",
        call_id="20.3",
        queue="sales",
        caller_number="5551234",
    )
    port = f.PortStatus(t=20.0, channel=3, kind="fxo", state=f.PortState.QUEUED, since=12.0)
    (a,) = topics.messages_for(TREE, agent)
    (p,) = topics.messages_for(TREE, port)
    assert a.retain and p.retain and a.expiry_s is None and p.expiry_s is None
    assert a.payload["state"] == "on_call" and a.payload["since"] == 19.5
    assert a.payload["call_id"] == "20.3"
    assert p.topic == TREE.port_status(3) and p.payload["state"] == "queued"


def test_call_facts_become_unretained_events() -> None:
    offered = f.CallOffered(1.0, "1.1", 2, "main", "5551234", "SMITH J")
    answered = f.AgentConnected(9.0, "1.1", "sales", "1001", 30, holdtime=4.25, ringtime=2.0)
    abandoned = f.CallAbandoned(9.0, "1.2", "sales", 2, 3, 41.0)
    completed = f.CallCompleted(99.0, "1.1", "sales", "1001", f.HangupSide.AGENT, 4.25, 90.0, 1)
    kinds = []
    for fact in (offered, answered, abandoned, completed):
        (msg,) = topics.messages_for(TREE, fact)
        assert not msg.retain and msg.qos == 1
        assert msg.topic == TREE.event(msg.payload["kind"])
        kinds.append(msg.payload["kind"])
    assert kinds == ["offered", "answered", "abandoned", "completed"]


def test_records_only_facts_publish_nothing() -> None:
    assert topics.messages_for(TREE, f.IvrChoice(1.0, "1.1", "main", "1", "queue", "sales")) == []
    assert topics.messages_for(TREE, object()) == []


def test_birth_and_will_share_the_status_topic() -> None:
    birth = topics.online(
        TREE, since=10.0, version="0.1.0", clock="real", media="up", media_since=11.0
    )
    will = topics.offline(TREE)
    assert birth.topic == will.topic == TREE.status
    assert birth.retain and will.retain
    assert birth.payload["state"] == "online" and will.payload == {"schema": 1, "state": "offline"}


def test_a_wellformed_command_parses() -> None:
    req = topics.parse_command(TREE, TREE.cmd("snapshot"), b'{"schema": 1, "what": "all"}')
    assert req.verb == "snapshot" and req.args == {"what": "all"}


@pytest.mark.parametrize(
    ("topic", "payload", "says"),
    [
        ("callbox/v1/hq/box1/cmd/reboot", b'{"schema":1}', "unknown command"),
        ("callbox/v1/hq/box1/cmd/ping", b"not json", "not UTF-8 JSON"),
        ("callbox/v1/hq/box1/cmd/ping", b"\xff\xfe", "not UTF-8 JSON"),
        ("callbox/v1/hq/box1/cmd/ping", b"[1, 2]", "JSON object"),
        ("callbox/v1/hq/box1/cmd/ping", b"", "JSON object"),
        ("callbox/v1/hq/box1/cmd/ping", b'{"schema": 2}', "schema"),
        ("callbox/v1/hq/box1/cmd/ping", b'{"schema":1,"x":"' + b"a" * 5000 + b'"}', "bytes"),
        ("callbox/v1/hq/other/cmd/ping", b'{"schema":1}', "not a command topic"),
    ],
)
def test_malformed_commands_are_refused_with_a_reason(
    topic: str, payload: bytes, says: str
) -> None:
    with pytest.raises(CommandError, match=says):
        topics.parse_command(TREE, topic, payload)
