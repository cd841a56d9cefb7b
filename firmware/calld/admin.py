"""calld's admin socket: a Unix stream socket of JSON lines for `callbox status`, the console and
the live view.

Requests are one JSON object per line, `{"cmd": "<verb>", ...}`; each gets one reply line,
`{"ok": true, ...}` or `{"ok": false, "error": "..."}`. Verbs: `snapshot` (what the box is doing:
the same payloads the MQTT feed carries, plus counters), `reload` (re-read the config; a bad
config is refused and the running one kept), `ping`. Malformed lines are answered with an error
and counted; the connection stays open. The socket is created mode 0600 (root/owner only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 65536
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class AdminError(RuntimeError):
    """A request the admin socket refuses (the message goes back to the client)."""


class AdminServer:
    """Serve `handlers[verb](request) -> reply fields` on a Unix socket."""

    def __init__(self, path: Path, handlers: dict[str, Handler]) -> None:
        self.path = Path(path)
        self.handlers = dict(handlers)
        self.handlers.setdefault("ping", self._ping)
        self.requests = 0
        self.rejected = 0

    @staticmethod
    async def _ping(request: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True}

    async def serve(self) -> None:
        """Listen until cancelled; removes the socket file on the way out."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self._client, self.path, limit=MAX_LINE + 1)
        finally:
            os.umask(old_umask)
        log.info("admin socket on %s", self.path)
        try:
            async with server:
                await server.serve_forever()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than the limit
                    reply: dict[str, Any] = self._reject(f"line longer than {MAX_LINE} bytes")
                    writer.write(_encode(reply))
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                writer.write(_encode(await self._answer(line)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        self.requests += 1
        try:
            request = json.loads(line)
        except ValueError as exc:
            return self._reject(f"not JSON: {exc}")
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return self._reject('a request is a JSON object like {"cmd": "snapshot"}')
        handler = self.handlers.get(request["cmd"])
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return self._reject(f"unknown cmd {request['cmd']!r} (known: {known})")
        try:
            return {"ok": True, **await handler(request)}
        except AdminError as exc:
            return self._reject(str(exc))

    def _reject(self, error: str) -> dict[str, Any]:
        self.rejected += 1
        log.warning("admin socket: %s", error)
        return {"ok": False, "error": error}


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


async def request(path: Path, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """One request to a running calld's admin socket (`callbox status`, tests)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_unix_connection(path, limit=16 * MAX_LINE)
        try:
            writer.write(_encode({"cmd": cmd, **args}))
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
    if not line:
        raise ConnectionError(f"{path}: calld closed the admin connection")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise ConnectionError(f"{path}: not a reply: {line[:80]!r}")
    return reply
