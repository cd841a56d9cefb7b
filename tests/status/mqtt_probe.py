"""A real MQTT v5 subscriber for tests (paho in its own thread): what a wallboard would see."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    properties: dict[str, Any]
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttProbe:
    """Connects, subscribes, records every message; `wait_for(pred)` polls for one."""

    def __init__(
        self,
        host: str,
        port: int,
        subscribe: str | list[str] | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        transport: str = "tcp",
        client_id: str = "",
    ) -> None:
        self.messages: list[Seen] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.connect_reason: Any = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            transport=transport,  # type: ignore[arg-type]
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self._unacked = 0
        self._subs = [subscribe] if isinstance(subscribe, str) else list(subscribe or [])
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.connect_async(host, port, keepalive=30)  # retries until the broker is up
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connect_reason = reason
        if not reason.is_failure:
            self._unacked = len(self._subs)
            for topic in self._subs:  # Retain As Published: `retain` says what was published
                client.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=True))
            if not self._subs:
                self.connected.set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._unacked -= 1
        if self._unacked <= 0:
            self.connected.set()  # subscribed: nothing published from now on is missed

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        props: dict[str, Any] = {}
        if msg.properties is not None:
            for name in ("MessageExpiryInterval", "ContentType", "CorrelationData"):
                if hasattr(msg.properties, name):
                    props[name] = getattr(msg.properties, name)
        with self.lock:
            self.messages.append(
                Seen(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, props, time.time())
            )

    def wait_connected(self, timeout: float = 5.0) -> MqttProbe:
        if not self.connected.wait(timeout):
            raise AssertionError(f"probe did not connect: {self.connect_reason}")
        return self

    def seen(self, topic: str | None = None) -> list[Seen]:
        with self.lock:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def wait_for(self, pred: Any, timeout: float = 5.0, what: str = "") -> Seen:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.seen():
                if pred(m):
                    return m
            time.sleep(0.02)
        topics = sorted({m.topic for m in self.seen()})
        raise AssertionError(f"no message {what} within {timeout} s; topics seen: {topics}")

    def latest(self, topic: str) -> Seen | None:
        found = self.seen(topic)
        return found[-1] if found else None

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        expiry_s: int | None = None,
    ) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if response_topic is not None:
            props.ResponseTopic = response_topic
        if correlation is not None:
            props.CorrelationData = correlation
        if expiry_s is not None:
            props.MessageExpiryInterval = expiry_s
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=props)
        info.wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
