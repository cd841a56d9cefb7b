"""G.711 µ-law and A-law against independent implementations, over every input.

Clauses: ITU-T G.711 Table 1 (A-law) and Table 2 (µ-law), with the two's-complement handling of
ITU-T G.191 (a negative sample quantises like its one's complement). Independent checks: Python's
`audioop` (the Sun/CCITT reference code; present in Python 3.11) and spandsp's `g711_encode` /
`g711_decode` (Debian libspandsp2). Both agree with G.191 on every A-law input and every positive
µ-law input; for negative µ-law inputs each uses a different convention (audioop rounds the
magnitude up, spandsp negates), so there the G.191 rule is checked as "code(x) = code(~x) with the
sign bit cleared", taking code(~x) from audioop and spandsp, and the number of inputs where the
two libraries differ from G.191 is pinned so a change shows.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import warnings

import numpy as np
import pytest

from cython_ext import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_LINEAR = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)
SPANDSP_ALAW, SPANDSP_ULAW = 0, 1


def _spandsp() -> ctypes.CDLL:
    name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
    lib = ctypes.CDLL(name)  # Debian libspandsp2: a missing library fails the test, never skips
    lib.g711_init.restype = ctypes.c_void_p
    lib.g711_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.g711_encode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.g711_decode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.g711_free.argtypes = [ctypes.c_void_p]
    return lib


def spandsp_encode(law: int, samples: np.ndarray) -> np.ndarray:
    lib = _spandsp()
    state = lib.g711_init(None, law)
    x = np.ascontiguousarray(samples, dtype=np.int16)
    out = np.zeros(len(x), dtype=np.uint8)
    lib.g711_encode(state, out.ctypes.data, x.ctypes.data, len(x))
    lib.g711_free(state)
    return out


def spandsp_decode(law: int, codes: np.ndarray) -> np.ndarray:
    lib = _spandsp()
    state = lib.g711_init(None, law)
    c = np.ascontiguousarray(codes, dtype=np.uint8)
    out = np.zeros(len(c), dtype=np.int16)
    lib.g711_decode(state, out.ctypes.data, c.ctypes.data, len(c))
    lib.g711_free(state)
    return out


def as_codes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def test_table1_alaw_encodes_all_65536_inputs_like_audioop_and_spandsp(dsp_impl: str) -> None:
    ours = as_codes(g711.linear_to_alaw(ALL_LINEAR, impl=dsp_impl))
    np.testing.assert_array_equal(ours, as_codes(audioop.lin2alaw(ALL_LINEAR.tobytes(), 2)))
    np.testing.assert_array_equal(ours, spandsp_encode(SPANDSP_ALAW, ALL_LINEAR))


def test_table1_alaw_decodes_all_256_codes_like_audioop_and_spandsp(dsp_impl: str) -> None:
    ours = g711.alaw_to_linear(ALL_CODES.tobytes(), impl=dsp_impl)
    assert ours.dtype == np.int16
    ref = np.frombuffer(audioop.alaw2lin(ALL_CODES.tobytes(), 2), dtype=np.int16)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ours, spandsp_decode(SPANDSP_ALAW, ALL_CODES))


def test_table2_ulaw_encodes_all_positive_inputs_like_audioop_and_spandsp(dsp_impl: str) -> None:
    ours = as_codes(g711.linear_to_ulaw(ALL_LINEAR, impl=dsp_impl))
    positive = ALL_LINEAR >= 0
    au = as_codes(audioop.lin2ulaw(ALL_LINEAR.tobytes(), 2))
    sp = spandsp_encode(SPANDSP_ULAW, ALL_LINEAR)
    np.testing.assert_array_equal(ours[positive], au[positive])
    np.testing.assert_array_equal(ours[positive], sp[positive])


def test_table2_ulaw_negative_inputs_follow_g191_ones_complement(dsp_impl: str) -> None:
    ours = as_codes(g711.linear_to_ulaw(ALL_LINEAR, impl=dsp_impl))
    negative = ALL_LINEAR < 0
    mirrored = (~ALL_LINEAR).astype(np.int16)  # the positive input sharing the interval
    au = as_codes(audioop.lin2ulaw(mirrored.tobytes(), 2)) & 0x7F
    sp = spandsp_encode(SPANDSP_ULAW, mirrored) & 0x7F
    np.testing.assert_array_equal(ours[negative], au[negative])
    np.testing.assert_array_equal(ours[negative], sp[negative])
    # The libraries' own negative-side conventions differ from G.191 on a few boundary inputs.
    au_direct = as_codes(audioop.lin2ulaw(ALL_LINEAR.tobytes(), 2))
    sp_direct = spandsp_encode(SPANDSP_ULAW, ALL_LINEAR)
    assert int(np.sum(ours != au_direct)) == 508
    assert int(np.sum(ours != sp_direct)) == 127
    assert int(np.sum(ours[~negative] != au_direct[~negative])) == 0


def test_table2_ulaw_decodes_all_256_codes_like_audioop_and_spandsp(dsp_impl: str) -> None:
    ours = g711.ulaw_to_linear(ALL_CODES.tobytes(), impl=dsp_impl)
    ref = np.frombuffer(audioop.ulaw2lin(ALL_CODES.tobytes(), 2), dtype=np.int16)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ours, spandsp_decode(SPANDSP_ULAW, ALL_CODES))


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_g711_decode_then_encode_returns_every_code(dsp_impl: str, law: str) -> None:
    enc = getattr(g711, f"linear_to_{law}")
    dec = getattr(g711, f"{law}_to_linear")
    back = as_codes(enc(dec(ALL_CODES, impl=dsp_impl), impl=dsp_impl))
    if law == "ulaw":  # 0x7F (-0) decodes to 0, which encodes as +0 (0xFF): G.711 has two zeros
        expected = ALL_CODES.copy()
        expected[0x7F] = 0xFF
    else:
        expected = ALL_CODES
    np.testing.assert_array_equal(back, expected)


@pytest.mark.parametrize("block", [1, 7, 160, 8000])
def test_g711_blocks_of_any_length_give_the_same_bytes(dsp_impl: str, block: int) -> None:
    rng = np.random.default_rng(711)
    x = rng.integers(-32768, 32768, 20000).astype(np.int16)
    for enc in (g711.linear_to_ulaw, g711.linear_to_alaw):
        whole = enc(x, impl=dsp_impl)
        parts = b"".join(enc(x[i : i + block], impl=dsp_impl) for i in range(0, len(x), block))
        assert parts == whole


def test_g711_compiled_and_reference_agree() -> None:
    for enc in (g711.linear_to_ulaw, g711.linear_to_alaw):
        assert enc(ALL_LINEAR, impl="compiled") == enc(ALL_LINEAR, impl="reference")


def test_g711_bad_input_is_a_clear_error() -> None:
    with pytest.raises(g711.G711Error):
        g711.linear_to_ulaw(np.array([40000]))
    with pytest.raises(g711.G711Error):
        g711.linear_to_alaw(np.array([0.5]))
    with pytest.raises(g711.G711Error):
        g711.ulaw_to_linear(np.array([256]))
    assert g711.linear_to_ulaw(np.array([0, -1], dtype=np.int64)) == bytes([0xFF, 0x7F])
    assert g711.ulaw_to_linear(b"").size == 0
