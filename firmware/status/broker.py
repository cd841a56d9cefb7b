"""The box's mosquitto: per-box credentials, ACL and config, and a broker process for dev runs.

The security model (DESIGN.md §3.6, §5): no anonymous access, no default passwords. Each box
generates its own credentials (`generate_credentials`), one MQTT user per role:

- `calld`      — the box itself: publishes everything under `callbox/v1/<site>/<box>/`, reads
                 `cmd/#` requests and answers on the requester's response topic.
- `supervisor` — a supervisor's screen or building system: reads the tree, may send `cmd/#`.
- `wallboard`  — read-only: reads the tree, cannot publish anything nor read `cmd/#`.

`write_broker_files` writes the mosquitto config, a hashed password file (mosquitto's PBKDF2
`$7$` format, made here so that no `mosquitto_passwd` run is needed) and the ACL file. A
websockets listener is added when asked for, so a browser wallboard subscribes directly
(Debian's mosquitto is built with libwebsockets).

`MosquittoProcess` runs one broker on a loopback port for `callbox run` and tests. This module
does not import aiomqtt (only firmware/status/publisher.py does).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.status.topics import TopicTree

if TYPE_CHECKING:
    from firmware.config import Config

log = logging.getLogger(__name__)

ROLES = ("calld", "supervisor", "wallboard")
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
SALT_BYTES = 12


class BrokerError(RuntimeError):
    """The broker could not be set up or started."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the box's broker is and who we are on it."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 15

    def __str__(self) -> str:
        who = f"{self.username}@" if self.username else ""
        return f"mqtt://{who}{self.host}:{self.port}"


def broker_address(
    host: str,
    port: int,
    username: str = "",
    password_file: Path | None = None,
    keepalive_s: int = 15,
) -> BrokerAddress:
    """A BrokerAddress from config-style settings; the password is read from `password_file`
    (its first line). BrokerError when the file cannot be read."""
    password = None
    if password_file is not None:
        try:
            lines = Path(password_file).read_text().splitlines()
        except OSError as exc:
            raise BrokerError(f"{password_file}: cannot read the MQTT password: {exc}") from exc
        password = lines[0].strip() if lines else ""
    return BrokerAddress(host, port, username or None, password, keepalive_s)


def add_mqtt_arguments(parser: argparse.ArgumentParser) -> None:
    """The broker overrides `callbox run` hands to calld and the watchdog."""
    g = parser.add_argument_group("MQTT broker (overrides the config's [mqtt])")
    g.add_argument("--mqtt-host")
    g.add_argument("--mqtt-port", type=int)
    g.add_argument("--mqtt-username")
    g.add_argument("--mqtt-password-file", type=Path)


def address_from_config(config: Config, args: argparse.Namespace | None = None) -> BrokerAddress:
    """The broker address of `config.mqtt`, with `add_mqtt_arguments` overrides applied."""
    m = config.mqtt

    def pick(name: str, default: Any) -> Any:
        value = getattr(args, name, None) if args is not None else None
        return default if value is None else value

    return broker_address(
        pick("mqtt_host", m.host),
        pick("mqtt_port", m.port),
        pick("mqtt_username", m.username),
        pick("mqtt_password_file", m.password_file),
        m.keepalive_s,
    )


def tree_for(config: Config) -> TopicTree:
    return TopicTree(config.box.site, config.box.box_id, config.mqtt.topic_prefix)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True)
class BrokerFiles:
    """What `write_broker_files` wrote, and where the broker will listen."""

    host: str
    port: int
    websockets_port: int | None
    config: Path
    password_file: Path
    acl_file: Path
    credentials_file: Path
    credentials: dict[str, Credentials]


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A mosquitto password-file hash: `$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def generate_credentials(box: str) -> dict[str, Credentials]:
    """Fresh random credentials for each role. The user name is the role (the same on every
    box, so configs can name it); the passwords are what is per box."""
    return {role: Credentials(role, secrets.token_urlsafe(18)) for role in ROLES}


def save_credentials(path: Path, creds: dict[str, Credentials]) -> None:
    """Write credentials as JSON readable by the owner only (mode 0600)."""
    data = {r: {"username": c.username, "password": c.password} for r, c in creds.items()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def load_credentials(path: Path) -> dict[str, Credentials]:
    """Read a credentials file written by `save_credentials`; BrokerError when it is bad."""
    try:
        data = json.loads(Path(path).read_text())
        return {r: Credentials(str(v["username"]), str(v["password"])) for r, v in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BrokerError(f"{path}: cannot read MQTT credentials: {exc}") from exc


def acl_text(tree: TopicTree, creds: dict[str, Credentials]) -> str:
    """The mosquitto ACL: calld writes its tree, supervisors may command, wallboards only read."""
    base = tree.base
    return "\n".join(
        [
            "# generated by callbox (firmware/status/broker.py): do not edit",
            f"user {creds['calld'].username}",
            f"topic readwrite {base}/#",
            "",
            f"user {creds['supervisor'].username}",
            f"topic read {base}/#",
            f"topic write {base}/cmd/#",
            "",
            f"user {creds['wallboard'].username}",
            f"topic deny {base}/cmd/#",
            f"topic deny {base}/reply/#",
            f"topic read {base}/#",
            "",
        ]
    )


def config_text(
    *,
    host: str,
    port: int,
    password_file: Path,
    acl_file: Path,
    websockets_port: int | None = None,
    run_user: str | None = None,
    pid_file: Path | None = None,
    standalone: bool = True,
) -> str:
    """mosquitto.conf for the box's broker (mosquitto 2.x syntax).

    `standalone`: a whole config for a private broker; otherwise a snippet for Debian's
    /etc/mosquitto/conf.d/ (the main file keeps its persistence, logging and pid settings).
    """
    lines = [
        "# generated by callbox (firmware/status/broker.py): do not edit",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
    ]
    if standalone:
        lines += [
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
    lines += [f"listener {port} {host}", "protocol mqtt"]
    if websockets_port is not None:
        lines += [f"listener {websockets_port} {host}", "protocol websockets"]
    if run_user is not None:
        lines.insert(1, f"user {run_user}")
    if pid_file is not None:
        lines.insert(1, f"pid_file {pid_file}")
    return "\n".join(lines) + "\n"


def write_broker_files(
    directory: Path,
    tree: TopicTree,
    *,
    host: str = "127.0.0.1",
    port: int,
    websockets_port: int | None = None,
    credentials: dict[str, Credentials] | None = None,
) -> BrokerFiles:
    """Write mosquitto.conf, passwd, acl and credentials.json into `directory`.

    Existing credentials in `directory/credentials.json` are kept (a box keeps its passwords
    across restarts); otherwise new ones are generated.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    creds_path = directory / "credentials.json"
    if credentials is None:
        credentials = (
            load_credentials(creds_path) if creds_path.exists() else generate_credentials(tree.box)
        )
    save_credentials(creds_path, credentials)
    passwd = directory / "passwd"
    acl = directory / "acl"
    conf = directory / "mosquitto.conf"
    _write_private(
        passwd, "".join(f"{c.username}:{hash_password(c.password)}\n" for c in credentials.values())
    )
    _write_private(acl, acl_text(tree, credentials))
    # mosquitto started as root drops to user `mosquitto` unless told otherwise; the files here
    # belong to whoever runs us, so it keeps running as that user.
    run_user = pwd.getpwuid(os.getuid()).pw_name
    conf.write_text(
        config_text(
            host=host,
            port=port,
            password_file=passwd,
            acl_file=acl,
            websockets_port=websockets_port,
            run_user=run_user,
        )
    )
    return BrokerFiles(host, port, websockets_port, conf, passwd, acl, creds_path, credentials)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mosquitto_binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError("mosquitto not found: install the Debian package `mosquitto`")


class MosquittoProcess:
    """One mosquitto started from a config file, stopped by `stop()` (or as a context manager)."""

    def __init__(self, config: Path, host: str, port: int, log_file: Path | None = None) -> None:
        self.config, self.host, self.port = Path(config), host, port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 5.0) -> MosquittoProcess:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [mosquitto_binary(), "-c", str(self.config)],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if self.log_file:
                out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with status {self.process.returncode} "
                    f"(config {self.config}; log {self.log_file})"
                )
            if port_open(self.host, self.port):
                log.info("mosquitto %d listening on %s:%d", self.process.pid, self.host, self.port)
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout} s")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def kill(self) -> None:
        """SIGKILL (tests: a broker that dies without a goodbye)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> MosquittoProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
