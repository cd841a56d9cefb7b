"""The media engine's socket I/O: one controller on a Unix socket, the tick loop, the lock-step.

A single-threaded `selectors` loop (no asyncio: the loop's only job is to run the tick on time
and move a few lines of JSON). One controller connection at a time; a new one replaces the old.

- real clock: between ticks the loop waits on the socket until the next tick is due, applying
  commands as they arrive;
- virtual clock: the loop runs ticks back to back until a `clock` event, then reads commands until
  the `clock_ack` for that event arrives (PROTOCOL.md, "Time"). Nothing is read while ticks run,
  so what calld sends is applied at the clock boundary, the same way every run.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import signal
import socket
from pathlib import Path
from types import FrameType

from firmware.media import protocol as p
from firmware.media.engine import CommandError, Engine

log = logging.getLogger(__name__)

MAX_OUTPUT = 8 * 1024 * 1024  # bytes queued for a controller that does not read: drop it


class MediaServerError(OSError):
    """The control socket cannot be set up (path in use by a running engine, permissions...)."""


class _Controller:
    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.number = number
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.discarding = False  # inside an over-long line, skipping to its newline
        self.ready = False  # has sent hello: events go to it
        self.closed = False


class MediaServer:
    def __init__(self, engine: Engine, path: str | Path) -> None:
        self.engine = engine
        self.clock = engine.clock
        self.path = Path(path)
        self.virtual = self.clock.mode == "virtual"
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.ctl: _Controller | None = None
        self.awaiting: float | None = None  # virtual: the clock event waiting for its ack
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._connections = 0

    # ---- set-up -------------------------------------------------------------------------------

    def open(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # stale socket from a previous run
            else:
                probe.close()
                raise MediaServerError(
                    errno.EADDRINUSE, f"{path}: another media engine is listening there"
                )
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
        except OSError as exc:
            sock.close()
            raise MediaServerError(exc.errno or 0, f"bind {path}: {exc.strerror}") from exc
        os.chmod(path, 0o660)
        sock.listen(4)
        sock.setblocking(False)
        self.listener = sock
        self.sel.register(sock, selectors.EVENT_READ, "listen")
        log.info("listening on %s (%s clock)", path, self.clock.mode)

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def close(self) -> None:
        if self.ctl is not None:
            self._drop(self.ctl, "engine stopping")
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.sel.close()
        self._wake_r.close()
        self._wake_w.close()

    # ---- the loop -----------------------------------------------------------------------------

    def serve_forever(self) -> None:
        self.clock.start()
        try:
            if self.virtual:
                self._serve_virtual()
            else:
                self._serve_real()
        finally:
            log.info("stopping after %d ticks", self.clock.ticks)

    def _serve_real(self) -> None:
        while not self._stopping:
            wait = self.clock.seconds_until_due()
            self._poll(max(0.0, wait))
            if self._stopping:
                break
            if self.clock.seconds_until_due() <= 0.0:
                self._send_events(self.engine.tick())

    def _serve_virtual(self) -> None:
        while not self._stopping:
            ctl = self.ctl
            if ctl is not None and (self.awaiting is not None or not ctl.ready):
                self._process_buffer(ctl)  # lines already read come first
            ctl = self.ctl
            if ctl is not None and ctl.ready and self.awaiting is None:
                self._run_to_clock()
            else:
                self._poll(None)

    def _run_to_clock(self) -> None:
        while not self._stopping:
            events = self.engine.tick()
            self._send_events(events)
            for ev in events:
                if isinstance(ev, p.ClockEvent):
                    self.awaiting = ev.t
                    return

    def _poll(self, timeout: float | None) -> None:
        for key, mask in self.sel.select(timeout):
            what = key.data
            if what == "wake":
                with contextlib.suppress(BlockingIOError):
                    while self._wake_r.recv(256):
                        pass
            elif what == "listen":
                self._accept()
            elif isinstance(what, _Controller) and not what.closed:
                if mask & selectors.EVENT_WRITE:
                    self._flush(what)
                if mask & selectors.EVENT_READ and not what.closed:
                    self._read(what)

    # ---- connections --------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        if self.ctl is not None:
            log.warning("controller %d replaced by a new connection", self.ctl.number)
            self._drop(self.ctl, "replaced")
        self._connections += 1
        self.engine.count("connections")
        self.ctl = _Controller(sock, self._connections)
        self.awaiting = None  # a new controller starts the lock-step afresh after its hello
        self.sel.register(sock, selectors.EVENT_READ, self.ctl)
        log.info("controller %d connected", self._connections)

    def _drop(self, ctl: _Controller, why: str) -> None:
        if ctl.closed:
            return
        ctl.closed = True
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(ctl.sock)
        ctl.sock.close()
        if self.ctl is ctl:
            self.ctl = None
        log.info("controller %d disconnected (%s)", ctl.number, why)

    def _read(self, ctl: _Controller) -> None:
        try:
            data = ctl.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop(ctl, f"read error: {exc}")
            return
        if not data:
            self._drop(ctl, "closed by peer")
            return
        ctl.inbuf += data
        if not self.virtual or self.awaiting is not None or not ctl.ready:
            self._process_buffer(ctl)

    def _process_buffer(self, ctl: _Controller) -> None:
        """Handle the complete lines in the buffer (in virtual mode: up to a releasing ack)."""
        buf = ctl.inbuf
        while not ctl.closed:
            nl = buf.find(b"\n")
            if ctl.discarding:
                if nl < 0:
                    buf.clear()
                    return
                del buf[: nl + 1]
                ctl.discarding = False
                continue
            if nl < 0:
                if len(buf) > p.MAX_LINE:
                    self._too_long(ctl)
                    buf.clear()
                    ctl.discarding = True
                return
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            if len(line) > p.MAX_LINE:
                self._too_long(ctl)
                continue
            if not line.strip():
                continue
            released = self._handle_line(ctl, line)
            if released and self.virtual:
                return  # what follows the ack belongs to the next clock period

    def _too_long(self, ctl: _Controller) -> None:
        self.engine.count("commands")
        self._error(ctl, None, "too_long", f"line longer than {p.MAX_LINE} bytes; discarded")

    # ---- commands -----------------------------------------------------------------------------

    def _handle_line(self, ctl: _Controller, line: bytes) -> bool:
        """Apply one command line; True if it released the virtual clock."""
        self.engine.count("commands")
        try:
            cmd = p.decode_command(line)
        except p.ProtocolError as exc:
            self._error(ctl, exc.id, exc.code, str(exc))
            return False
        if isinstance(cmd, p.ClockAck):
            return self._clock_ack(ctl, cmd)
        if isinstance(cmd, p.Hello):
            ctl.ready = True
        try:
            data = self.engine.apply(cmd)
        except CommandError as exc:
            self._error(ctl, cmd.id, exc.code, str(exc))
            return False
        except Exception as exc:  # a bug must not take the calls down with it
            log.exception("command %s failed", cmd.name)
            self._error(ctl, cmd.id, "failed", f"{cmd.name}: internal error: {exc!r}")
            return False
        self._send(ctl, p.encode_reply(cmd.id, data))
        self._send_events(self.engine.take_events())
        return False

    def _clock_ack(self, ctl: _Controller, cmd: p.ClockAck) -> bool:
        if not self.virtual:
            self._send(ctl, p.encode_reply(cmd.id))
            return False
        if self.awaiting is None:
            self._error(ctl, cmd.id, "bad_args", f"clock_ack t={cmd.t!r}: the clock is not stopped")
            return False
        if cmd.t != self.awaiting:
            self._error(
                ctl,
                cmd.id,
                "bad_args",
                f"clock_ack t={cmd.t!r}: the clock waits for t={self.awaiting!r}",
            )
            return False
        self.awaiting = None
        self._send(ctl, p.encode_reply(cmd.id))
        return True

    def _error(self, ctl: _Controller, id: int | None, code: str, message: str) -> None:
        self.engine.count("errors")
        self.engine.count(code)
        log.warning("controller %d: %s: %s", ctl.number, code, message)
        self._send(ctl, p.encode_error(id, code, message))

    # ---- output -------------------------------------------------------------------------------

    def _send_events(self, events: list[p.Event]) -> None:
        if not events:
            return
        ctl = self.ctl
        if ctl is None or not ctl.ready:
            self.engine.count("events_dropped", len(events))
            return
        self.engine.count("events_sent", len(events))
        self._send(ctl, b"".join(p.encode_event(ev) for ev in events))

    def _send(self, ctl: _Controller, data: bytes) -> None:
        if ctl.closed:
            return
        ctl.outbuf += data
        self._flush(ctl)
        if not ctl.closed and len(ctl.outbuf) > MAX_OUTPUT:
            log.error("controller %d does not read its events; dropping it", ctl.number)
            self._drop(ctl, "output overflow")

    def _flush(self, ctl: _Controller) -> None:
        try:
            while ctl.outbuf:
                n = ctl.sock.send(ctl.outbuf)
                del ctl.outbuf[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self._drop(ctl, f"write error: {exc}")
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if ctl.outbuf else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.modify(ctl.sock, events, ctl)
