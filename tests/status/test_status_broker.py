"""The generated broker set-up on a real mosquitto: password auth, ACL, websockets listener."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from mqtt_probe import MqttProbe

from firmware.status import topics
from firmware.status.broker import (
    MosquittoProcess,
    free_port,
    hash_password,
    load_credentials,
    write_broker_files,
)
from firmware.status.publisher import BrokerAddress, StatusPublisher
from firmware.status.topics import TopicTree

TREE = TopicTree("secure", "box7")


@pytest.fixture(scope="module")
def box_broker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("box-broker")
    files = write_broker_files(directory, TREE, port=free_port(), websockets_port=free_port())
    proc = MosquittoProcess(files.config, files.host, files.port, directory / "log").start()
    yield files
    proc.stop()


def test_hash_is_mosquittos_pbkdf2_format() -> None:
    h = hash_password("secret", salt=b"\x01" * 12)
    kind, iterations, salt, digest = h.split("$")[1:]
    assert (kind, iterations, salt) == ("7", "101", "AQEBAQEBAQEBAQEB")
    assert len(digest) == 88  # base64 of 64 bytes of PBKDF2-HMAC-SHA512
    assert hash_password("secret") != hash_password("secret")  # fresh salt each time


def test_credentials_are_private_random_and_kept(box_broker: Any, tmp_path: Path) -> None:
    mode = stat.S_IMODE(box_broker.credentials_file.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(box_broker.password_file.stat().st_mode) == 0o600
    creds = load_credentials(box_broker.credentials_file)
    assert set(creds) == {"calld", "supervisor", "wallboard"}
    assert len({c.password for c in creds.values()}) == 3
    assert all(len(c.password) >= 20 for c in creds.values())
    # regenerating the files in the same directory keeps the box's passwords
    again = write_broker_files(box_broker.config.parent, TREE, port=box_broker.port)
    assert again.credentials == creds


def test_anonymous_and_wrong_password_are_refused(box_broker: Any) -> None:
    anon = MqttProbe(box_broker.host, box_broker.port)
    wrong = MqttProbe(box_broker.host, box_broker.port, username="calld", password="guess")
    try:
        time.sleep(0.5)
        assert not anon.connected.is_set() and anon.connect_reason.is_failure
        assert not wrong.connected.is_set() and wrong.connect_reason.is_failure
    finally:
        anon.close()
        wrong.close()


def test_wallboard_reads_everything_but_cannot_write_or_see_commands(box_broker: Any) -> None:
    creds = box_broker.credentials
    wall = MqttProbe(
        box_broker.host,
        box_broker.port,
        f"{TREE.base}/#",
        username=creds["wallboard"].username,
        password=creds["wallboard"].password,
    ).wait_connected()
    sup = MqttProbe(
        box_broker.host,
        box_broker.port,
        f"{TREE.base}/#",
        username=creds["supervisor"].username,
        password=creds["supervisor"].password,
    ).wait_connected()

    async def main() -> None:
        pub = StatusPublisher(
            BrokerAddress(
                box_broker.host,
                box_broker.port,
                creds["calld"].username,
                creds["calld"].password,
            ),
            TREE,
            topics.online(TREE, since=1.0, version="t", clock="real", media="up", media_since=1.0),
        )
        task = asyncio.create_task(pub.run())
        await asyncio.wait_for(pub.wait_connected(), 5)
        while pub.pending():
            await asyncio.sleep(0.01)
        # a wallboard trying to overwrite the status, and to command the box: both dropped
        await asyncio.to_thread(wall.publish, TREE.status, b'{"schema":1,"state":"hacked"}')
        await asyncio.to_thread(wall.publish, TREE.cmd("ping"), b'{"schema":1}')
        # a supervisor may command the box
        await asyncio.to_thread(
            sup.publish,
            TREE.cmd("ping"),
            b'{"schema":1}',
            response_topic=f"{TREE.base}/reply/sup",
            correlation=b"1",
        )
        await asyncio.to_thread(
            sup.wait_for, lambda m: m.topic == f"{TREE.base}/reply/sup", 5, "reply"
        )
        await asyncio.sleep(0.3)
        assert pub.counters.commands_answered == 1  # only the supervisor's ping arrived
        task.cancel()

    try:
        asyncio.run(main())
        status = [m.json()["state"] for m in wall.seen(TREE.status)]
        assert status[0] == "online" and "hacked" not in status
        assert wall.seen(TREE.cmd("ping")) == []  # commands hidden from wallboards
        assert wall.seen(f"{TREE.base}/reply/sup") == []  # and their replies
        assert len(sup.seen(TREE.cmd("ping"))) == 1  # the supervisor's own; not the wallboard's
        assert sup.latest(f"{TREE.base}/reply/sup").json()["result"] == {"pong": True}
    finally:
        wall.close()
        sup.close()


def test_a_browser_wallboard_subscribes_over_websockets(box_broker: Any) -> None:
    creds = box_broker.credentials
    assert box_broker.websockets_port is not None
    publisher = MqttProbe(
        box_broker.host,
        box_broker.port,
        username=creds["calld"].username,
        password=creds["calld"].password,
    ).wait_connected()
    try:
        publisher.publish(
            f"{TREE.base}/agent/ws/state", b'{"schema":1,"state":"paused"}', retain=True
        )
    finally:
        publisher.close()
    ws = MqttProbe(
        box_broker.host,
        box_broker.websockets_port,
        f"{TREE.base}/agent/+/state",
        username=creds["wallboard"].username,
        password=creds["wallboard"].password,
        transport="websockets",
    ).wait_connected()
    try:
        got = ws.wait_for(lambda m: m.topic == f"{TREE.base}/agent/ws/state", 5, "over websockets")
        assert got.retain and got.json()["state"] == "paused"
    finally:
        ws.close()


def test_first_boot_provisioning_configures_a_system_style_mosquitto(tmp_path: Path) -> None:
    from firmware.status.provision import provision
    from firmware.supervisor import REPO

    config = tmp_path / "callbox.toml"
    config.write_text((REPO / "firmware" / "dev.toml").read_text())
    (tmp_path / "prompts").symlink_to(REPO / "firmware" / "prompts")
    port, ws = free_port(), free_port()
    conf_d = tmp_path / "conf.d"
    snippet = provision(
        config, tmp_path / "mqtt", conf_d, host="127.0.0.1", port=port, websockets_port=ws
    )
    creds = load_credentials(tmp_path / "mqtt" / "credentials.json")
    assert (tmp_path / "mqtt" / "calld.password").read_text().strip() == creds["calld"].password
    # rerunning keeps the credentials
    provision(config, tmp_path / "mqtt", conf_d, host="127.0.0.1", port=port, websockets_port=ws)
    assert load_credentials(tmp_path / "mqtt" / "credentials.json") == creds
    main = tmp_path / "mosquitto.conf"  # like Debian's: persistence etc., then include_dir
    main.write_text(f"persistence false\nlog_dest stderr\ninclude_dir {snippet.parent}\n")
    import os
    import pwd

    main.write_text(f"user {pwd.getpwuid(os.getuid()).pw_name}\n" + main.read_text())
    with MosquittoProcess(main, "127.0.0.1", port, tmp_path / "log"):
        ok = MqttProbe(
            "127.0.0.1", port, username="calld", password=creds["calld"].password
        ).wait_connected()
        ok.close()
        anon = MqttProbe("127.0.0.1", port)
        time.sleep(0.3)
        assert anon.connect_reason is not None and anon.connect_reason.is_failure
        anon.close()
