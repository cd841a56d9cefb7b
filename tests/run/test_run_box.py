"""`callbox run` as a user runs it: a subprocess, traffic seen on MQTT, Ctrl-C, nothing left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from firmware.status.broker import free_port, load_credentials
from firmware.supervisor import REPO

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "status"))
from mqtt_probe import MqttProbe  # noqa: E402


def descendants(root: int) -> set[int]:
    """Every live process below `root` (by /proc parent links)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        kids = {pid for pid, pp in parent.items() if pp in frontier} - found
        found |= kids
        frontier = kids
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_callbox_run_shows_traffic_on_mqtt_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    config = tmp_path / "box.toml"
    text = (REPO / "firmware" / "dev.toml").read_text()
    text = text.replace('site = "dev"', 'site = "runtest"')
    text = re.sub(r"(?m)^calls_per_hour = .*$", "calls_per_hour = 1800", text)
    text = text.replace('dir = "/tmp/callbox-dev/records"', f'dir = "{tmp_path / "records"}"')
    text = text.replace("port = 1883", f"port = {free_port()}")  # no broker there: run starts one
    assert "calls_per_hour = 1800" in text and str(tmp_path / "records") in text
    config.write_text(text)
    (tmp_path / "prompts").symlink_to(REPO / "firmware" / "prompts")
    rt = tmp_path / "rt"

    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware.cli", "run", "--config", str(config)]
        + ["--runtime-dir", str(rt), "--clock", "virtual"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace").rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen_pids: set[int] = set()
    probe = None
    try:
        deadline = time.monotonic() + 20
        port = None
        while port is None and time.monotonic() < deadline:
            for line in lines:
                if m := re.search(r"MQTT mqtt://wallboard@127\.0\.0\.1:(\d+) \(private", line):
                    port = int(m.group(1))
            time.sleep(0.05)
        assert port is not None, "\n".join(lines)
        creds = load_credentials(rt / "mosquitto" / "credentials.json")
        base = "callbox/v1/runtest/sim1"
        probe = MqttProbe(
            "127.0.0.1",
            port,
            f"{base}/#",
            username=creds["supervisor"].username,
            password=creds["supervisor"].password,
        )
        try:
            probe.wait_connected(15)
        except AssertionError as exc:
            logs = "\n".join(
                f"== {f.name}\n{f.read_text(errors='replace')[-2000:]}"
                for f in sorted((rt / "logs").glob("*.log"))
            )
            raise AssertionError(f"{exc}\n{logs}") from exc
        # calls arrive, go through the IVR and reach agents, all seen by a real subscriber
        offered = probe.wait_for(lambda m: m.topic == f"{base}/event/offered", 40, "a call")
        assert offered.json()["schema"] == 1 and offered.json()["caller_number"]
        answered = probe.wait_for(lambda m: m.topic == f"{base}/event/answered", 40, "answer")
        agent = answered.json()["agent"]
        probe.wait_for(
            lambda m: m.topic == f"{base}/agent/{agent}/state" and m.json()["state"] == "on_call",
            10,
            "the agent on the call",
        )
        status = probe.wait_for(lambda m: m.topic == f"{base}/status", 5)
        assert status.retain and status.json()["state"] == "online"
        stats = probe.wait_for(lambda m: m.topic.endswith("/stats") and m.json()["offered"], 10)
        assert stats.retain and stats.properties["MessageExpiryInterval"] > 0
        # `callbox status` asks the same calld over the admin socket
        out = subprocess.run(
            [sys.executable, "-m", "firmware.cli", "status", "--socket", str(rt / "calld.sock")]
            + ["--json"],
            cwd=REPO,
            capture_output=True,
            timeout=20,
        )
        assert out.returncode == 0, out.stderr
        snap = json.loads(out.stdout)
        assert snap["media"]["state"] == "up" and snap["mqtt"]["connected"]
        assert snap["view"]["queues"]["sales"]["schema"] == 1
        # the live view, not a TTY here, printed summary lines with the queues
        deadline = time.monotonic() + 15
        while not any("queue sales:" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any("queue sales:" in line for line in lines), "\n".join(lines)
        seen_pids = descendants(proc.pid)
        names = {Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ") for p in seen_pids}
        programs = (b"supervisord", b"mosquitto", b"media.main", b"calld.main", b"watchdog")
        for program in programs:
            assert any(program in n for n in names), names
    finally:
        if probe is not None:
            probe.close()
        seen_pids |= descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(40)
        except subprocess.TimeoutExpired:
            for pid in seen_pids | {proc.pid}:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            raise
        reader.join(5)
    assert rc == 0, "\n".join(lines[-20:])
    assert lines[-1] == "callbox run: stopped"
    time.sleep(0.2)
    left = [p for p in seen_pids if alive(p)]
    assert left == [], f"left running: {left}"
    assert not (rt / "calld.sock").exists() and not (rt / "media.sock").exists()
    # the records were written (queue_log lines for the calls the subscriber saw)
    queue_log = (tmp_path / "records" / "queue_log").read_text()
    assert f"|{offered.json()['call_id']}|" in queue_log and "|CONNECT|" in queue_log
