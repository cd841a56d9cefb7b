"""Shared fixtures. Kernel tests parametrize over both implementations with `dsp_impl`."""

from __future__ import annotations

import pytest

from cython_ext import IMPLEMENTATIONS


@pytest.fixture(params=IMPLEMENTATIONS)
def dsp_impl(request: pytest.FixtureRequest) -> str:
    """Run a kernel test once on the compiled kernel and once on the reference twin."""
    return str(request.param)


# ---- a real mosquitto (owner: status) ----------------------------------------------------------


class MosquittoBroker:
    """A real mosquitto on a free loopback port: `host`, `port`; `restart()`, `kill()`."""

    def __init__(self, directory: object, extra_config: str = "") -> None:
        import os
        import pwd
        from pathlib import Path

        from firmware.status.broker import free_port

        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.directory = Path(str(directory))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = self.directory / "mosquitto.conf"
        self.config.write_text(
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            "persistence false\n"
            "log_dest stderr\n"
            f"listener {self.port} {self.host}\n" + (extra_config or "allow_anonymous true\n")
        )
        self.process: object = None
        self.start()

    def start(self) -> None:
        from firmware.status.broker import MosquittoProcess

        proc = MosquittoProcess(
            self.config, self.host, self.port, log_file=self.directory / "mosquitto.log"
        )
        self.process = proc.start()

    def kill(self) -> None:
        self.process.kill()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.process.stop()  # type: ignore[attr-defined]

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One anonymous mosquitto per test session (per xdist worker): use `.host` and `.port`.

    Retained messages live for the whole session: use topics unique to your test. Needs the
    Debian package `mosquitto`.
    """
    broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Start brokers of your own (`factory(extra_config="")`), e.g. to restart or kill one."""
    brokers: list[MosquittoBroker] = []

    def start(extra_config: str = "") -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"), extra_config)
        brokers.append(broker)
        return broker

    yield start
    for broker in brokers:
        broker.stop()
