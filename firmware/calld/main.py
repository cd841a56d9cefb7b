"""`callbox-calld`: the control plane's asyncio shell around the pure CallControl.

    callbox-calld --config /etc/callbox/callbox.toml [--media-socket PATH]
                  [--admin-socket PATH] [--mqtt-host H --mqtt-port P ...]

One TaskGroup runs three services:

- **media**: `MediaLink` to callbox-media. Each event goes to `CallControl.handle(event, now)`
  (now = the event's media time; `clock` events also run the timers); the commands it returns
  are sent at once, in order. The facts it produced go to the records FIRST (queue_log, CDR:
  firmware/records, durable when `write` returns), then to the status publisher, and the call
  state is checkpointed to the journal. On a `clock` event in virtual mode the `clock_ack` is
  sent after the commands of every event up to it, and the replies are checked.
- **status**: `StatusPublisher` (MQTT, firmware/status) — birth/LWT, retained state, events.
- **admin**: a Unix socket of JSON lines (`snapshot`, `reload`, `ping`) for `callbox status`,
  the console and tools.

Expected failures are retried by the service itself with backoff, logged once on loss and once
on recovery: the media socket not there yet or gone (MediaLink), the broker down (publisher).
Anything else ends the process (non-zero) for supervisord to restart it; the journal lets the new
calld carry on with the calls the media engine kept up. `reload` checks the new config and, when
it is good, ends calld cleanly so supervisord starts it again with it (calls stay up: the audio
is in the media engine, the call state in the journal); a bad config is refused and kept out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from firmware import __version__
from firmware.calld.admin import AdminError, AdminServer
from firmware.calld.control import CallControl
from firmware.calld.spans import SpanCallControl
from firmware.config import Config, ConfigError, load_config
from firmware.media import protocol as p
from firmware.media.client import MediaLink, MediaLinkError
from firmware.records.writer import RecordWriter
from firmware.status import topics
from firmware.status.broker import BrokerAddress, add_mqtt_arguments, address_from_config, tree_for
from firmware.status.view import BoxView

log = logging.getLogger("firmware.calld")

JOURNAL_NAME = "calld-journal.json"


class ReloadRequested(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A good new config was asked for: end cleanly so supervisord restarts calld with it."""


class StopRequested(Exception):  # noqa: N818
    """SIGTERM/SIGINT: end cleanly."""


class Journal:
    """The CallControl checkpoint on disk, tied to one media engine run.

    A journal is only used when the media engine that wrote it still runs (same card, same
    clock start): after a box restart the calls it describes are gone, and replaying them
    would write records of a previous run.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def engine_identity(snapshot: dict[str, Any]) -> dict[str, Any]:
        tick_s = float(snapshot.get("tick_ms", 20)) / 1000.0
        started = float(snapshot.get("now", 0.0)) - int(snapshot.get("tick", 0)) * tick_s
        return {"card": snapshot.get("card"), "started": round(started, 3)}

    def load(self, snapshot: dict[str, Any]) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("journal %s unreadable (%s): starting clean", self.path, exc)
            return None
        if not isinstance(data, dict) or data.get("engine") != self.engine_identity(snapshot):
            log.info("journal %s is from another media engine run: starting clean", self.path)
            return None
        journal = data.get("control")
        return journal if isinstance(journal, dict) else None

    def save(self, snapshot: dict[str, Any], checkpoint: dict[str, Any]) -> None:
        data = {"engine": self.engine_identity(snapshot), "control": checkpoint}
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class Calld:
    def __init__(
        self,
        config: Config,
        *,
        broker: BrokerAddress | None,
        media_socket: Path,
        admin_socket: Path,
    ) -> None:
        self.config = config
        self.tree = tree_for(config)
        self.media_socket, self.admin_socket = media_socket, admin_socket
        self.started = time.time()
        self.view = BoxView()
        self.control: CallControl | None = None
        self.media_state, self.media_since = "down", self.started
        self.media_snapshot: dict[str, Any] = {}
        self.media_errors = 0
        self.latest_t: float | None = None
        config.records.dir.mkdir(parents=True, exist_ok=True)
        self.records = RecordWriter(config.records)
        self.journal = Journal(config.records.dir / JOURNAL_NAME)
        self.publisher = None
        if broker is not None:
            from firmware.status.publisher import StatusPublisher

            self.publisher = StatusPublisher(
                broker, self.tree, self._birth(), on_command=self._mqtt_command
            )
        self._stop = asyncio.Event()
        self._stop_reason: Exception = StopRequested()
        self.admin = AdminServer(
            admin_socket, {"snapshot": self._admin_snapshot, "reload": self._admin_reload}
        )

    # ---- status ----

    def _birth(self) -> topics.StatusMessage:
        dsp = self.media_snapshot.get("dsp", {})
        return topics.online(
            self.tree,
            since=self.started,
            version=__version__,
            clock=str(self.media_snapshot.get("clock", self.config.box.clock)),
            media=self.media_state,
            media_since=self.media_since,
            dsp=str(dsp.get("implementation", "")) if isinstance(dsp, dict) else "",
        )

    def _set_media(self, state: str) -> None:
        if state != self.media_state:
            self.media_state, self.media_since = state, time.time()
            self._publish([self._birth()])

    def _publish(self, messages: list[topics.StatusMessage]) -> None:
        for msg in messages:
            self.view.apply(self.tree, msg.topic, dict(msg.payload))
        if self.publisher is not None:
            self.publisher.publish_all(messages)

    def snapshot(self) -> dict[str, Any]:
        return {
            "box": {"site": self.tree.site, "box": self.tree.box, "version": __version__},
            "base_topic": self.tree.base,
            "media": {
                "state": self.media_state,
                "since": self.media_since,
                "clock": self.media_snapshot.get("clock"),
                "now": self.latest_t,
                "errors": self.media_errors,
            },
            "mqtt": None
            if self.publisher is None
            else {"connected": self.publisher.connected, **self.publisher.counters.as_dict()},
            "admin": {"requests": self.admin.requests, "rejected": self.admin.rejected},
            "view": self.view.as_dict(),
            "control": self.control.snapshot() if self.control is not None else None,
        }

    async def _admin_snapshot(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"snapshot": self.snapshot()}

    async def _mqtt_command(self, request: topics.CommandRequest) -> dict[str, Any]:
        return self.snapshot()  # "snapshot" is the one verb beyond ping

    async def _admin_reload(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            new = load_config(self.config.path)
        except ConfigError as exc:
            raise AdminError(str(exc)) from exc
        log.warning("reload: %s is good; restarting calld with it (calls stay up)", new.path)
        asyncio.get_running_loop().call_later(0.2, self._request_reload)
        return {"reloading": True, "config": str(new.path)}

    def _request_reload(self) -> None:
        self._stop_reason = ReloadRequested()
        self._stop.set()

    # ---- media ----

    async def _media(self) -> None:
        link = MediaLink(self.media_socket, retry_max=0.5)
        while True:
            snapshot = await link.connect()  # retries until the engine is there
            self.media_snapshot = snapshot
            now = float(snapshot.get("now", time.time()))
            self.latest_t = now
            if self.control is None:
                journal = self.journal.load(snapshot)
                if journal:
                    log.info("recovering calls from %s", self.journal.path)
                self.control = SpanCallControl(self.config, now, journal=journal)
            else:  # the link came back: carry on from our own state
                self.control = SpanCallControl(self.config, now, journal=self.control.checkpoint())
            self._set_media("up")
            pending: list[asyncio.Future[p.Reply]] = []
            try:
                pending += self._submit(link, self.control.start(snapshot, now))
                self._after_batch(snapshot)
                async for event in link.events():
                    pending += self._submit(link, self.control.handle(event, event.t))
                    self.latest_t = event.t
                    self._after_batch(snapshot)
                    if isinstance(event, p.ClockEvent):
                        if snapshot.get("clock") == "virtual":
                            pending.append(link.submit(p.ClockAck(t=event.t)))
                        await self._check_replies(pending)
                        pending = []
            except MediaLinkError:
                self._set_media("down")  # MediaLink logged the loss; connect() retries

    def _submit(self, link: MediaLink, commands: list[p.Command]) -> list[asyncio.Future[p.Reply]]:
        return [link.submit(cmd) for cmd in commands]

    async def _check_replies(self, pending: list[asyncio.Future[p.Reply]]) -> None:
        for fut in pending:
            reply = await fut
            if not reply.ok:
                self.media_errors += 1
                log.error("media engine refused a command: %s: %s", reply.code, reply.error)

    def _after_batch(self, snapshot: dict[str, Any]) -> None:
        """Records first (durable), then status, then the journal."""
        assert self.control is not None
        facts = self.control.drain_facts()
        if not facts:
            return
        self.records.write(facts)
        expiry = self.config.mqtt.stats_expiry_s
        messages: list[topics.StatusMessage] = []
        for fact in facts:
            messages += topics.messages_for(self.tree, fact, expiry)
        self._publish(messages)
        self.journal.save(snapshot, self.control.checkpoint())

    # ---- the process ----

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        try:
            async with asyncio.TaskGroup() as tg:
                if self.publisher is not None:
                    tg.create_task(self.publisher.run(), name="status")
                tg.create_task(self.admin.serve(), name="admin")
                tg.create_task(self._media(), name="media")
                await self._stop.wait()
                raise self._stop_reason
        except* StopRequested:
            log.info("stopping")
        except* ReloadRequested:
            log.info("ending for a reload")
        finally:
            if self.control is not None:
                with contextlib.suppress(OSError):
                    self.journal.save(self.media_snapshot, self.control.checkpoint())
            self.records.close()


def configure_logging(level: str) -> None:
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="callbox-calld", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=Path("/etc/callbox/callbox.toml"))
    ap.add_argument("--media-socket", type=Path, help="default: the config's media.socket")
    ap.add_argument("--admin-socket", type=Path, help="default: calld.sock beside media.socket")
    ap.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    add_mqtt_arguments(ap)
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.log_level)
    try:
        config = load_config(args.config)
        broker = address_from_config(config, args) if config.mqtt.enabled else None
    except (ConfigError, OSError, ValueError) as exc:
        print(f"callbox-calld: {exc}", file=sys.stderr)
        return 2
    media_socket = args.media_socket or config.media.socket
    admin_socket = args.admin_socket or media_socket.with_name("calld.sock")
    calld = Calld(config, broker=broker, media_socket=media_socket, admin_socket=admin_socket)
    asyncio.run(calld.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
