"""StatusPublisher against a real mosquitto, watched by a real paho MQTT v5 subscriber."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mqtt_probe import MqttProbe

from firmware.calld import facts as f
from firmware.status import topics
from firmware.status.publisher import BrokerAddress, StatusPublisher
from firmware.status.topics import TopicTree

REPO = Path(__file__).resolve().parents[2]


def birth(tree: TopicTree, media: str = "up") -> topics.StatusMessage:
    return topics.online(
        tree, since=1000.0, version="test", clock="virtual", media=media, media_since=1000.0
    )


def run_with_publisher(
    broker: Any,
    tree: TopicTree,
    body: Callable[[StatusPublisher], Awaitable[None]],
    **kwargs: Any,
) -> StatusPublisher:
    """Run `body(publisher)` while the publisher runs; then stop it cleanly."""

    async def main() -> StatusPublisher:
        pub = StatusPublisher(BrokerAddress(broker.host, broker.port), tree, birth(tree), **kwargs)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(pub.run())
            await asyncio.wait_for(pub.wait_connected(), 5)
            try:
                await body(pub)
            finally:
                task.cancel()
        return pub

    return asyncio.run(main())


async def settle(pub: StatusPublisher, timeout: float = 5.0) -> None:
    """Wait until everything queued was acknowledged by the broker (QoS 1 PUBACK)."""
    deadline = time.monotonic() + timeout
    while pub.pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert pub.pending() == 0


def test_retained_state_reaches_a_late_subscriber_and_events_do_not(mosquitto: Any) -> None:
    tree = TopicTree("t-retained", "box1")
    stats = f.QueueStats(t=2000.0, queue="sales", waiting=1, oldest_since=1990.0)
    agent = f.AgentStateChanged(2000.0, "1001", "Ann", f.AgentState.AVAILABLE, since=1995.0)
    offered = f.CallOffered(2000.0, "2000.1", 1, "main", "5551234", "SMITH J")

    async def body(pub: StatusPublisher) -> None:
        for fact in (stats, agent, offered):
            pub.publish_all(topics.messages_for(tree, fact, stats_expiry_s=60))
        await settle(pub)
        probe = await asyncio.to_thread(MqttProbe, mosquitto.host, mosquitto.port, f"{tree.base}/#")
        try:
            await asyncio.to_thread(probe.wait_connected)
            got = await asyncio.to_thread(
                probe.wait_for, lambda m: m.topic == tree.agent_state("1001"), 5, "agent state"
            )
            assert got.retain and got.qos == 1 and got.json()["state"] == "available"
            q = await asyncio.to_thread(
                probe.wait_for, lambda m: m.topic == tree.queue_stats("sales"), 5, "queue stats"
            )
            assert q.retain and q.json()["oldest_since"] == 1990.0
            assert 0 < q.properties["MessageExpiryInterval"] <= 60  # MQTT5 expiry on stats
            s = probe.latest(tree.status)
            assert s is not None and s.retain and s.json()["state"] == "online"
            await asyncio.sleep(0.3)
            assert probe.seen(tree.event("offered")) == []  # events are not retained
        finally:
            probe.close()

    run_with_publisher(mosquitto, tree, body)


def test_events_reach_a_live_subscriber_in_order(mosquitto: Any) -> None:
    tree = TopicTree("t-events", "box1")
    probe = MqttProbe(mosquitto.host, mosquitto.port, f"{tree.base}/event/#").wait_connected()

    async def body(pub: StatusPublisher) -> None:
        for i in range(20):
            pub.publish_all(
                topics.messages_for(tree, f.CallOffered(float(i), f"{i}.1", 1, "g", str(i), ""))
            )
        await settle(pub)

    try:
        run_with_publisher(mosquitto, tree, body)
        probe.wait_for(lambda m: m.json()["call_id"] == "19.1", 5, "the last event")
        assert [m.json()["caller_number"] for m in probe.seen()] == [str(i) for i in range(20)]
        assert all(not m.retain for m in probe.seen())
    finally:
        probe.close()


def test_every_agent_state_change_of_one_batch_reaches_a_live_subscriber_in_order(
    mosquitto: Any,
) -> None:
    """A wallboard needs each transition: calld hands a whole batch of facts to the publisher
    before its send loop runs, and a retained topic must not be coalesced while connected."""
    tree = TopicTree("t-changes", "box1")
    probe = MqttProbe(mosquitto.host, mosquitto.port, f"{tree.base}/agent/#").wait_connected()
    sequence = [
        f.AgentState.RINGING,
        f.AgentState.WHISPER,
        f.AgentState.ON_CALL,
        f.AgentState.WRAP_UP,
        f.AgentState.UNAVAILABLE,
        f.AgentState.AVAILABLE,
    ]

    async def body(pub: StatusPublisher) -> None:
        batch: list[topics.StatusMessage] = []
        for i, state in enumerate(sequence):  # one batch: no await between the publishes
            fact = f.AgentStateChanged(2000.0 + i, "1001", "Ann", state, since=2000.0 + i)
            batch += topics.messages_for(tree, fact)
        pub.publish_all(batch)
        await settle(pub)

    try:
        run_with_publisher(mosquitto, tree, body)
        probe.wait_for(lambda m: m.json()["state"] == "available", 5, "the last state")
        assert [m.json()["state"] for m in probe.seen(tree.agent_state("1001"))] == [
            str(s) for s in sequence
        ]
    finally:
        probe.close()


def test_retained_changes_beyond_the_bound_coalesce_to_the_latest(mosquitto: Any) -> None:
    """More changes waiting than the bound: the rest coalesce, and the latest still wins."""
    tree = TopicTree("t-bound", "box1")
    probe = MqttProbe(mosquitto.host, mosquitto.port, f"{tree.base}/agent/#").wait_connected()
    states = [f.AgentState.AVAILABLE, f.AgentState.PAUSED] * 5 + [f.AgentState.RINGING]

    async def body(pub: StatusPublisher) -> None:
        for i, state in enumerate(states):
            fact = f.AgentStateChanged(2000.0 + i, "1001", "Ann", state, since=2000.0 + i)
            pub.publish_all(topics.messages_for(tree, fact))
        await settle(pub)

    try:
        run_with_publisher(mosquitto, tree, body, max_pending_events=4)
        probe.wait_for(lambda m: m.json()["state"] == "ringing", 5, "the latest state")
        seen = [m.json()["state"] for m in probe.seen(tree.agent_state("1001"))]
        # 4 changes one by one, the other 7 as one message: the latest
        assert seen == ["available", "paused", "available", "paused", "ringing"], seen
    finally:
        probe.close()


def test_clean_stop_publishes_offline(mosquitto: Any) -> None:
    tree = TopicTree("t-clean", "box1")

    async def body(pub: StatusPublisher) -> None:
        await settle(pub)

    run_with_publisher(mosquitto, tree, body)
    probe = MqttProbe(mosquitto.host, mosquitto.port, tree.status).wait_connected()
    try:
        got = probe.wait_for(lambda m: m.topic == tree.status, 5, "status")
        assert got.retain and got.json() == {"schema": 1, "state": "offline"}
    finally:
        probe.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from firmware.status import topics
    from firmware.status.publisher import BrokerAddress, StatusPublisher
    from firmware.status.topics import TopicTree

    async def main():
        tree = TopicTree("t-lwt", "box1")
        birth = topics.online(tree, since=1.0, version="child", clock="real", media="up",
                              media_since=1.0)
        pub = StatusPublisher(BrokerAddress("127.0.0.1", int(sys.argv[1])), tree, birth)
        task = asyncio.create_task(pub.run())
        await pub.wait_connected()
        while pub.pending():
            await asyncio.sleep(0.01)
        print("online", flush=True)
        await task

    asyncio.run(main())
    """
)


def test_last_will_says_offline_when_the_publisher_is_killed(mosquitto: Any) -> None:
    tree = TopicTree("t-lwt", "box1")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(mosquitto.port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"online"
        probe = MqttProbe(mosquitto.host, mosquitto.port, tree.status).wait_connected()
        try:
            probe.wait_for(lambda m: m.json()["state"] == "online", 5, "birth")
            child.send_signal(signal.SIGKILL)
            child.wait(5)
            got = probe.wait_for(lambda m: m.json()["state"] == "offline", 5, "the last will")
            assert got.json() == {"schema": 1, "state": "offline"}
        finally:
            probe.close()
        late = MqttProbe(mosquitto.host, mosquitto.port, tree.status).wait_connected()
        try:
            got = late.wait_for(lambda m: True, 5, "retained will")
            assert got.retain and got.json()["state"] == "offline"
        finally:
            late.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_broker_restart_brings_birth_and_state_back_logging_once(
    mosquitto_factory: Any, caplog: Any
) -> None:
    broker = mosquitto_factory()
    tree = TopicTree("t-restart", "box1")
    caplog.set_level(logging.INFO, logger="firmware.status.publisher")

    async def body(pub: StatusPublisher) -> None:
        pub.publish_all(
            topics.messages_for(
                tree, f.PortStatus(5.0, 3, "fxo", f.PortState.CONNECTED, since=4.0, call_id="x")
            )
        )
        await settle(pub)
        await asyncio.to_thread(broker.kill)  # no persistence: the broker forgets everything
        while pub.connected:
            await asyncio.sleep(0.01)
        # events queued while the broker is away are delivered after the reconnect
        pub.publish_all(topics.messages_for(tree, f.CallOffered(6.0, "6.1", 3, "g", "555", "")))
        await asyncio.sleep(1.2)  # several reconnect attempts at 0.05 .. 0.2 s
        await asyncio.to_thread(broker.start)
        await asyncio.wait_for(pub.wait_connected(), 5)
        await settle(pub)

    pub = run_with_publisher(broker, tree, body, backoff_s=(0.05, 0.2))
    assert pub.counters.connects == 2 and pub.counters.losses == 1
    lost = [r for r in caplog.records if "unreachable" in r.getMessage()]
    back = [r for r in caplog.records if "is back" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1  # once on loss, once on recovery

    probe = MqttProbe(broker.host, broker.port, f"{tree.base}/#").wait_connected()
    try:
        got = probe.wait_for(lambda m: m.topic == tree.port_status(3), 5, "port after restart")
        assert got.retain and got.json()["state"] == "connected"
        # the clean stop after the body left `offline`; the birth was there before it
        assert probe.wait_for(lambda m: m.topic == tree.status, 5).json()["state"] == "offline"
    finally:
        probe.close()


def test_birth_is_published_again_after_reconnect(mosquitto_factory: Any) -> None:
    broker = mosquitto_factory()
    tree = TopicTree("t-birth", "box1")
    probe_holder: list[MqttProbe] = []

    async def body(pub: StatusPublisher) -> None:
        await settle(pub)
        await asyncio.to_thread(broker.kill)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(broker.start)
        probe = await asyncio.to_thread(MqttProbe, broker.host, broker.port, tree.status)
        probe_holder.append(probe)
        await asyncio.wait_for(pub.wait_connected(), 5)
        got = await asyncio.to_thread(
            probe.wait_for, lambda m: m.json()["state"] == "online", 5, "birth after reconnect"
        )
        assert got.json()["version"] == "test"

    try:
        pub = run_with_publisher(broker, tree, body, backoff_s=(0.05, 0.2))
        assert pub.counters.connects == 2
    finally:
        for p in probe_holder:
            p.close()


def test_expiring_stats_are_refreshed_while_the_box_lives(mosquitto: Any) -> None:
    tree = TopicTree("t-expiry", "box1")
    stats = f.QueueStats(t=1.0, queue="q1", waiting=0, oldest_since=None)
    control = f"{tree.base}/queue/control/stats"

    async def body(pub: StatusPublisher) -> None:
        pub.publish_all(topics.messages_for(tree, stats, stats_expiry_s=2))
        # the same kind of message published once, without refresh, expires at the broker
        other = await asyncio.to_thread(MqttProbe, mosquitto.host, mosquitto.port)
        await asyncio.to_thread(other.wait_connected)
        await asyncio.to_thread(other.publish, control, b'{"schema":1}', retain=True, expiry_s=2)
        other.close()
        await asyncio.sleep(3.2)
        probe = await asyncio.to_thread(MqttProbe, mosquitto.host, mosquitto.port, f"{tree.base}/#")
        try:
            await asyncio.to_thread(probe.wait_connected)
            await asyncio.to_thread(
                probe.wait_for, lambda m: m.topic == tree.queue_stats("q1"), 3, "refreshed stats"
            )
            assert probe.seen(control) == []
        finally:
            probe.close()

    run_with_publisher(mosquitto, tree, body, refresh_check_s=0.2)


def test_malformed_commands_are_rejected_counted_and_answered(mosquitto: Any) -> None:
    tree = TopicTree("t-cmd", "box1")
    reply_to = f"{tree.base}/reply/tester"
    bad = [
        (tree.cmd("ping"), b"{not json"),
        (tree.cmd("ping"), b'{"schema": 7}'),
        (tree.cmd("reboot"), b'{"schema": 1}'),
        (tree.cmd("ping"), b"[]"),
    ]

    async def snapshot(request: topics.CommandRequest) -> dict[str, Any]:
        return {"calls": 0, "asked": dict(request.args)}

    async def body(pub: StatusPublisher) -> None:
        probe = await asyncio.to_thread(MqttProbe, mosquitto.host, mosquitto.port, reply_to)
        try:
            await asyncio.to_thread(probe.wait_connected)
            await asyncio.sleep(0.2)
            for i, (topic, payload) in enumerate(bad):
                await asyncio.to_thread(
                    probe.publish,
                    topic,
                    payload,
                    response_topic=reply_to,
                    correlation=f"bad{i}".encode(),
                )
            # a retained command would run again on every reconnect: refused too
            await asyncio.to_thread(probe.publish, tree.cmd("ping"), b'{"schema":1}', retain=True)
            await asyncio.to_thread(
                probe.publish,
                tree.cmd("snapshot"),
                b'{"schema":1,"who":"me"}',
                response_topic=reply_to,
                correlation=b"good",
            )
            good = await asyncio.to_thread(
                probe.wait_for, lambda m: m.properties.get("CorrelationData") == b"good", 5
            )
            assert good.json() == {
                "schema": 1,
                "ok": True,
                "verb": "snapshot",
                "result": {"calls": 0, "asked": {"who": "me"}},
            }
            replies = {m.properties["CorrelationData"]: m.json() for m in probe.seen()}
            for i in range(len(bad)):
                assert replies[f"bad{i}".encode()]["ok"] is False
                assert replies[f"bad{i}".encode()]["error"]
            assert "unknown command 'reboot'" in replies[b"bad2"]["error"]
            await asyncio.sleep(0.2)
            assert pub.counters.commands_rejected == len(bad) + 1
            assert pub.counters.commands_answered == 1
            assert pub.connected  # the connection carried on
            # clear the retained command for other runs on this broker
            await asyncio.to_thread(probe.publish, tree.cmd("ping"), b"", retain=True)
        finally:
            probe.close()

    run_with_publisher(mosquitto, tree, body, on_command=snapshot)
