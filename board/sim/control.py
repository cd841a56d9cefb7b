"""The simulated card's control socket: JSON lines over a Unix stream socket.

Served by one background thread (a `selectors` loop) inside the card process. Every command is
executed while holding the card's lock, i.e. between two ticks, so it is thread-safe with
`exchange()` and applies to the next block. The socket answers even while the media engine is
stopped waiting for a clock ack.

Request: `{"id": 7, "cmd": "call", ...}` → reply `{"id": 7, "ok": true, ...}` or
`{"id": 7, "ok": false, "error": "..."}`. A line that is not a JSON object gets
`{"id": null, "ok": false, "error": ...}`; every error is counted (`stats`) and the server keeps
serving. A party is addressed by `party` (name: "caller-3", "agent-1001", "station-2") or by
`channel` (a trunk's channel addresses its caller, a station's its phone).

Commands:
  call     {trunk?, number?, name?, datetime?, digits?, patience?, hold?, ender?, behave?}
  hangup   {party|channel}                 caller hangs up / phone goes on hook
  offhook / onhook / flash {party|channel} a station's phone
  dial     {party|channel, digits}         DTMF as audio from a caller or an off-hook phone
  speak    {party|channel, file} | {party, phrase: i}   a WAV (8 kHz mono) or a voice phrase
  record   {party|channel, on, file?, what?: "heard"|"sent"}   off → writes the WAV
  traffic  {on, calls_per_hour, aht?, patience?, ivr?, agent_ends?, private?, ring_patience?}
  login    {agents: [{channel|station, agent, pin, mode?: ring|nailed, wrapup?}]}
  logout / unpause {party}; pause {party, reason}
  state    {party?}                        the whole network, or one party
  heard    {party}                         {"party": .., "heard": [{"who", "t", "until", "rho"}]}
  span_alarm {alarm: red|yellow|blue|recovering|clear}   layer 1 of the PRI span (pri.py)
  stats | time | subscribe {on?: true}     (subscribers get the event stream)
Events (to subscribers): call, answered, heard {party, who}, connected, hangup {reason},
  blocked, login, logout, call_end; with a PRI span also pri {span, dir, message, channel,
  cause, called, calling}, pri_link {span, up}, span_alarm {span, alarm} — each with "t".
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import selectors
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from board.errors import BoardError
from board.sim.people import Agent, Caller, Party
from board.sim.phone import Phone, PhoneError
from board.sim.traffic import TrafficError, TrafficParams
from cython_ext.wavfile import WavError, read_wav, write_wav

if TYPE_CHECKING:
    from board.sim.card import SimCard
    from board.sim.network import Recorder
    from board.sim.pri import SpanLine

log = logging.getLogger(__name__)

MAX_LINE = 65536
MAX_OUTBUF = 8 << 20


class ControlError(ValueError):
    """A bad control command; the message is the reply's `error`."""


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.subscribed = False
        self.discarding = False


class ControlServer:
    def __init__(self, card: SimCard, path: str) -> None:
        self.card = card
        self.path = path
        self.errors = 0
        self.commands = 0
        self._conns: dict[int, _Conn] = {}
        self._recorders: dict[tuple[int, str], Recorder] = {}
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._listener = self._bind(path)

    @staticmethod
    def _bind(path: str) -> socket.socket:
        p = Path(path)
        if p.exists() or p.is_symlink():
            if not stat.S_ISSOCK(p.lstat().st_mode):
                raise BoardError(errno.EEXIST, f"control socket {path}: exists and is not a socket")
            p.unlink()
        p.parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            raise BoardError(
                exc.errno or 0, f"control socket {path}: bind: {exc.strerror}"
            ) from exc
        sock.listen(8)
        sock.setblocking(False)
        return sock

    # ---- thread ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._sel.register(self._listener, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._serve, name="sim-control", daemon=True)
        self._thread.start()
        log.info("sim control socket on %s", self.path)

    def wake(self) -> None:
        """Called after a tick: push pending events to subscribers."""
        if self.card.network.notices:
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_w.send(b"\0")

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in list(self._conns.values()):
            self._drop(conn)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self._sel.unregister(self._listener)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
        self._sel.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, mask in self._sel.select(timeout=0.5):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError, OSError):
                        self._wake_r.recv(4096)
                else:
                    conn = self._conns.get(key.fd)
                    if conn is None:
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(conn)
                    if mask & selectors.EVENT_WRITE and key.fd in self._conns:
                        self._flush(conn)
            self._push_events()

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        conn = _Conn(sock)
        self._conns[sock.fileno()] = conn
        self._sel.register(sock, selectors.EVENT_READ, "conn")

    def _drop(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        self._conns.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(conn.sock)
        conn.sock.close()
        if not any(c.subscribed for c in self._conns.values()):
            with self.card.lock:
                self.card.network.notify_enabled = False
                self.card.network.notices.clear()

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)
            return
        conn.inbuf += data
        while True:
            nl = conn.inbuf.find(b"\n")
            if nl < 0:
                if len(conn.inbuf) > MAX_LINE:
                    conn.inbuf.clear()
                    conn.discarding = True
                return
            line = bytes(conn.inbuf[:nl])
            del conn.inbuf[: nl + 1]
            if conn.discarding or len(line) > MAX_LINE:
                conn.discarding = False
                self.errors += 1
                self._send(conn, {"id": None, "ok": False, "error": f"line over {MAX_LINE} bytes"})
                continue
            if line.strip():
                self._send(conn, self.handle_line(line, conn))

    def _send(self, conn: _Conn, msg: dict[str, Any]) -> None:
        conn.outbuf += json.dumps(msg, separators=(",", ":"), default=_json_default).encode()
        conn.outbuf += b"\n"
        if len(conn.outbuf) > MAX_OUTBUF:
            log.warning("sim control: client not reading; dropping it")
            self._drop(conn)
            return
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
            del conn.outbuf[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(conn)
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.modify(conn.sock, want, "conn")

    def _push_events(self) -> None:
        net = self.card.network
        if not net.notices:
            return
        with self.card.lock:
            notices, net.notices = net.notices, []
        for conn in list(self._conns.values()):
            if conn.subscribed:
                for n in notices:
                    self._send(conn, n)
                    if conn.sock.fileno() < 0:
                        break

    # ---- commands -------------------------------------------------------------------------------

    def handle_line(self, line: bytes, conn: _Conn | None = None) -> dict[str, Any]:
        try:
            msg = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.errors += 1
            return {"id": None, "ok": False, "error": f"malformed JSON: {exc}"}
        if not isinstance(msg, dict):
            self.errors += 1
            return {"id": None, "ok": False, "error": "a command is a JSON object"}
        return self.handle(msg, conn)

    def handle(self, msg: dict[str, Any], conn: _Conn | None = None) -> dict[str, Any]:
        mid = msg.get("id")
        cmd = msg.get("cmd")
        self.commands += 1
        handler: Callable[[dict[str, Any]], dict[str, Any]] | None = (
            getattr(self, f"_cmd_{cmd}", None)
            if isinstance(cmd, str) and cmd.isidentifier()
            else None
        )
        if handler is None:
            self.errors += 1
            return {"id": mid, "ok": False, "error": f"unknown command {cmd!r}"}
        try:
            with self.card.lock:
                if cmd == "subscribe":
                    result = self._subscribe(msg, conn)
                else:
                    result = handler(msg)
        except (ControlError, BoardError, PhoneError, TrafficError, WavError, ValueError) as exc:
            self.errors += 1
            return {"id": mid, "ok": False, "error": str(exc)}
        except Exception as exc:  # a bug must not take the card down: answer and count it
            self.errors += 1
            log.exception("sim control: %s failed", cmd)
            return {"id": mid, "ok": False, "error": f"internal error: {exc!r}"}
        return {"id": mid, "ok": True, **result}

    # helpers

    @staticmethod
    def _arg(
        msg: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        if key not in msg:
            if default is ...:
                raise ControlError(f"missing argument {key!r}")
            return default
        value = msg[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ControlError(f"argument {key!r} must be {name}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ControlError(f"argument {key!r} must be finite")
        return value

    def _target(self, msg: dict[str, Any]) -> Party | Phone:
        """The party or phone a command addresses (by `party` name or `channel`)."""
        net = self.card.network
        if "party" in msg:
            name = self._arg(msg, "party", str)
            party = net.parties.get(name)
            if party is None:
                raise ControlError(f"no party {name!r}")
            if party.kind == "phone":
                return next(ph for ph in net.phones if ph.own_party is party)
            return party
        if "channel" in msg:
            ch = self._arg(msg, "channel", int)
            if not 1 <= ch <= len(self.card.channels):
                raise ControlError(f"no channel {ch} (1..{len(self.card.channels)})")
            if ch <= net.trunks:
                caller = net.lines[ch - 1].caller
                if caller is None:
                    raise ControlError(f"no caller on trunk channel {ch}")
                return caller
            if ch > net.trunks + net.stations:  # a PRI channel
                line = self.card.span.by_channel.get(ch) if self.card.span else None
                if line is None or line.caller is None:
                    raise ControlError(f"no caller on PRI channel {ch}")
                return line.caller
            return net.phones[ch - net.trunks - 1]
        raise ControlError("address a party with 'party' (name) or 'channel'")

    def _phone(self, msg: dict[str, Any], what: str) -> Phone:
        target = self._target(msg)
        if isinstance(target, Agent):
            return target.phone
        if not isinstance(target, Phone):
            raise ControlError(f"{what}: {target.name} is on a trunk; only station phones {what}")
        return target

    # command handlers

    def _cmd_span_alarm(self, msg: dict[str, Any]) -> dict[str, Any]:
        from board.card import Alarm

        if self.card.span is None:
            raise ControlError("span_alarm: the card has no PRI span (pri=T1|E1)")
        name = self._arg(msg, "alarm", str)
        try:
            alarm = Alarm(name)
        except ValueError:
            raise ControlError(
                f"span_alarm: {name!r} is not one of {', '.join(a.value for a in Alarm)}"
            ) from None
        self.card.span.set_alarm(alarm)
        return {"span": self.card.span.number, "alarm": alarm.value}

    def _cmd_time(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {"t": round(self.card.now, 3), "tick": self.card.network.tick}

    def _cmd_stats(self, msg: dict[str, Any]) -> dict[str, Any]:
        net = self.card.network
        return {
            "commands": self.commands,
            "errors": self.errors,
            "counters": dict(net.counters),
            "traffic": net.traffic.stats() if net.traffic else None,
        }

    def _subscribe(self, msg: dict[str, Any], conn: _Conn | None) -> dict[str, Any]:
        on = self._arg(msg, "on", bool, True)
        if conn is not None:
            conn.subscribed = on
        self.card.network.notify_enabled = any(c.subscribed for c in self._conns.values())
        return {"subscribed": on}

    def _cmd_subscribe(self, msg: dict[str, Any]) -> dict[str, Any]:  # dispatched via _subscribe
        return self._subscribe(msg, None)

    def _cmd_call(self, msg: dict[str, Any]) -> dict[str, Any]:
        known = {
            "id", "cmd", "trunk", "number", "name", "datetime", "digits", "patience", "hold",
            "ender", "behave",
        }  # fmt: skip
        extra = sorted(set(msg) - known)
        if extra:
            raise ControlError(f"call: unknown argument {extra[0]!r}")
        caller = self.card.call(
            self._arg(msg, "trunk", int, None),
            number=self._arg(msg, "number", str, None),
            name=self._arg(msg, "name", str, None),
            datetime=self._arg(msg, "datetime", str, None),
            digits=self._arg(msg, "digits", str, ""),
            patience=self._arg(msg, "patience", float, 120.0),
            hold=self._arg(msg, "hold", float, 60.0),
            ender=self._arg(msg, "ender", str, "caller"),
            behave=self._arg(msg, "behave", bool, True),
        )
        return {"party": caller.name, "channel": caller.channel}

    def _cmd_hangup(self, msg: dict[str, Any]) -> dict[str, Any]:
        target = self._target(msg)
        if isinstance(target, Caller):
            if target.state == "gone":
                raise ControlError(f"{target.name} has already hung up")
            target.hang_up("control")
            return {"party": target.name}
        phone = target.phone if isinstance(target, Agent) else target
        if not isinstance(phone, Phone):
            raise ControlError(f"hangup: cannot hang up {target.name}")
        phone.on_hook()
        return {"channel": phone.channel}

    def _cmd_offhook(self, msg: dict[str, Any]) -> dict[str, Any]:
        phone = self._phone(msg, "go off hook")
        phone.off_hook()
        return {"channel": phone.channel}

    def _cmd_onhook(self, msg: dict[str, Any]) -> dict[str, Any]:
        phone = self._phone(msg, "go on hook")
        phone.on_hook()
        return {"channel": phone.channel}

    def _cmd_flash(self, msg: dict[str, Any]) -> dict[str, Any]:
        phone = self._phone(msg, "flash")
        phone.flash()
        return {"channel": phone.channel}

    def _cmd_dial(self, msg: dict[str, Any]) -> dict[str, Any]:
        digits = self._arg(msg, "digits", str)
        if not digits or any(d not in "0123456789*#ABCD" for d in digits):
            raise ControlError(f"dial: {digits!r} is not a string of DTMF digits")
        target = self._target(msg)
        if isinstance(target, Caller):
            if target.state == "gone":
                raise ControlError(f"{target.name} has hung up")
            target.dial(digits)
        elif isinstance(target, Agent):
            target.phone.dial(digits)
        elif isinstance(target, Phone):
            target.dial(digits)
        else:
            raise ControlError(f"dial: {target.name} has no phone or line")
        return {"digits": digits}

    def _cmd_speak(self, msg: dict[str, Any]) -> dict[str, Any]:
        target = self._target(msg)
        if "file" in msg:
            samples = read_wav(self._arg(msg, "file", str))
        elif "phrase" in msg:
            if not isinstance(target, (Caller, Agent)):
                raise ControlError("speak: only callers and agents have phrases; give a file")
            phrases = self.card.network.voices.phrases(target.role, target.voice)
            samples = phrases[self._arg(msg, "phrase", int) % len(phrases)]
        else:
            raise ControlError("speak needs 'file' (a WAV) or 'phrase' (an index)")
        if isinstance(target, Phone):
            if not target.offhook:
                raise ControlError(f"{target.name} is on hook")
            target.speak(samples)
        else:
            target.say(samples)
        return {"seconds": round(samples.size / 8000, 3)}

    def _cmd_record(self, msg: dict[str, Any]) -> dict[str, Any]:
        span = self.card.span
        ch = msg.get("channel")
        if span is not None and "party" not in msg and ch in span.by_channel:
            target: Party | Phone | SpanLine = span.by_channel[ch]  # a B-channel, caller or not
        else:
            target = self._target(msg)
        row = target.row
        if row is None:
            raise ControlError(f"{target.name} is not on a channel")
        what = self._arg(msg, "what", str, "heard")
        if what not in ("heard", "sent"):
            raise ControlError("record: 'what' is 'heard' or 'sent'")
        on = self._arg(msg, "on", bool)
        key = (row, what)
        if on:
            if key in self._recorders:
                raise ControlError(f"channel {row + 1} is already recording what it {what}")
            path = self._arg(msg, "file", str)
            parent = Path(path).parent
            if not parent.is_dir():
                raise ControlError(f"record: directory {parent} does not exist")
            self._recorders[key] = self.card.network.record(row, what, path)
            return {"channel": row + 1, "file": path}
        rec = self._recorders.pop(key, None)
        if rec is None:
            raise ControlError(f"channel {row + 1} is not recording what it {what}")
        self.card.network.stop_recording(rec)
        samples = rec.samples()
        assert rec.path is not None
        try:
            write_wav(rec.path, samples)
        except OSError as exc:
            raise ControlError(f"record: cannot write {rec.path}: {exc.strerror}") from exc
        return {"channel": row + 1, "file": rec.path, "seconds": round(samples.size / 8000, 3)}

    def _cmd_traffic(self, msg: dict[str, Any]) -> dict[str, Any]:
        on = self._arg(msg, "on", bool)
        if not on:
            return {"stats": self.card.stop_traffic()}
        params = {k: v for k, v in msg.items() if k not in ("id", "cmd", "on")}
        gen = self.card.start_traffic(TrafficParams.from_dict(params))
        return {"stats": gen.stats(), "next_arrival": round(gen.next_arrival, 3)}

    def _cmd_login(self, msg: dict[str, Any]) -> dict[str, Any]:
        agents = self._arg(msg, "agents", list)
        if not agents:
            raise ControlError("login: 'agents' is an empty list")
        net = self.card.network
        plans = []
        for i, a in enumerate(agents):
            if not isinstance(a, dict):
                raise ControlError(f"login: agents[{i}] is not an object")
            unknown = sorted(set(a) - {"channel", "station", "agent", "pin", "mode", "wrapup"})
            if unknown:
                raise ControlError(f"login: agents[{i}]: unknown key {unknown[0]!r}")
            if "station" in a:
                st = self._arg(a, "station", int)
                if not 1 <= st <= net.stations:
                    raise ControlError(f"login: agents[{i}]: no station {st}")
                channel = net.trunks + st
            else:
                channel = self._arg(a, "channel", int)
            agent = str(self._arg(a, "agent", (str, int)))
            pin = str(self._arg(a, "pin", (str, int)))
            mode = self._arg(a, "mode", str, "ring")
            if mode not in ("ring", "nailed"):
                raise ControlError(f"login: agents[{i}]: mode {mode!r} (ring | nailed)")
            wrapup = self._arg(a, "wrapup", float, None)
            plans.append((channel, agent, pin, mode, wrapup))
        seated = []
        for channel, agent, pin, mode, wrapup in plans:
            seated.append(self.card.login_agent(channel, agent, pin, mode=mode, wrapup=wrapup).name)
        return {"parties": seated}

    def _agent(self, msg: dict[str, Any]) -> Agent:
        target = self._target(msg)
        if isinstance(target, Phone) and isinstance(target.occupant, Agent):
            target = target.occupant
        if not isinstance(target, Agent):
            raise ControlError(f"{getattr(target, 'name', target)} is not an agent")
        return target

    def _cmd_logout(self, msg: dict[str, Any]) -> dict[str, Any]:
        agent = self._agent(msg)
        agent.request("logout")
        return {"party": agent.name}

    def _cmd_pause(self, msg: dict[str, Any]) -> dict[str, Any]:
        agent = self._agent(msg)
        reason = str(self._arg(msg, "reason", (str, int), ""))
        if not reason.isdigit():
            raise ControlError(f"pause: reason {reason!r} must be digits (dialled as DTMF)")
        agent.request("pause", reason)
        return {"party": agent.name}

    def _cmd_unpause(self, msg: dict[str, Any]) -> dict[str, Any]:
        agent = self._agent(msg)
        agent.request("unpause")
        return {"party": agent.name}

    def _cmd_state(self, msg: dict[str, Any]) -> dict[str, Any]:
        if "party" in msg:
            target = self._target(msg)
            party = target.occupant if isinstance(target, Phone) else target
            return {"state": party.snapshot()}
        return {"state": self.card.snapshot()}

    def _cmd_heard(self, msg: dict[str, Any]) -> dict[str, Any]:
        target = self._target(msg)
        party = target.occupant if isinstance(target, Phone) else target
        return {"party": party.name, "heard": list(party.heard)}


def _json_default(obj: object) -> object:
    if hasattr(obj, "item"):
        return obj.item()  # numpy scalars
    return str(obj)
