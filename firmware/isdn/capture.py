"""D-channel capture as a pcap file tshark/Wireshark read: LINKTYPE_LINUX_LAPD (177).

Each record is a 16-octet Linux "cooked" header (packet type 0 = received, 4 = sent; ARPHRD
type; address length 1 with the first address octet 1 when this side is the network; protocol
ETH_P_LAPD 0x0030) followed by the LAPD frame (address + control + information, no FCS).
`DChannelCapture` can be opened and closed while the stack runs (`IsdnStack.capture`).
"""

from __future__ import annotations

import struct
import time
from typing import BinaryIO

LINKTYPE_LINUX_LAPD = 177
ETH_P_LAPD = 0x0030
ARPHRD_LAPD = 8
PKT_HOST = 0
PKT_OUTGOING = 4


class CaptureError(OSError):
    """The capture file could not be written."""


class DChannelCapture:
    def __init__(self, path: str, network: bool, clock: object = time.time) -> None:
        self.path = path
        self.network = network
        self._clock = clock
        self.frames = 0
        try:
            self._f: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed in close()
            self._f.write(
                struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_LINUX_LAPD)
            )
        except OSError as e:
            raise CaptureError(
                e.errno, f"cannot write D-channel capture {path}: {e.strerror}"
            ) from e

    def record(self, frame: bytes, sent: bool, when: float | None = None) -> None:
        if self._f is None:
            return
        t = self._clock() if when is None else when  # type: ignore[operator]
        sec = int(t)
        usec = int((t - sec) * 1_000_000)
        header = struct.pack(
            ">HHH8sH",
            PKT_OUTGOING if sent else PKT_HOST,
            ARPHRD_LAPD,
            1,
            bytes((1 if self.network else 0,)) + bytes(7),
            ETH_P_LAPD,
        )
        n = len(header) + len(frame)
        self._f.write(struct.pack("<IIII", sec, usec, n, n) + header + frame)
        self._f.flush()
        self.frames += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
