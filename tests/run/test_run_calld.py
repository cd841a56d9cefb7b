"""callbox-calld under a real supervisord with a real media engine and the simulated card: the
admin socket, and a reload (calld restarts) that keeps the calls up."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

from firmware.calld.admin import request
from firmware.commands.run import write_run_config
from firmware.config import load_config
from firmware.supervisor import REPO, box_programs, supervisord_conf


def ask(sock: Path, cmd: str, **args: Any) -> dict[str, Any]:
    return asyncio.run(request(sock, cmd, timeout=10, **args))


def raw(sock: Path, line: bytes) -> bytes:
    async def go() -> bytes:
        reader, writer = await asyncio.open_unix_connection(sock)
        writer.write(line)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        return reply

    return asyncio.run(go())


def wait_until(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
        except (OSError, ValueError, TimeoutError):
            got = None
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_reload_restarts_calld_and_the_connected_call_survives(tmp_path: Path) -> None:
    text = (REPO / "firmware" / "dev.toml").read_text()
    text = text.replace("calls_per_hour = 60", "calls_per_hour = 1800")
    text = text.replace("aht_s = 120", "aht_s = 600")  # calls long enough to outlive the reload
    text = text.replace('dir = "/tmp/callbox-dev/records"', f'dir = "{tmp_path / "records"}"')
    text = text.replace("[mqtt]\nenabled = true", "[mqtt]\nenabled = false")
    assert "enabled = false" in text
    (tmp_path / "box.toml").write_text(text)
    (tmp_path / "prompts").symlink_to(REPO / "firmware" / "prompts")
    rt = tmp_path / "rt"
    (rt / "logs").mkdir(parents=True)
    config_path = tmp_path / "box.toml"
    run_toml = write_run_config(config_path, load_config(config_path), rt, "virtual")
    programs = [
        p
        for p in box_programs(
            run_toml,
            rt,
            media_args=["--socket", str(rt / "media.sock")],
            calld_args=["--media-socket", str(rt / "media.sock")],
        )
        if p.name in ("callbox-media", "callbox-calld")
    ]
    conf = rt / "supervisord.conf"
    conf.write_text(supervisord_conf(rt, programs))
    sock = rt / "calld.sock"
    sup = subprocess.Popen(["supervisord", "-n", "-c", str(conf)], start_new_session=True)
    try:
        # a call gets connected to an agent
        def connected_call() -> dict[str, Any] | None:
            snap = ask(sock, "snapshot")["snapshot"]
            calls = (snap.get("control") or {}).get("calls", [])
            return next((c for c in calls if c["state"] == "connected"), None)

        call = wait_until(connected_call, 60, "a connected call")
        before = ask(sock, "snapshot")["snapshot"]
        assert before["media"]["state"] == "up" and before["mqtt"] is None

        # malformed admin requests are answered with an error and counted
        assert b'"ok":false' in raw(sock, b"this is not json\n")
        assert b"unknown cmd" in raw(sock, b'{"cmd": "reboot"}\n')
        assert ask(sock, "snapshot")["snapshot"]["admin"]["rejected"] >= 2

        # a bad config is refused and the running calld carries on
        good = run_toml.read_text()
        run_toml.write_text(good + "\n[box2]\nsite = 1\n")
        reply = ask(sock, "reload")
        assert reply["ok"] is False and "box2: unknown key" in reply["error"]
        run_toml.write_text(good)
        pid_before = _calld_pid(conf)

        # a good one: calld ends cleanly, supervisord starts it again, the call is still up
        assert ask(sock, "reload")["reloading"] is True
        wait_until(lambda: _calld_pid(conf) not in (None, pid_before), 30, "a new calld")

        def same_call() -> dict[str, Any] | None:
            snap = ask(sock, "snapshot")["snapshot"]
            calls = (snap.get("control") or {}).get("calls", [])
            return next((c for c in calls if c["call_id"] == call["call_id"]), None)

        again = wait_until(same_call, 30, "the call after the restart")
        assert again["agent"] == call["agent"]
        queue_log = (tmp_path / "records" / "queue_log").read_text().splitlines()
        mine = [line for line in queue_log if f"|{call['call_id']}|" in line]
        assert sum("|ENTERQUEUE|" in line for line in mine) == 1  # nothing was done twice
        assert sum("|CONNECT|" in line for line in mine) == 1
    finally:
        sup.terminate()
        sup.wait(30)
    assert not sock.exists()


def _calld_pid(conf: Path) -> int | None:
    out = subprocess.run(
        ["supervisorctl", "-c", str(conf), "pid", "callbox-calld"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return int(out) if out.isdigit() and out != "0" else None
