"""FSK modem (cython_ext.fsk): Bell 202 (Telcordia GR-30) and V.23 (ETSI EN 300 659-1) at 1200 baud.

Every receiver test runs on the compiled kernel and the reference twin (`dsp_impl`).
"""

from __future__ import annotations

import numpy as np
import pytest
from callerid_line import add_noise, in_blocks, tilt, to_int16

from cython_ext import fsk
from cython_ext.levels import level_dbm0

RATE = 8000
DATA = bytes(range(0, 256, 7)) + b"\x00\xff\x55\xaa"


def burst(standard: str, data: bytes = DATA, *, level: float = -13.5, clock: float = 0.0):
    bits = [1] * 180 + fsk.async_bits(data) + [1] * 20
    sig = fsk.fsk_modulate(bits, standard, level_dbm0=level, clock_error=clock)
    return np.concatenate([np.zeros(400, np.int16), sig, np.zeros(400, np.int16)])


def received(chars: list[fsk.FskCharacter]) -> bytes:
    return bytes(c.value for c in chars if c.value >= 0)


def tone_frequency(samples: np.ndarray) -> float:
    """Frequency of the strongest spectral line (zero-padded FFT, 0.5 Hz bins)."""
    x = samples.astype(np.float64) * np.hanning(samples.size)
    spec = np.abs(np.fft.rfft(x, 16000))
    return float(np.argmax(spec)) * RATE / 16000


@pytest.mark.parametrize(
    ("standard", "mark", "space"), [("bell202", 1200, 2200), ("v23", 1300, 2100)]
)
def test_gr30_en300659_mark_and_space_frequencies(standard: str, mark: int, space: int) -> None:
    # GR-30 Bell 202: mark 1200 Hz, space 2200 Hz; EN 300 659-1 V.23: 1300 / 2100 Hz.
    ones = fsk.fsk_modulate([1] * 240, standard)
    zeros = fsk.fsk_modulate([0] * 240, standard)
    assert abs(tone_frequency(ones) - mark) <= 1.0
    assert abs(tone_frequency(zeros) - space) <= 1.0
    assert len(ones) == 1600  # 240 bits at 1200 baud = 200 ms
    assert abs(level_dbm0(ones) - -13.5) < 0.05


def test_transmitter_is_phase_continuous() -> None:
    sig = fsk.fsk_modulate([0, 1] * 100, "bell202", level_dbm0=0.0).astype(np.float64)
    # a phase jump would show as a sample-to-sample step larger than the fastest tone allows
    peak = np.max(np.abs(sig))
    assert np.max(np.abs(np.diff(sig))) <= peak * 2 * np.sin(np.pi * 2200 / RATE) * 1.01


def test_async_framing_start_data_lsb_first_stop() -> None:
    assert fsk.async_bits(b"\x01") == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert fsk.async_bits(b"\x80") == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    with pytest.raises(fsk.FskError):
        fsk.fsk_modulate([0, 2], "bell202")
    with pytest.raises(fsk.FskError):
        fsk.fsk_modulate([0, 1], "bell103")


@pytest.mark.parametrize("standard", ["bell202", "v23"])
def test_receiver_decodes_every_byte_value(dsp_impl: str, standard: str) -> None:
    data = bytes(range(256))
    chars = fsk.FskReceiver(impl=dsp_impl).process(burst(standard, data))
    assert received(chars) == data
    assert chars[0].lead_bits >= 170
    assert chars[0].mark_standard == standard


@pytest.mark.parametrize("size", [1, 7, 160, 8000])
def test_blocks_of_any_length_give_the_same_characters(dsp_impl: str, size: int) -> None:
    sig = to_int16(add_noise(burst("v23", level=-30.0), 14.0, -30.0, seed=5))
    whole = fsk.FskReceiver(impl=dsp_impl).process(sig)
    rx = fsk.FskReceiver(impl=dsp_impl)
    assert in_blocks(rx.process, sig, size) == whole
    assert rx.position == sig.size


def test_compiled_kernel_and_twin_agree_exactly() -> None:
    sig = to_int16(add_noise(burst("bell202", level=-36.0), 12.0, -36.0, seed=9))
    assert fsk.FskReceiver(impl="compiled").process(sig) == fsk.FskReceiver(
        impl="reference"
    ).process(sig)


@pytest.mark.parametrize("standard", ["bell202", "v23"])
@pytest.mark.parametrize("clock", [-0.01, 0.01])
def test_one_percent_clock_error_and_tilt_still_decode_and_identify(
    dsp_impl: str, standard: str, clock: float
) -> None:
    mark, space = fsk.FREQUENCIES[standard]
    for db in (-6.0, 6.0):
        sig = tilt(burst(standard, level=-20.0, clock=clock), db, mark, space)
        chars = fsk.FskReceiver(impl=dsp_impl).process(to_int16(sig))
        assert received(chars) == DATA
        assert chars[0].mark_standard == standard


def test_carrier_detect_ignores_minus_50_dbm0(dsp_impl: str) -> None:
    rx = fsk.FskReceiver(impl=dsp_impl)
    assert rx.process(burst("bell202", level=-50.0)) == []
    assert not rx.carrier


def test_carrier_loss_is_reported(dsp_impl: str) -> None:
    sig = np.concatenate([burst("bell202", b"\x42"), np.zeros(800, np.int16)])
    chars = fsk.FskReceiver(impl=dsp_impl).process(sig)
    assert chars[0].value == 0x42
    assert chars[-1].value == fsk.EVENT_CARRIER_LOST
    assert chars[-1].position < sig.size - 800 + 8 * 80  # within 80 ms of the end
