"""Span configuration validation and B-channel numbering."""

from __future__ import annotations

import pytest

from firmware.isdn.channels import ChannelError, ChannelMap, ChannelStatus, span_channels
from firmware.isdn.config import SpanConfig, SpanConfigError


def test_t1_and_e1_channel_numbering() -> None:
    assert span_channels("T1") == tuple(range(1, 24))
    e1 = span_channels("E1")
    assert len(e1) == 30 and 16 not in e1 and e1[0] == 1 and e1[-1] == 31


def test_channel_map_hunts_and_tracks_status() -> None:
    m = ChannelMap("T1", (1, 2, 3))
    assert m.pick(descending=True) == 3 and m.pick(descending=False) == 1
    assert m.status[4] is ChannelStatus.OUT_OF_SERVICE
    assert m.set(1, ChannelStatus.IN_USE)
    assert not m.set(4, ChannelStatus.IDLE)  # unprovisioned stays out of service
    assert m.counts()["in_use"] == 1
    with pytest.raises(ChannelError):
        m.set(24, ChannelStatus.IDLE)
    with pytest.raises(ChannelError):
        ChannelMap("E1", (16,))


def test_from_mapping_builds_a_config() -> None:
    cfg = SpanConfig.from_mapping(
        "carrier",
        {
            "kind": "E1",
            "switch": "euroisdn",
            "role": "network",
            "channels": "1-15,17-20",
            "timers": {"t303": 2, "t200": 0.5},
        },
    )
    assert cfg.framing == "crc4" and cfg.line_code == "hdb3"
    assert cfg.provisioned == tuple(range(1, 16)) + (17, 18, 19, 20)
    assert cfg.timers.t303 == 2 and cfg.network


@pytest.mark.parametrize(
    ("mapping", "key", "words"),
    [
        ({"kind": "J1"}, "spans.s.kind", "neither"),
        ({"kind": "T1", "framing": "crc4"}, "spans.s.framing", "T1 framing"),
        ({"kind": "E1", "switch": "euroisdn", "line_code": "b8zs"}, "spans.s.line_code", "E1"),
        ({"switch": "qsig"}, "spans.s.switch", "unknown switch"),
        ({"kind": "E1", "switch": "ni2"}, "spans.s.switch", "T1 spans"),
        ({"role": "master"}, "spans.s.role", "neither"),
        ({"channels": "1-24"}, "spans.s.channels", "no B-channel 24"),
        ({"channels": "5-1"}, "spans.s.channels", "backwards"),
        ({"channels": "a"}, "spans.s.channels", "not a channel"),
        ({"channels": [1, 1]}, "spans.s.channels", "twice"),
        ({"timers": {"t999": 1}}, "spans.s.timers.t999", "unknown timer"),
        ({"timers": {"t303": -1}}, "spans.s.timers.t303", "positive"),
        ({"overlap_receiving": "yes"}, "spans.s.overlap_receiving", "true or false"),
        ({"colour": "red"}, "spans.s.colour", "unknown key"),
    ],
)
def test_bad_span_config_names_the_key_and_problem(mapping: dict, key: str, words: str) -> None:
    with pytest.raises(SpanConfigError) as exc:
        SpanConfig.from_mapping("s", mapping)
    assert exc.value.key == key
    assert words in exc.value.problem
