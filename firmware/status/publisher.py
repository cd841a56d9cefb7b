"""The box's MQTT connection: the only module that imports aiomqtt.

`StatusPublisher` keeps the box's status on the broker:

- connects with MQTT v5 and a last will (`status` = offline, retained, QoS 1), publishes the
  birth message (`status` = online) on every connect, then every retained topic's latest
  message, so a broker that restarted empty is whole again within a moment;
- `publish()` never blocks and never fails. While connected every message is sent, in the
  order published: a retained topic's every change reaches live subscribers (a wallboard sees
  an agent go ringing → whisper → on_call even when calld made those changes in one batch).
  While the broker is away retained topics keep only their latest message and events wait in a
  bounded buffer (the oldest are dropped and counted when it overflows); the same bound caps
  the changes waiting while connected, beyond it a topic's changes are coalesced;
- messages with an expiry (queue stats) are republished at half their expiry interval, so they
  vanish from the broker only when the box stops updating them;
- reconnects forever with exponential backoff, logging once when the broker is lost and once
  when it is back;
- answers `cmd/<verb>` requests (MQTT5 request/response: the reply goes to the request's
  Response Topic with its Correlation Data); malformed requests are rejected, logged and
  counted, and the connection carries on.

`StatusFeed` is the reading side, used by the live view of `callbox run`.

No aiomqtt or paho type leaves this module: callers see `StatusMessage`, `CommandRequest`,
plain dicts and `StatusLinkError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from firmware.status import topics
from firmware.status.broker import BrokerAddress
from firmware.status.topics import CommandError, CommandRequest, StatusMessage, TopicTree

log = logging.getLogger(__name__)

CommandHandler = Callable[[CommandRequest], Awaitable[Mapping[str, Any]]]


class StatusLinkError(ConnectionError):
    """The broker could not be reached or dropped the connection."""


@dataclass
class PublisherCounters:
    connects: int = 0
    losses: int = 0
    published: int = 0
    events_dropped: int = 0
    commands_answered: int = 0
    commands_rejected: int = 0
    last_rejection: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Backoff:
    first_s: float
    max_s: float
    current_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.current_s = self.first_s

    def next(self) -> float:
        delay = self.current_s
        self.current_s = min(self.current_s * 2, self.max_s)
        return delay


def _publish_properties(msg: StatusMessage) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.PayloadFormatIndicator = 1  # UTF-8
    props.ContentType = "application/json"
    if msg.expiry_s is not None:
        props.MessageExpiryInterval = int(msg.expiry_s)
    return props


def _will(msg: StatusMessage) -> aiomqtt.Will:
    props = Properties(PacketTypes.WILLMESSAGE)
    props.PayloadFormatIndicator = 1
    props.ContentType = "application/json"
    return aiomqtt.Will(msg.topic, msg.encode(), qos=msg.qos, retain=msg.retain, properties=props)


def _client(
    broker: BrokerAddress, identifier: str | None, will: aiomqtt.Will | None
) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        keepalive=broker.keepalive_s,
        timeout=10,
    )


async def _publish(client: aiomqtt.Client, msg: StatusMessage) -> None:
    await client.publish(
        msg.topic,
        msg.encode(),
        qos=msg.qos,
        retain=msg.retain,
        properties=_publish_properties(msg),
        timeout=10,
    )


class StatusPublisher:
    """Keeps one box's status topics on one broker (see the module docstring)."""

    def __init__(
        self,
        broker: BrokerAddress,
        tree: TopicTree,
        birth: StatusMessage,
        *,
        on_command: CommandHandler | None = None,
        identifier: str | None = None,
        max_pending_events: int = 5000,
        backoff_s: tuple[float, float] = (0.25, 15.0),
        refresh_check_s: float = 1.0,
    ) -> None:
        self.broker, self.tree = broker, tree
        self.identifier = identifier or f"callbox-calld-{tree.site}-{tree.box}"
        self.counters = PublisherCounters()
        self._on_command = on_command
        self._max_pending_events = max_pending_events
        self._backoff = _Backoff(*backoff_s)
        self._refresh_check_s = refresh_check_s
        self._retained: dict[str, StatusMessage] = {}
        self._sent_at: dict[str, float] = {}  # retained topic -> monotonic time of last publish
        self._pending: OrderedDict[str, StatusMessage] = OrderedDict()
        self._pending_events = 0
        self._pending_changes = 0  # retained messages queued one by one while connected
        self._event_seq = 0
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._lost = False
        self.set_birth(birth)

    # ---- the calld side ----

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def set_birth(self, birth: StatusMessage) -> None:
        """Replace the birth message (e.g. the media link went down); published at once."""
        if birth.topic != self.tree.status or not birth.retain:
            raise ValueError("the birth message is the retained status topic")
        self.publish(birth)

    def publish(self, msg: StatusMessage) -> None:
        """Queue one message. Connected: every message in order. Away: retained topics keep
        only their latest message (a reconnect sends every retained topic anyway)."""
        if msg.retain:
            self._retained[msg.topic] = msg
            if self.connected and self._pending_changes < self._max_pending_events:
                self._event_seq += 1
                self._pending[f"\0change{self._event_seq}"] = msg
                self._pending_changes += 1
            else:
                self._pending.pop(msg.topic, None)  # the latest goes after every older change
                self._pending[msg.topic] = msg
        else:
            self._event_seq += 1
            self._pending[f"\0event{self._event_seq}"] = msg
            self._pending_events += 1
            if self._pending_events > self._max_pending_events:
                self._drop_oldest_event()
        self._wake.set()

    def publish_all(self, msgs: list[StatusMessage]) -> None:
        for msg in msgs:
            self.publish(msg)

    def pending(self) -> int:
        return len(self._pending)

    def _drop_oldest_event(self) -> None:
        for key in self._pending:
            if key.startswith("\0event"):
                del self._pending[key]
                self._pending_events -= 1
                self.counters.events_dropped += 1
                if self.counters.events_dropped == 1:
                    log.warning("MQTT event buffer full: dropping the oldest events")
                return

    # ---- the connection ----

    async def run(self) -> None:
        """Stay connected until cancelled; on cancel publish `offline` and disconnect."""
        while True:
            error: Exception | None = None
            try:
                async with _client(
                    self.broker, self.identifier, _will(topics.offline(self.tree))
                ) as client:
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                error = group.exceptions[0]
            finally:
                self._connected.clear()
            if error is not None:
                delay = self._backoff.next()
                if not self._lost:
                    self._lost = True
                    self.counters.losses += 1
                    log.warning(
                        "MQTT broker %s unreachable (%s); retrying with backoff up to %.0f s",
                        self.broker,
                        error,
                        self._backoff.max_s,
                    )
                await asyncio.sleep(delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        self.counters.connects += 1
        if self._lost:
            log.warning("MQTT broker %s is back", self.broker)
        else:
            log.info("connected to MQTT broker %s", self.broker)
        self._lost = False
        self._backoff.reset()
        # Birth first, then every retained topic, then whatever events waited.
        resend: OrderedDict[str, StatusMessage] = OrderedDict()
        resend[self.tree.status] = self._retained[self.tree.status]
        resend.update(self._retained)
        for key, msg in self._pending.items():
            if not msg.retain:
                resend[key] = msg
        self._pending = resend
        self._pending_changes = 0
        # Retain As Published flags a retained command (refused: it would run again on every
        # reconnect); Retain Handling 2 keeps stale retained commands from being delivered.
        await client.subscribe(
            self.tree.cmd_filter,
            options=SubscribeOptions(qos=1, retainAsPublished=True, retainHandling=2),
        )
        self._connected.set()
        self._wake.set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._send_loop(client))
                tg.create_task(self._command_loop(client))
                tg.create_task(self._refresh_loop())
        except asyncio.CancelledError:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(2):
                    await _publish(client, topics.offline(self.tree))
            raise

    async def _send_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key, msg = next(iter(self._pending.items()))
                await _publish(client, msg)
                self.counters.published += 1
                if self._pending.get(key) is msg:  # not replaced by a newer one meanwhile
                    del self._pending[key]
                    if key.startswith("\0change"):
                        self._pending_changes -= 1
                    elif not msg.retain:
                        self._pending_events -= 1
                if msg.retain:
                    self._sent_at[msg.topic] = time.monotonic()

    async def _refresh_loop(self) -> None:
        """Republish expiring retained messages at half their expiry interval."""
        while True:
            await asyncio.sleep(self._refresh_check_s)
            now = time.monotonic()
            for topic, msg in self._retained.items():
                if msg.expiry_s is None or topic in self._pending:
                    continue
                if now - self._sent_at.get(topic, 0.0) >= msg.expiry_s / 2:
                    self._pending[topic] = msg
                    self._wake.set()

    async def _command_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._command(client, message)

    async def _command(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        props = message.properties
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            if message.retain:
                raise CommandError("retained command messages are not executed")
            if response_topic is not None and not str(response_topic).startswith(
                f"{self.tree.base}/reply/"
            ):
                raise CommandError(f"Response Topic must be under {self.tree.base}/reply/")
            request = topics.parse_command(self.tree, message.topic.value, payload)
        except CommandError as exc:
            self.counters.commands_rejected += 1
            self.counters.last_rejection = str(exc)
            log.warning("rejected MQTT command on %s: %s", message.topic.value, exc)
            reply = topics.command_reply(False, error=str(exc))
        else:
            result = await self._answer(request)
            self.counters.commands_answered += 1
            reply = topics.command_reply(True, verb=request.verb, result=dict(result))
        if response_topic is not None and str(response_topic).startswith(
            f"{self.tree.base}/reply/"
        ):
            props_out = Properties(PacketTypes.PUBLISH)
            props_out.ContentType = "application/json"
            if correlation is not None:
                props_out.CorrelationData = correlation
            await client.publish(
                str(response_topic),
                topics.encode_payload(reply),
                qos=1,
                properties=props_out,
                timeout=10,
            )

    async def _answer(self, request: CommandRequest) -> Mapping[str, Any]:
        if request.verb == "ping":
            return {"pong": True}
        if self._on_command is None:
            return {"error": f"{request.verb} is not served by this publisher"}
        return await self._on_command(request)


async def publish_once(
    broker: BrokerAddress, messages: list[StatusMessage], timeout: float = 5.0
) -> None:
    """Connect, publish, disconnect (a short-lived sender such as the supervisor watchdog).

    Raises StatusLinkError when the broker cannot be reached in time.
    """
    try:
        async with asyncio.timeout(timeout), _client(broker, None, None) as client:
            for msg in messages:
                await _publish(client, msg)
    except (aiomqtt.MqttError, TimeoutError) as exc:
        raise StatusLinkError(f"{broker}: {exc}") from exc


# ---- the reading side --------------------------------------------------------------------------


class StatusFeed:
    """Follow a box's retained status and events: an async iterator of (topic, payload|None).

    `payload` is the decoded JSON object, or None when a retained topic was cleared or held
    something that is not JSON. Reconnects by itself (logging once on loss and recovery).
    """

    def __init__(
        self, broker: BrokerAddress, tree: TopicTree, backoff_s: tuple[float, float] = (0.2, 5.0)
    ) -> None:
        self.broker, self.tree = broker, tree
        self._backoff = _Backoff(*backoff_s)
        self.connected = False

    async def __aiter__(self) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
        lost = False
        while True:
            try:
                async with _client(self.broker, None, None) as client:
                    await client.subscribe(f"{self.tree.base}/#", qos=1)
                    self.connected = True
                    if lost:
                        log.warning("MQTT broker %s is back", self.broker)
                    lost = False
                    self._backoff.reset()
                    async for message in client.messages:
                        yield message.topic.value, _decode(message.payload)
            except aiomqtt.MqttError as exc:
                self.connected = False
                if not lost:
                    log.warning("MQTT broker %s lost (%s); retrying", self.broker, exc)
                    lost = True
                await asyncio.sleep(self._backoff.next())


def _decode(payload: object) -> dict[str, Any] | None:
    if not isinstance(payload, bytes | bytearray) or not payload:
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
