"""The supervisor event listener under a real supervisord: a FATAL program becomes an MQTT alarm."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from firmware.calld.watchdog import ProgramHealth
from firmware.supervisor import REPO, Program, supervisord_conf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "status"))
from mqtt_probe import MqttProbe  # noqa: E402


def test_flapping_is_three_unexpected_exits_within_the_window_and_running_clears() -> None:
    health = ProgramHealth(flap_count=3, flap_window_s=60)
    exited = {"processname": "callbox-calld", "expected": "0"}
    assert health.observe("PROCESS_STATE_EXITED", exited, 0.0) == []
    assert health.observe("PROCESS_STATE_EXITED", {**exited, "expected": "1"}, 1.0) == []
    assert health.observe("PROCESS_STATE_EXITED", exited, 70.0) == []  # first one is too old
    assert health.observe("PROCESS_STATE_EXITED", exited, 71.0) == []  # two in the window
    (alarm,) = health.observe("PROCESS_STATE_EXITED", exited, 72.0)
    assert alarm.alarm == "flapping" and alarm.program == "callbox-calld"
    (clear,) = health.observe("PROCESS_STATE_RUNNING", {"processname": "callbox-calld"}, 80.0)
    assert clear.alarm == "clear"


def test_a_fatal_program_raises_an_mqtt_alarm(mosquitto: Any, tmp_path: Path) -> None:
    config = tmp_path / "box.toml"
    dev = (REPO / "firmware" / "dev.toml").read_text()
    config.write_text(dev.replace('site = "dev"', 'site = "watchdog-test"'))
    (tmp_path / "prompts").symlink_to(REPO / "firmware" / "prompts")
    mqtt = ["--mqtt-host", mosquitto.host, "--mqtt-port", str(mosquitto.port)]
    (tmp_path / "logs").mkdir()
    programs = [
        Program("doomed", ["/bin/false"], startsecs=1, startretries=0),
        Program(
            "callbox-watchdog",
            [sys.executable, "-m", "firmware.calld.watchdog", "--config", str(config), *mqtt],
            startsecs=0,
            priority=1,
            event_listener_events=("PROCESS_STATE",),
        ),
    ]
    conf = tmp_path / "supervisord.conf"
    conf.write_text(supervisord_conf(tmp_path, programs))
    probe = MqttProbe(
        mosquitto.host, mosquitto.port, "callbox/v1/watchdog-test/sim1/event/alarm"
    ).wait_connected()
    sup = subprocess.Popen(["supervisord", "-n", "-c", str(conf)], start_new_session=True)
    try:
        got = probe.wait_for(lambda m: True, 20, "a program alarm")
        body = got.json()
        assert body["schema"] == 1 and body["kind"] == "alarm" and not got.retain
        assert body["source"] == "program/doomed" and body["alarm"] == "fatal"
        assert body["t"] <= time.time()
    finally:
        probe.close()
        sup.terminate()
        sup.wait(20)
