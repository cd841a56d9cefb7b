"""`callbox dsp dtmf` and `callbox dsp gen` run as subprocesses (the interface other tools use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cython_ext.wavfile import read_wav, read_wav_info, write_wav

ROOT = Path(__file__).resolve().parents[2]


def callbox(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "firmware.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("encoding", ["linear", "ulaw", "alaw"])
def test_gen_dtmf_then_detect_prints_one_json_line_per_digit(tmp_path: Path, encoding: str) -> None:
    wav = tmp_path / f"digits-{encoding}.wav"
    gen = callbox(
        "dsp", "gen", "dtmf", "5551234#", "--level", "-15", "--on-ms", "60", "--off-ms", "40",
        "--encoding", encoding, "-o", str(wav),
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    assert read_wav_info(wav)[1].encoding == encoding
    res = callbox("dsp", "dtmf", str(wav))
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["digit"] for d in lines] == list("5551234#")
    assert all(list(d) == ["file", "digit", "start_ms", "end_ms"] for d in lines)
    assert all(d["file"] == str(wav) for d in lines)
    for i, d in enumerate(lines):
        assert abs(d["start_ms"] - 100 * i) <= 5 and abs(d["end_ms"] - (100 * i + 60)) <= 5


def test_dtmf_bad_file_is_one_line_error_and_others_still_processed(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    assert callbox("dsp", "gen", "dtmf", "7", "-o", str(good)).returncode == 0
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio")
    stereo = tmp_path / "stereo.wav"
    stereo.write_bytes(read_bytes_stereo())
    missing = tmp_path / "missing.wav"
    res = callbox("dsp", "dtmf", str(bad), str(good), str(stereo), str(missing))
    assert res.returncode == 1
    assert [json.loads(line)["digit"] for line in res.stdout.splitlines()] == ["7"]
    errors = res.stderr.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in res.stderr
    for path, err in zip((bad, stereo, missing), errors, strict=True):
        assert str(path) in err


def read_bytes_stereo() -> bytes:
    import struct

    fmt = struct.pack("<HHIIHH", 1, 2, 8000, 32000, 4, 16)
    data = b"\0" * 400
    body = b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def test_dtmf_file_without_digits_prints_nothing(tmp_path: Path) -> None:
    wav = tmp_path / "quiet.wav"
    write_wav(wav, np.zeros(8000, dtype=np.int16))
    res = callbox("dsp", "dtmf", str(wav))
    assert res.returncode == 0 and res.stdout == ""


def test_gen_tone_zone_busy_has_the_cadence(tmp_path: Path) -> None:
    wav = tmp_path / "busy.wav"
    res = callbox(
        "dsp", "gen", "tone", "--zone", "us", "--tone", "busy", "--seconds", "2", "-o", str(wav)
    )
    assert res.returncode == 0, res.stderr
    x = read_wav(wav)
    assert len(x) == 16000
    assert np.any(x[100:3900]) and not np.any(x[4008:7992]) and np.any(x[8100:11900])


def test_gen_tone_unknown_zone_is_a_clear_error(tmp_path: Path) -> None:
    res = callbox(
        "dsp", "gen", "tone", "--zone", "mars", "--tone", "busy", "-o", str(tmp_path / "x.wav")
    )
    assert res.returncode == 1 and "unknown tone zone 'mars'" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "x.wav").exists()


def test_gen_dtmf_bad_digit_is_a_clear_error(tmp_path: Path) -> None:
    res = callbox("dsp", "gen", "dtmf", "12x", "-o", str(tmp_path / "x.wav"))
    assert res.returncode == 1 and "not a DTMF digit: 'x'" in res.stderr


def test_gen_callerid_writes_a_burst(tmp_path: Path) -> None:
    wav = tmp_path / "cid.wav"
    res = callbox(
        "dsp", "gen", "callerid", "--number", "6175551234", "--name", "SMITH JOHN",
        "--datetime", "11221430", "-o", str(wav),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    x = read_wav(wav)
    assert len(x) > 8000 * 0.2 and np.std(x.astype(float)) > 100
