"""The card contract: what every `Card` backend must do, whatever is behind it.

Written against `board.card.Card` only, so the same suite runs on the simulated card
(tests/board/test_contract_sim.py) and on a real card (hw-tests/test_card_contract.py with
`--card dahdi://…`). A module that imports these tests must provide a `card_url` fixture.
Nothing here assumes a person on the line: audio paths are proven by the sim-specific tests.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import numpy as np
import pytest

from board import open_card
from board.card import (
    BoardEvent,
    Card,
    ChannelKind,
    DFrame,
    HookFlash,
    LoopCurrentDrop,
    OffHook,
    OnHook,
    PolarityReversal,
    RingStart,
    RingStop,
    SpanAlarm,
)
from board.errors import BoardError

EVENT_TYPES = (
    RingStart, RingStop, OffHook, OnHook, HookFlash, PolarityReversal, LoopCurrentDrop,
    SpanAlarm, DFrame,
)  # fmt: skip


@pytest.fixture
def card(card_url: str) -> Iterator[Card]:
    c = open_card(card_url)
    try:
        yield c
    finally:
        c.close()


def _silence(card: Card) -> np.ndarray:
    return np.zeros((len(card.audio_channels), card.block_size), dtype=np.int16)


def _first(card: Card, kind: ChannelKind) -> int:
    for ch in card.channels:
        if ch.kind is kind:
            return ch.number
    pytest.skip(f"card has no {kind.value} channel")


def _exchange_seconds(card: Card, seconds: float) -> list[BoardEvent]:
    events: list[BoardEvent] = []
    tx = _silence(card)
    for _ in range(max(1, int(seconds * 8000 / card.block_size))):
        card.exchange(tx)
        events += card.events()
    return events


def test_channels_numbered_from_one_without_gaps(card: Card) -> None:
    numbers = [c.number for c in card.channels]
    assert numbers == list(range(1, len(numbers) + 1))


def test_channel_names_unique_and_kinds_known(card: Card) -> None:
    names = [c.name for c in card.channels]
    assert len(set(names)) == len(names)
    assert all(isinstance(c.kind, ChannelKind) for c in card.channels)
    for c in card.channels:
        assert (c.span is not None) == (c.kind in (ChannelKind.BCHAN, ChannelKind.DCHAN))


def test_audio_channels_are_the_audio_kinds_in_channel_order(card: Card) -> None:
    expected = tuple(c.number for c in card.channels if c.kind is not ChannelKind.DCHAN)
    assert card.audio_channels == expected


def test_exchange_returns_one_int16_block_per_audio_channel(card: Card) -> None:
    for _ in range(3):
        rx = card.exchange(_silence(card))
        assert isinstance(rx, np.ndarray)
        assert rx.dtype == np.int16
        assert rx.shape == (len(card.audio_channels), card.block_size)


@pytest.mark.parametrize("problem", ["rows", "columns", "dtype", "not an array"])
def test_exchange_rejects_a_bad_block_and_keeps_working(card: Card, problem: str) -> None:
    good = _silence(card)
    bad: object = {
        "rows": np.zeros((good.shape[0] + 1, good.shape[1]), dtype=np.int16),
        "columns": np.zeros((good.shape[0], good.shape[1] - 1), dtype=np.int16),
        "dtype": good.astype(np.float32),
        "not an array": good.tolist(),
    }[problem]
    with pytest.raises(BoardError) as info:
        card.exchange(bad)  # type: ignore[arg-type]
    assert info.value.errno == errno.EINVAL
    assert "exchange" in str(info.value)
    assert card.exchange(good).shape == good.shape


def test_events_are_board_events_and_drain(card: Card) -> None:
    events = _exchange_seconds(card, 0.5)
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert card.events() == []


def test_set_hook_is_for_trunks_only(card: Card) -> None:
    station = _first(card, ChannelKind.FXS)
    with pytest.raises(BoardError, match="set_hook"):
        card.set_hook(station, True)


def test_ring_is_for_stations_only(card: Card) -> None:
    trunk = _first(card, ChannelKind.FXO)
    with pytest.raises(BoardError, match="ring"):
        card.ring(trunk, True)


def test_flash_is_for_trunks_only(card: Card) -> None:
    station = _first(card, ChannelKind.FXS)
    with pytest.raises(BoardError, match="flash"):
        card.flash(station)


@pytest.mark.parametrize("channel", [0, -1, 10_000])
def test_a_channel_that_does_not_exist_is_a_board_error(card: Card, channel: int) -> None:
    for op in (lambda: card.set_hook(channel, True), lambda: card.ring(channel, True)):
        with pytest.raises(BoardError) as info:
            op()
        assert str(channel) in str(info.value)


def test_send_frame_on_an_audio_channel_is_a_board_error(card: Card) -> None:
    with pytest.raises(BoardError):
        card.send_frame(card.audio_channels[0], b"\x00\x01\x03")


def test_trunk_hook_cycle(card: Card) -> None:
    trunk = _first(card, ChannelKind.FXO)
    card.set_hook(trunk, True)
    events = _exchange_seconds(card, 0.5)
    card.set_hook(trunk, False)
    events += _exchange_seconds(card, 0.5)
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    # taking a line off hook and back never makes it ring by itself
    assert not [e for e in events if isinstance(e, RingStart) and e.channel == trunk]


def test_station_ring_cycle_with_the_phone_on_hook(card: Card) -> None:
    station = _first(card, ChannelKind.FXS)
    card.ring(station, True)
    events = _exchange_seconds(card, 1.0)
    card.ring(station, False)
    events += _exchange_seconds(card, 0.2)
    # nobody lifts the handset: no hook events from the station
    assert not [e for e in events if isinstance(e, (OffHook, OnHook)) and e.channel == station]


def test_close_is_idempotent_and_a_context_manager(card_url: str) -> None:
    with open_card(card_url) as c:
        c.exchange(_silence(c))
    c.close()
    c.close()
