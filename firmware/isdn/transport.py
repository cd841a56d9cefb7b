"""D-channel transports: one LAPD frame per `recv`/`send`.

- `SeqPacketTransport`: an `AF_UNIX` `SOCK_SEQPACKET` socket, one frame per packet with no FCS
  (inherited fd, `connect(path)` or `listen(path)`); a zero-length read means layer 1 is down.
- `DahdiDChannel`: a DAHDI D-channel file descriptor, whose reads return frame + 2 FCS octets
  and whose writes take frame + 2 octets the driver overwrites with the FCS. (Not testable
  without a card; kept small.)
"""

from __future__ import annotations

import os
import socket

MAX_PACKET = 2048  # larger than any valid frame so oversized frames arrive whole and get counted


class TransportError(OSError):
    """The D-channel transport could not be opened or used."""


class SeqPacketTransport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.setblocking(False)

    @classmethod
    def from_fd(cls, fd: int) -> SeqPacketTransport:
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            raise TransportError(e.errno, f"fd {fd} is not a usable socket: {e.strerror}") from e
        if sock.type != socket.SOCK_SEQPACKET:
            raise TransportError(0, f"fd {fd} is not a SOCK_SEQPACKET socket")
        return cls(sock)

    @classmethod
    def connect(cls, path: str) -> SeqPacketTransport:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise TransportError(e.errno, f"cannot connect to {path}: {e.strerror}") from e
        return cls(sock)

    @classmethod
    def listen(cls, path: str, timeout: float | None = None) -> SeqPacketTransport:
        """Listen on `path`, accept one connection, stop listening."""
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            if os.path.exists(path):
                os.unlink(path)
            srv.bind(path)
            srv.listen(1)
            srv.settimeout(timeout)
            conn, _ = srv.accept()
        except OSError as e:
            raise TransportError(e.errno or 0, f"cannot accept on {path}: {e}") from e
        finally:
            srv.close()
            if os.path.exists(path):
                os.unlink(path)
        return cls(conn)

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self) -> bytes | None:
        """One frame, b"" when nothing is waiting, None when the peer closed (layer 1 down)."""
        try:
            data = self.sock.recv(MAX_PACKET)
        except (BlockingIOError, InterruptedError):
            return b""
        except ConnectionResetError:
            return None
        return data if data else None

    def send(self, frame: bytes) -> bool:
        try:
            self.sock.send(frame)
        except (BrokenPipeError, ConnectionResetError):
            return False
        except BlockingIOError:
            return True  # the peer is not reading: LAPD retransmission covers the loss
        return True

    def close(self) -> None:
        self.sock.close()


class DahdiDChannel:
    """A DAHDI D-channel opened by path (e.g. a configured /dev/dahdi/<n>): FCS convention."""

    def __init__(self, path: str | None = None, fd: int | None = None) -> None:
        if fd is not None:
            self.fd = fd
            return
        if path is None:
            raise TransportError(0, "a DAHDI D-channel needs a path or an fd")
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            raise TransportError(e.errno, f"cannot open D-channel {path}: {e.strerror}") from e

    def fileno(self) -> int:
        return self.fd

    def recv(self) -> bytes | None:
        try:
            data = os.read(self.fd, MAX_PACKET)
        except BlockingIOError:
            return b""
        except OSError as e:  # DAHDI reports alarms/events as ELAST; treat as nothing read
            if e.errno in (500,):
                return b""
            raise TransportError(e.errno, f"D-channel read failed: {e.strerror}") from e
        if not data:
            return None
        if len(data) < 3:
            return b"\x00"  # no frame before the FCS: LAPD counts it as too short
        return data[:-2]

    def send(self, frame: bytes) -> bool:
        try:
            os.write(self.fd, frame + b"\x00\x00")
        except OSError:
            return False
        return True

    def close(self) -> None:
        os.close(self.fd)


Transport = SeqPacketTransport | DahdiDChannel
