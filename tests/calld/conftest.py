"""A pure-logic test bench for CallControl: feed media events, look at commands and facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware.calld.control import CallControl
from firmware.calld.facts import Fact
from firmware.config import Config, hash_pin, parse_config
from firmware.media import protocol as p

REPO = Path(__file__).resolve().parents[2]
PROMPTS = REPO / "firmware" / "prompts"
T0 = 1_700_000_000.0

PIN = {"1001": "1001", "1002": "2002", "1003": "3003"}
HASH = {a: hash_pin(pin, salt=a.encode() * 4) for a, pin in PIN.items()}

CONFIG = f"""
[box]
site = "test"
id = "bench"
[board]
card = "sim://?trunks=2&stations=3"
[ports.trunks.main]
channels = "1-2"
answer_after_rings = 2
ivr_menu = "main"
number = "5550100"
[stations.101]
channel = 3
mode = "ring"
[stations.102]
channel = 4
mode = "ring"
[stations.103]
channel = 5
mode = "nailed"
[agents.1001]
name = "Ada"
pin_hash = "{HASH["1001"]}"
[agents.1002]
name = "Brian"
pin_hash = "{HASH["1002"]}"
[agents.1003]
name = "Chiara"
pin_hash = "{HASH["1003"]}"
[queues.sales]
members = ["1001", "1002", "1003"]
ring_timeout_s = 10
wrapup_s = 5
whisper = "{PROMPTS / "sales-call.wav"}"
[queues.support]
members = ["1003"]
ring_timeout_s = 10
wrapup_s = 0
whisper = "{PROMPTS / "support-call.wav"}"
max_wait_s = 30
timeout_prompt = "{PROMPTS / "all-agents-busy.wav"}"
[ivr.menus.main]
prompt = ["hello", "{PROMPTS / "main-menu.wav"}"]
timeout_s = 5
retries = 2
invalid_prompt = "invalid"
timeout_prompt = "please-try-again"
goodbye_prompt = "goodbye"
[ivr.menus.main.choices]
"1" = "queue:sales"
"2" = "queue:support"
"8" = "prompt:hours"
"9" = "menu:other"
"0" = "hangup"
[ivr.menus.other]
prompt = "vm-options"
retries = 0
on_failure = "queue:sales"
[ivr.menus.other.choices]
"1" = "queue:support"
[features.pause_reasons]
"1" = "break"
"2" = "lunch"
"""


class Bench:
    """CallControl driven by hand: events in, commands and facts collected."""

    def __init__(self, config: Config, snapshot: dict[str, Any] | None = None) -> None:
        self.config = config
        self.now = T0
        self.cc = CallControl(config, self.now)
        self.commands: list[p.Command] = []
        self.facts: list[Fact] = []
        self.playing: dict[int, str] = {}
        self._take(self.cc.start(snapshot or self.idle_snapshot(), self.now))

    def idle_snapshot(self) -> dict[str, Any]:
        chans = []
        for n in range(1, 6):
            kind = "fxo" if n <= 2 else "fxs"
            chans.append(
                {
                    "number": n,
                    "kind": kind,
                    "name": f"sim/{kind}/{n}",
                    "hook": "onhook",
                    "ringing": False,
                    "hears": [],
                    "heard_by": [],
                    "player": None,
                }
            )
        return {"channels": chans, "card": "sim://"}

    def _take(self, cmds: list[p.Command]) -> list[p.Command]:
        for c in cmds:
            if isinstance(c, p.Play):
                self.playing[c.channel] = str(c.play_id)
            elif isinstance(c, p.Stop | p.Moh | p.Tone):
                self.playing.pop(c.channel, None)
        self.commands += cmds
        self.facts += self.cc.drain_facts()
        return cmds

    def event(self, cls: type[p.Event], **kw: Any) -> list[p.Command]:
        return self._take(self.cc.handle(cls(t=self.now, **kw), self.now))

    def advance(self, seconds: float) -> None:
        """Let media time pass, with a clock event every 100 ms like the engine."""
        end = self.now + seconds
        while self.now + 0.1 <= end + 1e-9:
            self.now = round(self.now + 0.1, 6)
            self.event(p.ClockEvent)
        self.now = end

    def finish(self, channel: int) -> list[p.Command]:
        """The prompt playing on `channel` ends."""
        pid = self.playing.pop(channel)
        return self.event(p.PlayDoneEvent, channel=channel, play_id=pid, reason="finished")

    def dial(self, channel: int, digits: str) -> None:
        for d in digits:
            self.event(p.DigitEvent, channel=channel, digit=d, start_t=self.now, end_t=self.now)
            self.advance(0.2)

    def incoming(self, channel: int = 1, number: str = "5551234", name: str = "ALICE") -> str:
        """Ring a trunk twice with caller ID between; returns the call id."""
        self.event(p.RingStartEvent, channel=channel)
        self.advance(2)
        self.event(p.RingStopEvent, channel=channel)
        self.advance(0.5)
        self.event(p.CallerIdEvent, channel=channel, number=number, caller_name=name)
        self.advance(3.5)
        self.event(p.RingStartEvent, channel=channel)
        return self.cc.call_on_trunk[channel]

    def login(self, channel: int, agent: str, pin: str | None = None, hangup: bool = True) -> None:
        self.event(p.OffHookEvent, channel=channel)
        self.dial(channel, f"*11{agent}#{pin or PIN[agent]}#")
        self.finish(channel)
        if hangup:
            self.event(p.OnHookEvent, channel=channel)

    def of(self, kind: type) -> list[Any]:
        return [f for f in self.facts if isinstance(f, kind)]

    def cmds(self, kind: type, channel: int | None = None) -> list[Any]:
        return [
            c
            for c in self.commands
            if isinstance(c, kind) and (channel is None or getattr(c, "channel", None) == channel)
        ]


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("cfg") / "callbox.toml"
    path.write_text(CONFIG)
    return parse_config(CONFIG, path)


@pytest.fixture
def bench(config: Config) -> Bench:
    return Bench(config)
