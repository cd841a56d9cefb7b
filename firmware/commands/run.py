"""`callbox run`: the whole box on this machine, under supervisord, with a live view.

    callbox run [--config firmware/dev.toml] [--clock real|virtual] [--runtime-dir DIR]

1. Reads and checks the config (a bad one stops here with every problem listed).
2. Uses the config's MQTT broker when one answers there; otherwise starts a private mosquitto on
   a free loopback port with generated credentials, ACL and a websockets listener
   (firmware/status/broker.py), as a supervisord program.
3. Writes supervisord.conf into the runtime dir ($XDG_RUNTIME_DIR/callbox or /tmp/callbox-<uid>)
   and starts supervisord with callbox-media (the config's card: the simulated board with live
   traffic from its [sim] section), callbox-calld and the watchdog listener.
4. Shows a live view of lines, queues and agents from the MQTT feed, refreshed every second
   (ANSI on a terminal; a summary line every few seconds otherwise).
5. Ctrl-C (SIGINT) or SIGTERM stops supervisord, which stops every program as a process group;
   nothing is left running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from firmware.config import Config, ConfigError, hash_pin, load_config
from firmware.status.broker import (
    BrokerAddress,
    BrokerError,
    address_from_config,
    free_port,
    port_open,
    tree_for,
    write_broker_files,
)
from firmware.status.view import BoxView, render
from firmware.supervisor import REPO, box_programs, supervisord_conf

log = logging.getLogger(__name__)

DEFAULT_CONFIG = REPO / "firmware" / "dev.toml"


class RunError(RuntimeError):
    """The box could not be started."""


def absolute_paths(value: Any, base: Path) -> Any:
    """Relative paths in a config resolve against its folder: make them absolute (every string
    with a `/` that names an existing file or folder under `base`; URLs are left alone)."""
    if isinstance(value, dict):
        return {k: absolute_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [absolute_paths(v, base) for v in value]
    if (
        isinstance(value, str)
        and "/" in value
        and not value.startswith("/")
        and "://" not in value
        and (base / value).exists()
    ):
        return str((base / value).resolve())
    return value


def sim_url(url: str, params: dict[str, Any]) -> str:
    """`url` (a sim:// card) with `params` added to its query; floats in their short form."""

    def text(v: Any) -> str:
        if isinstance(v, float):
            short = f"{v:g}"
            return short if float(short) == v else repr(v)
        return str(v)

    parts = [f"{k}={text(v)}" for k, v in params.items()]
    if not parts:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(parts)


def sim_card_url(config: Config, pin: str) -> tuple[str, bool]:
    """The config's sim:// card with live traffic from [sim] and simulated agents logged in.

    Returns (url, agents_added). Agents are added when the seating puts consecutive agent ids
    on the stations right after the trunks (the sim card logs in agent_first+i on station i).
    """
    url = config.board.card
    if not url.startswith("sim://") or "traffic=" in url:
        return url, False
    sim = config.sim
    params: dict[str, Any] = {
        "traffic": float(sim.calls_per_hour),
        "aht": float(sim.aht_s),
        "patience": float(sim.patience_s),
    }
    if sim.choice_weights:
        params["ivr"] = ",".join(f"{k}:{v:g}" for k, v in sim.choice_weights.items())
    seated = [
        (config.stations[s].channel, a) for s, a in sim.seating.items() if s in config.stations
    ]
    seated.sort()
    first_channel = min((c for g in config.trunks.values() for c in g.channels), default=1)
    trunks = sum(len(g.channels) for g in config.trunks.values())
    channels = [c for c, _ in seated]
    ids = [int(a) if a.isdigit() else -1 for _, a in seated]
    station0 = first_channel + trunks
    ok = (
        bool(seated)
        and channels == list(range(station0, station0 + len(seated)))
        and ids == list(range(ids[0], ids[0] + len(seated)))
    )
    if ok:
        params.update(
            agents=len(seated),
            agent_first=seated[0][1],
            pin=pin,
            agent_mode="ring",
            wrapup=float(sim.wrapup_s),
        )
    return sim_url(url, params), ok


def write_run_config(config_path: Path, config: Config, runtime_dir: Path, clock: str) -> Path:
    """The config this run uses (runtime_dir/run.toml): the given one, with the sim card's live
    traffic and simulated agents (their PIN is made up for this run), the chosen clock, and
    every relative path made absolute."""
    with open(config_path, "rb") as f:
        data = tomllib.load(f)
    data = absolute_paths(data, config_path.parent)
    pin = f"{secrets.randbelow(10**6):06d}"
    url, agents = sim_card_url(config, pin)
    data.setdefault("board", {})["card"] = url
    data.setdefault("box", {})["clock"] = clock
    if agents:
        for agent_id in config.sim.seating.values():
            data["agents"][agent_id]["pin_hash"] = hash_pin(pin)
            data["sim"].setdefault("agent_pins", {})[agent_id] = pin
        for station in data.get("stations", {}).values():
            station["mode"] = "ring"  # the simulated agents answer a ringing phone
    out = runtime_dir / "run.toml"
    out.write_text(
        f"# generated by `callbox run` from {config_path}: do not edit\n" + tomli_w.dumps(data)
    )
    return out


def default_runtime_dir() -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.access(xdg, os.W_OK):
        return Path(xdg) / "callbox"
    return Path(f"/tmp/callbox-{os.getuid()}")


@dataclass(frozen=True)
class BrokerPlan:
    address: BrokerAddress  # what calld and the live view use
    mosquitto_config: Path | None  # set when we run our own broker
    calld_args: tuple[str, ...]
    websockets_port: int | None = None


def plan_broker(config: Config, runtime_dir: Path) -> BrokerPlan:
    """Use a broker that already answers at the config's address, else plan a private one."""
    configured = address_from_config(config)
    if port_open(configured.host, configured.port):
        return BrokerPlan(configured, None, ())
    port = ws_port = free_port()
    while ws_port == port:
        ws_port = free_port()
    files = write_broker_files(
        runtime_dir / "mosquitto", tree_for(config), port=port, websockets_port=ws_port
    )
    calld = files.credentials["calld"]
    secret = runtime_dir / "mosquitto" / "calld.password"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(calld.password + "\n")
    args = (
        "--mqtt-host",
        files.host,
        "--mqtt-port",
        str(port),
        "--mqtt-username",
        calld.username,
        "--mqtt-password-file",
        str(secret),
    )
    wall = files.credentials["wallboard"]
    return BrokerPlan(
        BrokerAddress(files.host, port, wall.username, wall.password), files.config, args, ws_port
    )


class LiveView:
    """Follow the box on MQTT and draw it every `period_s`."""

    def __init__(self, config: Config, broker: BrokerAddress, out: TextIO, tty: bool) -> None:
        self.tree = tree_for(config)
        self.broker, self.out, self.tty = broker, out, tty
        self.view = BoxView()
        self.title = f"callbox {config.box.site}/{config.box.box_id}"
        self.messages = 0

    async def follow(self) -> None:
        from firmware.status.publisher import StatusFeed

        async for topic, payload in StatusFeed(self.broker, self.tree):
            self.messages += 1
            self.view.apply(self.tree, topic, payload)

    def media_now(self) -> float | None:
        if self.view.status.get("clock") == "virtual":
            return self.view.latest_t
        return time.time()

    async def draw(self, period_s: float = 1.0, plain_every: int = 5) -> None:
        n = 0
        while True:
            if self.tty:
                lines = render(self.view, self.media_now(), color=True, title=self.title)
                lines.append("")
                lines.append("Ctrl-C stops the box")
                self.out.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
                self.out.flush()
            elif n % plain_every == 0:
                self.out.write(self.summary() + "\n")
                self.out.flush()
            n += 1
            await asyncio.sleep(period_s)

    def summary(self) -> str:
        now = self.media_now()
        parts = [f"status={self.view.status.get('state', '?')}"]
        for name, q in sorted(self.view.queues.items()):
            oldest = q.get("oldest_since")
            wait = "-" if oldest is None or now is None else f"{max(0, now - oldest):.0f}s"
            parts.append(
                f"queue {name}: waiting {q.get('waiting', 0)} longest {wait} "
                f"offered {q.get('offered', 0)} answered {q.get('answered', 0)} "
                f"abandoned {q.get('abandoned', 0)}"
            )
        busy = [
            f"{a}:{s.get('state')}" + (f"@{s['call_id']}" if s.get("call_id") else "")
            for a, s in sorted(self.view.agents.items())
        ]
        if busy:
            parts.append("agents " + " ".join(busy))
        return time.strftime("%H:%M:%S ") + "; ".join(parts)


def _start_supervisord(conf: Path, runtime_dir: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("supervisord") or str(Path(sys.executable).with_name("supervisord"))
    if not os.access(exe, os.X_OK):
        raise RunError("supervisord not found: pip install supervisor")
    return subprocess.Popen(
        [exe, "-n", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=open(runtime_dir / "logs" / "supervisord.out", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,  # our Ctrl-C handling decides how it stops
    )


def _stop_supervisord(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM: supervisord stops every program (as a group), then exits."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("supervisord did not stop in %.0f s: killing its process group", timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def _run(
    config: Config, broker: BrokerAddress, sup: subprocess.Popen[bytes], out: TextIO
) -> int:
    """Live view until a signal or until supervisord dies."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    live = LiveView(config, broker, out, out.isatty())
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(live.follow()), tg.create_task(live.draw())]

        async def watch_supervisord() -> None:
            while sup.poll() is None and not stop.is_set():
                await asyncio.sleep(0.2)
            stop.set()

        tg.create_task(watch_supervisord())
        await stop.wait()
        for task in tasks:
            task.cancel()
    if sup.poll() is not None:
        print(f"callbox run: supervisord exited with status {sup.returncode}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="callbox run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="default %(default)s")
    ap.add_argument(
        "--clock",
        choices=("real", "virtual"),
        default="real",
        help="media clock: real time (default) or virtual (as fast as it goes)",
    )
    ap.add_argument(
        "--runtime-dir", type=Path, default=None, help="default " + str(default_runtime_dir())
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="callbox run: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    rt = (args.runtime_dir or default_runtime_dir()).resolve()
    (rt / "logs").mkdir(parents=True, exist_ok=True)
    os.chmod(rt, 0o700)
    config_path = write_run_config(args.config.resolve(), config, rt, args.clock)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"callbox run: the derived config {config_path} is bad:\n{exc}", file=sys.stderr)
        return 2

    try:
        plan = plan_broker(config, rt) if config.mqtt.enabled else None
    except BrokerError as exc:
        print(f"callbox run: {exc}", file=sys.stderr)
        return 1
    media_args = ["--socket", str(rt / "media.sock")]
    programs = box_programs(
        config_path,
        rt,
        media_args=media_args,
        calld_args=["--media-socket", str(rt / "media.sock")],
        mqtt_args=plan.calld_args if plan else (),
        mosquitto_config=plan.mosquitto_config if plan else None,
        console_port=config.console.port,
    )
    conf = rt / "supervisord.conf"
    conf.write_text(supervisord_conf(rt, programs))
    if plan is not None:
        where = "private mosquitto" if plan.mosquitto_config else "running broker"
        print(f"callbox run: MQTT {plan.address} ({where})", flush=True)
        if plan.websockets_port:
            print(
                f"callbox run: websockets ws://{plan.address.host}:{plan.websockets_port}/ "
                f"(credentials in {rt / 'mosquitto' / 'credentials.json'})",
                flush=True,
            )
    print(f"callbox run: supervisord.conf and logs in {rt}", flush=True)
    # Until the live view's loop takes over, SIGTERM and SIGHUP (terminal closed) stop the box
    # like Ctrl-C does.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    sup = _start_supervisord(conf, rt)
    try:
        if plan is None:
            while sup.poll() is None:
                time.sleep(0.5)
            return 1
        return asyncio.run(_run(config, plan.address, sup, sys.stdout))
    except KeyboardInterrupt:
        return 0
    finally:
        _say("callbox run: stopping")
        _stop_supervisord(sup)
        _say("callbox run: stopped")


def _say(text: str) -> None:
    """Print, unless the terminal is gone (SIGHUP): stopping must not depend on it."""
    with contextlib.suppress(OSError, ValueError):
        print(text, flush=True)
