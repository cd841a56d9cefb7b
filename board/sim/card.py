"""`SimCard`: the simulated telephony card (`sim://…`), a small telephone network in a box.

URL parameters (all optional; an unknown or bad one is a `BoardURLError` naming it):

    trunks=4          FXO ports (channels 1..trunks), each a CO line
    stations=8        FXS ports (channels trunks+1..), each a scriptable analog phone
    seed=1            everything random (traffic, people, noise) derives from it
    start=EPOCH       virtual time of the first block (default: wall clock at open)
    block=160         samples per channel per exchange()
    zone=us           the exchange's tones (reorder, dial tone) via cython_ext.tones
    ring=ZONE         ring cadence (default: the zone's): us ca uk au de fr nl jp
    cid=STD           caller ID: bell202 | v23 | dtmf | off (default: by zone)
    law=ulaw          G.711 at the card edge: ulaw | alaw | linear (default: ulaw in us/ca/jp)
    noise=-60         line noise on trunks, dBm0 (-90..-20), or off
    echo=D2           G.168 Annex D hybrid model(s), comma list cycled over trunks, all, or off
    erl=12            echo return loss, dB (6..20)
    delay_ms=5        pure delay of the echo path, ms (0..64)
    control=PATH      serve the JSON-lines control socket on this Unix socket path
    voices=DIR        cache of rendered speech (default $CALLBOX_SIM_CACHE or ~/.cache/…)
    traffic=R         start the traffic generator at R calls/hour, with
    aht=180 patience=120 ivr=1:0.7,2:0.3 agent_ends=0.3
    agents=N          N simulated agents log in on stations 1..N at start, with
    agent_first=1001 pin=1234 agent_mode=ring|nailed wrapup=SECONDS
    pri=T1|E1         one PRI span after the stations (board/sim/pri.py), with
    pri_switch=ni2 pri_called=5550100   the carrier's switch type and the number callers dial

The card is not paced: each `exchange()` advances the virtual clock by exactly one block; the
media engine's clock paces it. `now` during the k-th exchange (k from 0) is start + k·block/8000.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from board.card import BoardEvent, Card, ChannelInfo, ChannelKind
from board.errors import BoardError, BoardURLError
from board.sim import signals
from board.sim.line import CoLine
from board.sim.network import EchoConfig, Network
from board.sim.people import Agent, Caller, FeatureCodes, Party
from board.sim.phone import Phone
from board.sim.traffic import CallPlan, TrafficError, TrafficGenerator, TrafficParams
from board.sim.voices import VoiceLibrary

log = logging.getLogger(__name__)

ULAW_ZONES = ("us", "ca", "jp")


@dataclass
class SimConfig:
    trunks: int = 4
    stations: int = 8
    seed: int = 1
    start: float = 0.0
    block: int = 160
    zone: str = "us"
    ring: str = "us"
    cid: str = "bell202"
    law: str = "ulaw"
    noise: float | None = -60.0
    echo: EchoConfig | None = None
    control: str | None = None
    voices: str | None = None
    traffic: TrafficParams | None = None
    agents: int = 0
    agent_first: int = 1001
    pin: str = "1234"
    agent_mode: str = "ring"
    wrapup: float | None = None
    pri: str | None = None  # "T1" | "E1": one PRI span after the stations
    pri_switch: str | None = None
    pri_called: str = "5550100"
    extra: dict[str, str] = field(default_factory=dict)


def _number(url: str, key: str, value: str, lo: float, hi: float, kind: type = float) -> Any:
    try:
        x = kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise BoardURLError(f"open card {url!r}: {key}={value!r} is not {what}") from None
    if not lo <= x <= hi:
        raise BoardURLError(f"open card {url!r}: {key}={value} outside {lo:g}..{hi:g}")
    return x


def parse_url(url: str) -> SimConfig:
    """The `sim://?…` URL as a SimConfig; BoardURLError names any bad parameter."""
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise BoardURLError(f"open card {url!r}: not a sim:// URL")
    if parts.netloc or parts.path not in ("", "/"):
        raise BoardURLError(f"open card {url!r}: sim:// takes no host or path, only ?parameters")
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise BoardURLError(f"open card {url!r}: parameter {key!r} given twice")
        seen[key] = value
    known = {
        "trunks", "stations", "seed", "start", "block", "zone", "ring", "cid", "law", "noise",
        "echo", "erl", "delay_ms", "control", "voices", "traffic", "aht", "patience", "ivr",
        "agent_ends", "agents", "agent_first", "pin", "agent_mode", "wrapup",
        "pri", "pri_switch", "pri_called",
    }  # fmt: skip
    unknown = sorted(set(seen) - known)
    if unknown:
        names = ", ".join(sorted(known))
        raise BoardURLError(f"open card {url!r}: unknown parameter {unknown[0]!r} (known: {names})")
    g = seen.get
    c = SimConfig(start=time.time())
    c.trunks = _number(url, "trunks", g("trunks", "4"), 0, 240, int)
    c.stations = _number(url, "stations", g("stations", "8"), 0, 480, int)
    if c.trunks + c.stations == 0:
        raise BoardURLError(f"open card {url!r}: trunks=0 and stations=0: a card needs a channel")
    c.seed = _number(url, "seed", g("seed", "1"), 0, 2**63, int)
    if "start" in seen:
        c.start = _number(url, "start", seen["start"], 0, 1e11)
    c.block = _number(url, "block", g("block", "160"), 8, 8000, int)
    c.zone = g("zone", "us").lower()
    zones = ", ".join(signals.RING_CADENCES)
    if c.zone not in signals.RING_CADENCES:
        raise BoardURLError(f"open card {url!r}: zone={c.zone!r} unknown (known: {zones})")
    try:
        signals.check_zone(c.zone)
    except ValueError as exc:
        raise BoardURLError(f"open card {url!r}: zone={c.zone!r}: {exc}") from exc
    c.ring = g("ring", c.zone).lower()
    if c.ring not in signals.RING_CADENCES:
        raise BoardURLError(f"open card {url!r}: ring={c.ring!r} unknown (known: {zones})")
    c.cid = g("cid", signals.callerid_standard(c.zone)).lower()
    if c.cid not in signals.CALLERID_CHOICES:
        raise BoardURLError(
            f"open card {url!r}: cid={c.cid!r} unknown (use {' | '.join(signals.CALLERID_CHOICES)})"
        )
    c.law = g("law", "ulaw" if c.zone in ULAW_ZONES else "alaw").lower()
    if c.law not in ("ulaw", "alaw", "linear"):
        raise BoardURLError(f"open card {url!r}: law={c.law!r} unknown (use ulaw | alaw | linear)")
    noise = g("noise", "-60")
    c.noise = None if noise.lower() == "off" else _number(url, "noise", noise, -90, -20)
    echo = g("echo", "D2")
    if echo.lower() != "off":
        erl = _number(url, "erl", g("erl", "12"), 6, 20)
        delay = _number(url, "delay_ms", g("delay_ms", "5"), 0, 64)
        try:
            models = signals.echo_models()
        except signals.SignalUnavailableError as exc:
            raise BoardURLError(f"open card {url!r}: echo={echo}: {exc} (or use echo=off)") from exc
        chosen = (
            models if echo.lower() == "all" else tuple(m.strip().upper() for m in echo.split(","))
        )
        bad = [m for m in chosen if m not in models]
        if bad:
            raise BoardURLError(
                f"open card {url!r}: echo={echo!r}: unknown model {bad[0]!r} "
                f"(G.168 Annex D: {', '.join(models)}, all, or off)"
            )
        c.echo = EchoConfig(chosen, delay, erl)
    elif "erl" in seen or "delay_ms" in seen:
        raise BoardURLError(f"open card {url!r}: erl/delay_ms given with echo=off")
    c.control = g("control") or None
    c.voices = g("voices") or None
    if "traffic" in seen:
        ivr: dict[str, float] = {}
        for item in g("ivr", "1:1").split(","):
            digits, _, weight = item.partition(":")
            ivr[digits.strip()] = _number(url, "ivr", weight or "1", 0, 1e9)
        try:
            c.traffic = TrafficParams(
                calls_per_hour=_number(url, "traffic", seen["traffic"], 1e-6, 1e6),
                aht=_number(url, "aht", g("aht", "180"), 1, 86400),
                patience=_number(url, "patience", g("patience", "120"), 1, 86400),
                agent_ends=_number(url, "agent_ends", g("agent_ends", "0.3"), 0, 1),
                ivr=ivr,
            )
        except TrafficError as exc:
            raise BoardURLError(f"open card {url!r}: traffic: {exc}") from exc
    else:
        for key in ("aht", "patience", "ivr", "agent_ends"):
            if key in seen:
                raise BoardURLError(f"open card {url!r}: {key} given without traffic=R")
    c.agents = _number(url, "agents", g("agents", "0"), 0, c.stations, int)
    c.agent_first = _number(url, "agent_first", g("agent_first", "1001"), 0, 10**9, int)
    c.pin = g("pin", "1234")
    if not c.pin.isdigit():
        raise BoardURLError(f"open card {url!r}: pin={c.pin!r} must be digits")
    c.agent_mode = g("agent_mode", "ring")
    if c.agent_mode not in ("ring", "nailed"):
        raise BoardURLError(f"open card {url!r}: agent_mode={c.agent_mode!r} (use ring | nailed)")
    if "wrapup" in seen:
        c.wrapup = _number(url, "wrapup", seen["wrapup"], 0, 3600)
    if "pri" in seen:
        from board.sim.pri import check_url

        c.pri, c.pri_switch, c.pri_called = check_url(url, seen)
    elif "pri_switch" in seen or "pri_called" in seen:
        raise BoardURLError(f"open card {url!r}: pri_switch/pri_called given without pri=T1|E1")
    return c


class SimCard(Card):
    """The simulated card. Besides the `Card` interface it is scriptable in-process (`call`,
    `phone`, `login_agent`, `start_traffic`, …) and, with `control=PATH`, over a socket."""

    paced = False

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = cfg = parse_url(url)
        self.block_size = cfg.block
        self.lock = threading.RLock()
        self._channels = tuple(
            [ChannelInfo(i + 1, ChannelKind.FXO, f"sim/trunk/{i + 1}") for i in range(cfg.trunks)]
            + [
                ChannelInfo(cfg.trunks + i + 1, ChannelKind.FXS, f"sim/station/{i + 1}")
                for i in range(cfg.stations)
            ]
        )
        self.span = None
        if cfg.pri is not None:
            from board.sim.pri import SpanLayout

            layout = SpanLayout(cfg.pri, cfg.trunks + cfg.stations + 1)
            self._channels += layout.channels
        self.network = net = Network(
            trunks=cfg.trunks,
            stations=cfg.stations,
            block=cfg.block,
            start=cfg.start,
            seed=cfg.seed,
            law=cfg.law,
            noise_dbm0=cfg.noise,
            echo=cfg.echo,
            voices=VoiceLibrary(cfg.voices),
            bchans=len(layout.bchannels) if cfg.pri is not None else 0,
            zone=cfg.zone,
        )
        cadence = signals.RING_CADENCES[cfg.ring]
        net.lines = [CoLine(net, i, i + 1, cadence, cfg.zone, cfg.cid) for i in range(cfg.trunks)]
        net.phones = [
            Phone(net, cfg.trunks + i, cfg.trunks + i + 1, cadence) for i in range(cfg.stations)
        ]
        if cfg.pri is not None:
            from board.sim.pri import SimSpan

            self.span = SimSpan(
                net,
                layout,
                switch=cfg.pri_switch,
                called=cfg.pri_called,
                first_row=cfg.trunks + cfg.stations,
            )
            self.span.start()
        self._callers = 0
        self._closed = False
        self.bad_blocks = 0
        self.control = None
        if cfg.agents:
            for i in range(cfg.agents):
                self.login_agent(
                    cfg.trunks + i + 1,
                    str(cfg.agent_first + i),
                    cfg.pin,
                    mode=cfg.agent_mode,
                    wrapup=cfg.wrapup,
                )
        if cfg.traffic is not None:
            self.start_traffic(cfg.traffic)
        if cfg.control:
            from board.sim.control import ControlServer

            self.control = ControlServer(self, cfg.control)
            self.control.start()
        log.info(
            "sim card: %d trunks, %d stations, seed %d, start %.3f, law %s, echo %s, noise %s",
            cfg.trunks, cfg.stations, cfg.seed, cfg.start, cfg.law,
            cfg.echo, cfg.noise,
        )  # fmt: skip

    # ---- the Card interface --------------------------------------------------------------------

    @property
    def channels(self) -> Sequence[ChannelInfo]:
        return self._channels

    @property
    def now(self) -> float:
        """Virtual time of the next block to be exchanged."""
        return self.network.start + self.network.tick * self.network.dt

    def exchange(self, tx: np.ndarray) -> np.ndarray:
        net = self.network
        if (
            not isinstance(tx, np.ndarray)
            or tx.dtype != np.int16
            or tx.shape != (net.rows, net.block)
        ):
            self.bad_blocks += 1
            got = f"{tx.dtype} {tx.shape}" if isinstance(tx, np.ndarray) else type(tx).__name__
            raise BoardError(
                errno.EINVAL,
                f"exchange: tx must be int16 of shape ({net.rows}, {net.block}), got {got}",
            )
        if self._closed:
            raise BoardError(errno.EBADF, "exchange: card is closed")
        with self.lock:
            rx = net.exchange(np.ascontiguousarray(tx))
        if self.control is not None:
            self.control.wake()
        return rx

    def events(self) -> list[BoardEvent]:
        with self.lock:
            out, self.network.events = self.network.events, []
        return out

    def _channel(self, channel: int, kind: ChannelKind, what: str) -> int:
        if not isinstance(channel, int) or not 1 <= channel <= len(self._channels):
            raise BoardError(
                errno.ENODEV, f"{what}: no channel {channel!r} (1..{len(self._channels)})"
            )
        info = self._channels[channel - 1]
        if info.kind is not kind:
            raise BoardError(
                errno.EINVAL, f"{what}: channel {channel} is {info.kind.value}, not {kind.value}"
            )
        return channel - 1

    def set_hook(self, channel: int, offhook: bool) -> None:
        row = self._channel(channel, ChannelKind.FXO, "set_hook")
        with self.lock:
            self.network.lines[row].set_hook(bool(offhook))

    def ring(self, channel: int, on: bool) -> None:
        row = self._channel(channel, ChannelKind.FXS, "ring")
        with self.lock:
            self.network.phones[row - self.network.trunks].ring(bool(on))

    def flash(self, channel: int) -> None:
        row = self._channel(channel, ChannelKind.FXO, "flash")
        with self.lock:
            self.network.lines[row].flash()

    def send_frame(self, channel: int, frame: bytes) -> None:
        if self.span is None or channel != self.span.dchannel:
            raise BoardError(errno.EINVAL, f"send_frame: channel {channel} is not a D-channel")
        if not isinstance(frame, bytes | bytearray) or not 3 <= len(frame) <= 264:
            raise BoardError(errno.EINVAL, "send_frame: a LAPD frame is 3..264 octets")
        with self.lock:
            self.span.from_box(bytes(frame))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.control is not None:
            self.control.stop()

    # ---- scripting: the simulated world --------------------------------------------------------

    def line(self, channel: int) -> CoLine:
        return self.network.lines[self._channel(channel, ChannelKind.FXO, "line")]

    def phone(self, channel: int) -> Phone:
        row = self._channel(channel, ChannelKind.FXS, "phone")
        return self.network.phones[row - self.network.trunks]

    def station(self, index: int) -> Phone:
        """The phone on the index-th station (1-based)."""
        if not 1 <= index <= len(self.network.phones):
            raise BoardError(errno.ENODEV, f"no station {index} (1..{len(self.network.phones)})")
        return self.network.phones[index - 1]

    def party(self, name: str) -> Party:
        try:
            return self.network.parties[name]
        except KeyError:
            raise KeyError(f"no party {name!r}") from None

    def call(
        self,
        trunk: int | None = None,
        *,
        number: str | None = None,
        name: str | None = None,
        datetime: str | None = None,
        digits: str = "",
        patience: float = 120.0,
        hold: float = 60.0,
        ender: str = "caller",
        behave: bool = True,
        voice: int | None = None,
        ring_patience: float = 60.0,
    ) -> Caller:
        """A caller rings a trunk (the lowest idle one by default). With `behave=False` the
        caller does nothing by itself: script it with `dial`, `say`, `hang_up`."""
        if ender not in ("caller", "agent"):
            raise ValueError(f"ender {ender!r}: expected 'caller' or 'agent'")
        with self.lock:
            net = self.network
            if trunk is None:
                line = next((ln for ln in self._all_lines() if ln.idle), None)
                if line is None:
                    raise BoardError(errno.EBUSY, "call: every trunk is busy")
            elif self.span is not None and trunk in self.span.by_channel:
                line = self.span.by_channel[trunk]
                if not line.idle:
                    raise BoardError(errno.EBUSY, f"call: B-channel {trunk} is {line.state}")
            else:
                line = self.line(trunk)
                if not line.idle:
                    raise BoardError(errno.EBUSY, f"call: trunk {trunk} is {line.state}")
            self._callers += 1
            plan = CallPlan(
                number=number,
                cid_name=name,
                digits=digits,
                patience=float(patience),
                hold=float(hold),
                ender=ender,
                voice=self._callers if voice is None else voice,
                arrival=net.now,
                ring_patience=float(ring_patience),
                datetime=datetime,
            )
            return self._place(plan, line, behave)

    def _place(self, plan: CallPlan, line: Any, behave: bool) -> Caller:
        net = self.network
        if behave:
            net.voices.phrases("caller", plan.voice)
        kind = Caller if isinstance(line, CoLine) else self._span_caller()
        caller = kind(net, f"caller-{self._callers}", plan, behave=behave)
        net.parties[caller.name] = caller
        caller.place(line)
        return caller

    def _all_lines(self) -> list[Any]:
        """CO lines, then the PRI span's B-channels."""
        span = [] if self.span is None else list(self.span.lines.values())
        return [*self.network.lines, *span]

    @staticmethod
    def _span_caller() -> type[Caller]:
        from board.sim.pri import SpanCaller

        return SpanCaller

    def _place_traffic(self, plan: CallPlan) -> bool:
        line = next((ln for ln in self._all_lines() if ln.idle), None)
        if line is None:
            self.network.notify("blocked", number=plan.number)
            return False
        self._callers += 1
        self._place(plan, line, True)
        return True

    def login_agent(
        self,
        channel: int,
        agent_id: str,
        pin: str,
        *,
        mode: str = "ring",
        wrapup: float | None = None,
        answer_delay: tuple[float, float] = (1.0, 3.0),
        codes: FeatureCodes | None = None,
    ) -> Agent:
        """Seat a simulated agent at the station on `channel` and start its day (it logs in)."""
        with self.lock:
            phone = self.phone(channel)
            if isinstance(phone.occupant, Agent):
                raise BoardError(
                    errno.EBUSY, f"station channel {channel} already has {phone.occupant.name}"
                )
            if f"agent-{agent_id}" in self.network.parties:
                raise BoardError(errno.EEXIST, f"agent {agent_id} is already seated")
            agent = Agent(
                self.network,
                phone,
                agent_id,
                pin,
                mode=mode,
                wrapup=wrapup,
                answer_delay=answer_delay,
                codes=codes,
            )
            self.network.voices.phrases("agent", agent.voice)
            agent.start()
            return agent

    def start_traffic(self, params: TrafficParams) -> TrafficGenerator:
        with self.lock:
            self.network.voices.prepare()
            gen = TrafficGenerator(self.config.seed, params, self.network.now, self._place_traffic)
            self.network.traffic = gen
            return gen

    def stop_traffic(self) -> dict[str, Any] | None:
        """Stop arrivals; the generator stays (its `stats` count the calls still up as they end)."""
        with self.lock:
            gen = self.network.traffic
            if gen is None:
                return None
            gen.stop()
            return gen.stats()

    def snapshot(self) -> dict[str, Any]:
        """Lines, phones and parties as plain data (the control socket's `state`)."""
        with self.lock:
            net = self.network
            return {
                "t": round(self.now, 3),
                "tick": net.tick,
                "lines": [ln.snapshot() for ln in net.lines],
                "phones": [ph.snapshot() for ph in net.phones],
                "parties": [
                    p.snapshot() for p in net.parties.values() if p.state != "idle" or p.heard
                ],
                "traffic": net.traffic.stats() if net.traffic is not None else None,
                "span": self.span.snapshot() if self.span is not None else None,
                "counters": dict(net.counters),
            }

    def run(self, seconds: float, tx: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """Exchange silence (or `tx(rx)`'s answer) for `seconds` of virtual time (for tests)."""
        net = self.network
        out = np.zeros((net.rows, net.block), dtype=np.int16)
        for _ in range(int(round(seconds / net.dt))):
            rx = self.exchange(out)
            if tx is not None:
                out = tx(rx)
