"""The live view's state and drawing, fed the payloads the MQTT feed carries."""

from __future__ import annotations

from firmware.calld import facts as f
from firmware.status import topics
from firmware.status.topics import TopicTree
from firmware.status.view import BoxView, render

TREE = TopicTree("dev", "sim1")


def feed(view: BoxView, fact: object) -> None:
    for msg in topics.messages_for(TREE, fact):
        view.apply(TREE, msg.topic, dict(msg.payload))


def test_view_shows_waiting_calls_longest_wait_and_who_is_on_which_call() -> None:
    view = BoxView()
    view.apply(
        TREE,
        TREE.status,
        dict(
            topics.online(
                TREE, since=0.0, version="x", clock="real", media="up", media_since=0.0
            ).payload
        ),
    )
    feed(view, f.QueueStats(t=100.0, queue="sales", waiting=2, oldest_since=58.0, offered=5))
    feed(
        view,
        f.AgentStateChanged(
            100.0, "1001", "Ada", f.AgentState.ON_CALL, 90.0, "101", "77.1", "sales", "5551234"
        ),
    )
    feed(
        view, f.AgentStateChanged(100.0, "1002", "Brian", f.AgentState.PAUSED, 30.0, reason="lunch")
    )
    feed(view, f.PortStatus(100.0, 2, "fxo", f.PortState.CONNECTED, 91.0, "77.1", "main"))
    feed(view, f.CallOffered(99.0, "99.1", 3, "main", "5550000", ""))
    text = "\n".join(render(view, now=100.0, color=False))
    sales = next(line for line in text.splitlines() if line.startswith("sales"))
    assert sales.split()[1:3] == ["2", "0:42"]  # 2 waiting, the oldest since 42 s
    ada = next(line for line in text.splitlines() if line.startswith("1001"))
    assert "on_call" in ada and "0:10" in ada and "77.1 sales from 5551234" in ada
    assert "(lunch)" in next(line for line in text.splitlines() if line.startswith("1002"))
    line2 = next(line for line in text.splitlines() if line.startswith("2 "))
    assert "connected" in line2 and "77.1" in line2
    assert "offered" in text and "99.1" in text
    assert "\x1b[" not in text


def test_a_cleared_retained_topic_leaves_the_view_and_foreign_topics_are_ignored() -> None:
    view = BoxView()
    feed(view, f.AgentStateChanged(1.0, "1001", "Ada", f.AgentState.AVAILABLE, 1.0))
    view.apply(TREE, TREE.agent_state("1001"), None)
    view.apply(TREE, "callbox/v1/other/box/agent/9/state", {"state": "x"})
    view.apply(TREE, TREE.base + "/port/notanumber/status", {"state": "x"})
    assert view.agents == {} and view.ports == {}
