"""calld's side of the media control protocol: a sans-I/O codec and an asyncio `MediaLink`.

    async with MediaLink("/run/callbox/media.sock") as link:   # connects (retrying), says hello
        print(link.snapshot["channels"])
        await link.command("play", channel=1, files=["hello-world"])   # -> reply fields
        async for event in link.events():
            match event:
                case DigitEvent(channel=ch, digit=d): ...
                case ClockEvent(t=t): await link.clock_ack(t)

`command()` raises `MediaCommandError` for an error reply and `MediaLinkError` when the
connection is lost; the event iterator ends with `MediaLinkError` too. After a loss, `connect()`
again (it retries with backoff, logging once on loss and once on recovery) and rebuild from the
snapshot it returns. `MediaCodec` is the same logic without I/O, for tests and other loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from firmware.media import protocol as p
from firmware.media.protocol import Command, Event, ProtocolError, Reply

log = logging.getLogger(__name__)

#: the engine's replies and events are not bounded like commands (a snapshot of a big box)
READ_LIMIT = 16 * 1024 * 1024


class MediaLinkError(ConnectionError):
    """No connection to the media engine (never connected, or lost)."""


class MediaCommandError(Exception):
    """The engine answered a command with an error reply."""

    def __init__(self, command: Command, reply: Reply) -> None:
        super().__init__(f"{command.name} (id {command.id}): {reply.code}: {reply.error}")
        self.command = command
        self.code = reply.code
        self.reply = reply


class MediaCodec:
    """Sans-I/O: number and encode commands, split and decode what the engine sends."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._buf = bytearray()
        self.errors = 0  # undecodable lines from the engine

    def encode(self, cmd: Command | str, **args: Any) -> tuple[Command, bytes]:
        """Give the command the next id; return it with its wire bytes."""
        n = next(self._ids)
        if isinstance(cmd, str):
            command = p.command_from_args(cmd, args, n)
        else:
            if args:
                raise TypeError("keyword arguments go with a command name, not a Command")
            command = _with_id(cmd, n)
        return command, p.encode_command(command)

    def feed(self, data: bytes) -> list[Reply | Event]:
        """Bytes from the socket in, complete messages out (partial lines are kept)."""
        self._buf += data
        out: list[Reply | Event] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                return out
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            message = self.decode(line)
            if message is not None:
                out.append(message)

    def decode(self, line: bytes) -> Reply | Event | None:
        if not line.strip():
            return None
        try:
            return p.decode_message(line)
        except ProtocolError as exc:
            self.errors += 1
            log.error("undecodable line from the media engine (%s): %.200r", exc, line)
            return None


def _with_id(cmd: Command, n: int) -> Command:
    import dataclasses

    return dataclasses.replace(cmd, id=n)


_END = object()


class MediaLink:
    """One connection to the media engine, with reconnect (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        retry_min: float = 0.05,
        retry_max: float = 5.0,
        connect_timeout: float | None = None,
    ) -> None:
        self.path = str(path)
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.connect_timeout = connect_timeout
        self.snapshot: dict[str, Any] = {}
        self._codec = MediaCodec()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, tuple[Command, asyncio.Future[Reply]]] = {}
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._lost = False  # logged the loss, not yet the recovery
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def __aenter__(self) -> MediaLink:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Connect (retrying with backoff), send `hello`, return the snapshot."""
        await self._disconnect()
        delay = self.retry_min
        loop = asyncio.get_running_loop()
        deadline = None if self.connect_timeout is None else loop.time() + self.connect_timeout
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self.path, limit=READ_LIMIT)
                break
            except OSError as exc:
                if not self._lost:
                    log.warning("media engine at %s unreachable (%s); retrying", self.path, exc)
                    self._lost = True
                if deadline is not None and loop.time() + delay > deadline:
                    raise MediaLinkError(f"media engine at {self.path}: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
        if self._lost:
            log.info("media engine at %s reachable again", self.path)
            self._lost = False
        self._writer = writer
        self._events = asyncio.Queue()
        self._reader_task = asyncio.create_task(self._read(reader), name="media-link-reader")
        self.snapshot = await self.command("hello")
        return self.snapshot

    async def close(self) -> None:
        await self._disconnect()

    async def _disconnect(self) -> None:
        self._closing = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        task, self._reader_task = self._reader_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_pending("connection closed")
        self._closing = False

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for cmd, fut in pending.values():
            if not fut.done():
                fut.set_exception(MediaLinkError(f"{cmd.name} (id {cmd.id}): {why}"))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError) as exc:
                    log.error("media engine sent a line over %d bytes: %s", READ_LIMIT, exc)
                    break
                except OSError as exc:
                    log.warning("media link read error: %s", exc)
                    break
                if not line:
                    break
                message = self._codec.decode(line.rstrip(b"\n"))
                if isinstance(message, Reply):
                    self._on_reply(message)
                elif message is not None:
                    self._events.put_nowait(message)
        finally:
            if not self._lost and not self._closing:
                log.warning("connection to the media engine at %s lost", self.path)
                self._lost = True
            self._writer = None
            self._fail_pending("connection lost")
            self._events.put_nowait(_END)

    def _on_reply(self, reply: Reply) -> None:
        if reply.id is None or reply.id not in self._pending:
            log.error("media engine reply without a command: %s", reply)
            return
        _, fut = self._pending.pop(reply.id)
        if not fut.done():
            fut.set_result(reply)

    def submit(self, cmd: Command | str, /, **args: Any) -> asyncio.Future[Reply]:
        """Send a command now; the future resolves to its Reply (ok or error)."""
        if self._writer is None:
            raise MediaLinkError("not connected to the media engine")
        command, data = self._codec.encode(cmd, **args)
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[command.id] = (command, fut)
        self._writer.write(data)
        return fut

    async def command(self, cmd: Command | str, /, **args: Any) -> dict[str, Any]:
        """Send a command and wait for its reply; return the reply's fields."""
        command = p.command_from_args(cmd, args) if isinstance(cmd, str) else cmd
        fut = self.submit(cmd, **args)
        assert self._writer is not None
        await self._writer.drain()
        reply = await fut
        if not reply.ok:
            raise MediaCommandError(_with_id(command, reply.id or 0), reply)
        return reply.data

    async def clock_ack(self, t: float) -> None:
        """Release the virtual clock stopped at the `clock` event with this `t`."""
        await self.command(p.ClockAck(t=t))

    async def events(self) -> AsyncIterator[Event]:
        """Events as they arrive; raises MediaLinkError when the connection is lost."""
        while True:
            item = await self._events.get()
            if item is _END:
                raise MediaLinkError("connection to the media engine lost")
            yield item
