"""B-channels of one PRI span: which exist, and whether each is idle, in use or out of service.

Numbering is the channel identification IE's: T1 B-channels 1–23 (24 carries the D-channel),
E1 timeslots 1–15 and 17–31 (16 carries the D-channel).
"""

from __future__ import annotations

from enum import Enum


class ChannelError(ValueError):
    """A channel number that the span does not have, or a channel in the wrong state."""


class ChannelStatus(Enum):
    IDLE = "idle"
    IN_USE = "in_use"
    OUT_OF_SERVICE = "out_of_service"
    RESTARTING = "restarting"


def span_channels(span_kind: str) -> tuple[int, ...]:
    if span_kind == "T1":
        return tuple(range(1, 24))
    if span_kind == "E1":
        return tuple(range(1, 16)) + tuple(range(17, 32))
    raise ChannelError(f"span kind {span_kind!r} is neither T1 nor E1")


class ChannelMap:
    """Status of each B-channel; `provisioned` channels start idle, the rest out of service."""

    def __init__(self, span_kind: str, provisioned: tuple[int, ...] | None = None) -> None:
        self.span_kind = span_kind
        self.all = span_channels(span_kind)
        wanted = set(self.all if provisioned is None else provisioned)
        bad = wanted - set(self.all)
        if bad:
            raise ChannelError(f"{span_kind} span has no B-channel {sorted(bad)}")
        self.status: dict[int, ChannelStatus] = {
            ch: ChannelStatus.IDLE if ch in wanted else ChannelStatus.OUT_OF_SERVICE
            for ch in self.all
        }
        self.provisioned = frozenset(wanted)

    def exists(self, channel: int) -> bool:
        return channel in self.status

    def is_idle(self, channel: int) -> bool:
        return self.status.get(channel) is ChannelStatus.IDLE

    def pick(self, descending: bool) -> int | None:
        """An idle channel: the network hunts upward, the user downward (to avoid glare)."""
        order = reversed(self.all) if descending else self.all
        for ch in order:
            if self.status[ch] is ChannelStatus.IDLE:
                return ch
        return None

    def set(self, channel: int, status: ChannelStatus) -> bool:
        """Change a channel's status; True when it changed."""
        if channel not in self.status:
            raise ChannelError(f"{self.span_kind} span has no B-channel {channel}")
        if channel not in self.provisioned and status is not ChannelStatus.OUT_OF_SERVICE:
            return False
        old = self.status[channel]
        self.status[channel] = status
        return old is not status

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in ChannelStatus}
        for s in self.status.values():
            out[s.value] += 1
        return out
