"""The telephony card interface every backend implements (sim://, dahdi://).

The media engine drives a card one tick at a time: `exchange()` writes one block per audio
channel and returns the next received block for each, then `events()` drains what happened on the
lines. Audio is signed 16-bit linear at 8 kHz; G.711 happens inside the backend, at the card edge.
Channels are numbered across the box like DAHDI's (1…N), each of one kind.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RATE = 8000


class ChannelKind(enum.StrEnum):
    FXO = "fxo"  # trunk port: the box is the phone, the line comes from the exchange
    FXS = "fxs"  # station port: the box is the exchange, an agent's phone hangs off it
    BCHAN = "bchan"  # PRI bearer channel
    DCHAN = "dchan"  # PRI signalling channel (frames, no audio)


class Alarm(enum.StrEnum):
    CLEAR = "clear"
    RED = "red"  # local loss of signal or framing
    YELLOW = "yellow"  # the far end is in red alarm (our transmit path is bad)
    BLUE = "blue"  # the far end sends unframed all-ones (upstream failure)
    RECOVERING = "recovering"


@dataclass(frozen=True)
class ChannelInfo:
    number: int
    kind: ChannelKind
    name: str  # e.g. "sim/trunk/1", "DAHDI/1-1"
    span: int | None = None  # PRI span number for bchan/dchan

    @property
    def has_audio(self) -> bool:
        return self.kind is not ChannelKind.DCHAN


# ---- events: what happened on a line, in the order it happened ---------------------------------


@dataclass(frozen=True)
class RingStart:
    """FXO: ringing voltage from the exchange began (one ring burst)."""

    channel: int


@dataclass(frozen=True)
class RingStop:
    channel: int


@dataclass(frozen=True)
class OffHook:
    """FXS: the station's phone went off hook."""

    channel: int


@dataclass(frozen=True)
class OnHook:
    channel: int


@dataclass(frozen=True)
class HookFlash:
    channel: int


@dataclass(frozen=True)
class PolarityReversal:
    """FXO: battery polarity reversed (answer or disconnect supervision on some lines)."""

    channel: int


@dataclass(frozen=True)
class LoopCurrentDrop:
    """FXO: loop current dropped: the far end hung up (disconnect supervision)."""

    channel: int


@dataclass(frozen=True)
class SpanAlarm:
    span: int
    alarm: Alarm


@dataclass(frozen=True)
class DFrame:
    """A LAPD frame received on a D-channel (address + control + information; no FCS)."""

    channel: int
    frame: bytes


BoardEvent = (
    RingStart
    | RingStop
    | OffHook
    | OnHook
    | HookFlash
    | PolarityReversal
    | LoopCurrentDrop
    | SpanAlarm
    | DFrame
)


class Card(ABC):
    """One telephony card (or a set of them) as the media engine sees it.

    `audio_channels` fixes the row order of the 2-D blocks `exchange()` takes and returns:
    row i is channel `audio_channels[i]`. Hardware cards are `paced`: `exchange()` blocks until
    the next block is due. The simulated card is not: the media engine's clock paces it, which
    is what lets a simulation run faster than real time.
    """

    url: str
    block_size: int = 160  # samples per channel per tick
    paced: bool = False

    @property
    @abstractmethod
    def channels(self) -> Sequence[ChannelInfo]:
        """Every channel on the card, audio and D-channels."""

    @property
    def audio_channels(self) -> tuple[int, ...]:
        return tuple(c.number for c in self.channels if c.has_audio)

    @abstractmethod
    def exchange(self, tx: np.ndarray) -> np.ndarray:
        """Send one block per audio channel, return the next received block for each.

        `tx` and the result are int16 arrays of shape (len(audio_channels), block_size).
        """

    @abstractmethod
    def events(self) -> list[BoardEvent]:
        """Line events since the last call, oldest first."""

    @abstractmethod
    def set_hook(self, channel: int, offhook: bool) -> None:
        """FXO: answer (off hook) or hang up (on hook) a trunk."""

    @abstractmethod
    def ring(self, channel: int, on: bool) -> None:
        """FXS: start or stop ringing a station (the card applies the ring cadence)."""

    @abstractmethod
    def flash(self, channel: int) -> None:
        """FXO: send a hook flash on a trunk."""

    @abstractmethod
    def send_frame(self, channel: int, frame: bytes) -> None:
        """D-channel: send one LAPD frame (address + control + information)."""

    def close(self) -> None:  # noqa: B027 - optional for backends with nothing to release
        """Release the card."""

    def __enter__(self) -> Card:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
