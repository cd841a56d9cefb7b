"""DTMF caller ID (ETSI EN 300 659-1 Annex B style): "A<number>C", "D<number>C", "B00C"/"B10C".

The digits are played by the box's DTMF generator and heard by its DTMF detector
(`cython_ext.dtmf`); both implementations are exercised through `dsp_impl`.
"""

from __future__ import annotations

import numpy as np
import pytest
from callerid_line import add_noise, in_blocks, to_int16

from cython_ext import callerid as cid
from cython_ext.dtmf import dtmf_signal

RATE = 8000


def dtmf_cid(digits: str, level: float = -10.0) -> np.ndarray:
    body = dtmf_signal(digits, level_dbm0=level, on_ms=70, off_ms=70)
    return np.concatenate([np.zeros(800, np.int16), body, np.zeros(2400, np.int16)])


@pytest.mark.parametrize("start", ["A", "D"])
def test_annex_b_number_between_start_code_and_c(dsp_impl: str, start: str) -> None:
    rx = cid.CallerIdReceiver(impl=dsp_impl, standard="dtmf")
    got = rx.process(dtmf_cid(f"{start}4512345678C"))
    assert [m.number for m in got] == ["4512345678"]
    assert got[0].format == "dtmf" and got[0].standard == "dtmf"


@pytest.mark.parametrize(("digits", "code"), [("B00C", "O"), ("B10C", "P")])
def test_annex_b_absence_codes(dsp_impl: str, digits: str, code: str) -> None:
    got = cid.CallerIdReceiver(impl=dsp_impl, standard="dtmf").process(dtmf_cid(digits))
    assert [(m.number, m.number_absent) for m in got] == [(None, code)]


def test_hash_terminated_number() -> None:
    got = cid.CallerIdReceiver(standard="dtmf").process(dtmf_cid("A0612345678#"))
    assert [m.number for m in got] == ["0612345678"]


def test_sender_strings_round_trip_through_the_auto_receiver() -> None:
    for kwargs in ({"number": "31201234567"}, {"number_absent": "P"}, {"number_absent": "O"}):
        sig = cid.callerid_signal(**kwargs, standard="dtmf", lead_ms=100, tail_ms=300)
        got = cid.CallerIdReceiver(standard="auto").process(sig)
        assert [m.fields() for m in got] == [
            {
                **dict.fromkeys(("number", "name", "datetime", "number_absent", "name_absent")),
                **kwargs,
            }
        ]


@pytest.mark.parametrize("size", [1, 7, 160, 8000])
def test_blocks_of_any_length_give_the_same_message(dsp_impl: str, size: int) -> None:
    sig = to_int16(add_noise(dtmf_cid("A5551234C", -20.0), 20.0, -20.0, seed=8))
    rx = cid.CallerIdReceiver(impl=dsp_impl, standard="dtmf")
    assert [m.number for m in in_blocks(rx.process, sig, size)] == ["5551234"]


def test_unterminated_or_malformed_strings_are_errors() -> None:
    rx = cid.CallerIdReceiver(standard="dtmf")
    quiet = np.zeros(RATE, np.int16)
    assert rx.process(np.concatenate([dtmf_cid("A12345"), quiet])) == []  # no end code
    assert rx.errors == 1
    assert rx.process(dtmf_cid("B77C")) == []  # unknown absence code
    assert rx.process(dtmf_cid("A12*4C")) == []  # non-digit inside the number
    assert rx.errors == 3


def test_no_caller_id_from_speech() -> None:
    from corpus import speech_corpus

    rx = cid.CallerIdReceiver(standard="auto")
    assert rx.process(speech_corpus(120)) == []
