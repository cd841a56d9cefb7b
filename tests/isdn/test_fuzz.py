"""Fuzzing in the default run (a few thousand inputs) and the regression corpus replay.

The million-input run is tests/isdn/fuzz_q931.py (atheris); its interesting inputs live in
tests/isdn/corpus/ and are replayed here.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.isdn import ie as IE
from firmware.isdn import q931
from firmware.isdn.q921 import DataLink
from firmware.isdn.q931 import MessageType

from .fuzz_target import PROTECTED_CR, FuzzTarget

CORPUS = Path(__file__).parent / "corpus"
IE_IDS = sorted(IE.KNOWN_VARIABLE_IES) + [0x01, 0x0B, 0x55, 0x7A]


@st.composite
def information_element(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:  # single-octet element, shifts included
        return bytes((draw(st.integers(0x80, 0xFF)),))
    ident = draw(st.sampled_from(IE_IDS))
    contents = draw(st.binary(max_size=40))
    length = len(contents)
    if kind == 1:  # declared length disagrees with the contents
        length = draw(st.integers(0, 255))
    return bytes((ident, length)) + contents


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    pd = draw(st.sampled_from([0x08] * 8 + [0x09, 0x00]))
    crlen = draw(st.sampled_from([2] * 8 + [0, 1, 3, 0x12]))
    cr = draw(st.sampled_from([PROTECTED_CR, 0, 1, 0x21]) | st.integers(0, 0x7FFF))
    flag = draw(st.booleans())
    cr_bytes = (((0x80 if flag else 0) << 8) | cr).to_bytes(2, "big")[: max(crlen & 0x0F, 0)]
    mtype = draw(st.sampled_from([int(m) for m in MessageType]) | st.integers(0, 255))
    ies = draw(st.lists(information_element(), max_size=8))
    data = bytes((pd, crlen)) + cr_bytes + bytes((mtype,)) + b"".join(ies)
    if draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | messages())
def test_fuzz_decoder_returns_or_raises_format_error(data: bytes) -> None:
    try:
        d = q931.decode(data)
    except q931.Q931FormatError as e:
        assert e.kind.startswith("q931_")
        return
    assert d.message.mtype == data[4]
    for p in d.problems:
        assert p.kind in ("truncated", "oversized", "unknown", "out_of_sequence", "duplicate")


_targets = {"cpe": FuzzTarget("cpe"), "network": FuzzTarget("network")}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), st.sampled_from(["cpe", "network"]))
def test_fuzz_stack_survives_and_other_calls_stay_up(data: bytes, role: str) -> None:
    _targets[role](data)  # asserts inside: no exception, the protected call untouched


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(min_size=0, max_size=270), max_size=6), st.booleans())
def test_fuzz_lapd_never_raises(frames: list[bytes], network: bool) -> None:
    link = DataLink(network=network)
    link.start(0.0)
    t = 0.0
    for f in frames:
        t += 0.3
        link.receive(f, t)
        link.tick(t)
        link.flush()
        link.send(b"\x08\x02\x00\x01\x05", t)
    assert link.state in {4, 5, 6, 7, 8}


def test_fuzz_regression_corpus_replays() -> None:
    files = sorted(CORPUS.glob("*"))
    assert len(files) >= 50, "the regression corpus from fuzz_q931.py is missing"
    for role in ("network", "cpe"):  # the corpus was grown against the CPE side
        target = FuzzTarget(role)
        for f in files:
            target(f.read_bytes())
        assert target.inputs == len(files)
    # the corpus reaches the bad-input paths, each counted under its own kind
    kinds = set(target.total) | set(target.stack.counters)
    expected = {
        "q931_ie_truncated",
        "q931_ie_oversized",
        "q931_unknown_call",
        "q931_bad_cr_length",
        "q931_bad_pd",
        "q931_mandatory_ie_missing",
        "l2_bad_ea",
        "l2_bad_nr",
    }
    assert expected <= kinds, expected - kinds
