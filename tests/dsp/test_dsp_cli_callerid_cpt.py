"""`callbox dsp callerid` and `callbox dsp cpt` run as subprocesses on real WAV files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from cython_ext import callerid as cid
from cython_ext import tones
from cython_ext.wavfile import write_wav

ROOT = Path(__file__).resolve().parents[2]


def callbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware.cli", "dsp", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gen_then_decode_mdmf_bell202_and_sdmf_v23_and_dtmf(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    gen = callbox(
        "gen", "callerid", "--number", "6175551234", "--name", "SMITH JOHN",
        "--datetime", "11221430", "-o", str(a),
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    gen = callbox(
        "gen", "callerid", "--number-absent", "P", "--datetime", "01020304",
        "--standard", "v23", "--format", "sdmf", "-o", str(b),
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    write_wav(c, cid.callerid_signal(number="4512345678", standard="dtmf", tail_ms=300))
    res = callbox("callerid", str(a), str(b), str(c))
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert lines == [
        {
            "file": str(a),
            "number": "6175551234",
            "name": "SMITH JOHN",
            "datetime": "11221430",
            "number_absent": None,
            "name_absent": None,
        },
        {
            "file": str(b),
            "number": None,
            "name": None,
            "datetime": "01020304",
            "number_absent": "P",
            "name_absent": None,
        },
        {
            "file": str(c),
            "number": "4512345678",
            "name": None,
            "datetime": None,
            "number_absent": None,
            "name_absent": None,
        },
    ]


def test_callerid_through_a_ulaw_wav(tmp_path: Path) -> None:
    path = tmp_path / "u.wav"
    sig = cid.callerid_signal(number="2125550100", standard="v23", level_dbm0=-30.0)
    write_wav(path, sig, encoding="ulaw")
    res = callbox("callerid", str(path))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["number"] == "2125550100"


def test_callerid_bad_files_are_named_and_the_others_still_decoded(tmp_path: Path) -> None:
    good, silent, junk = tmp_path / "good.wav", tmp_path / "silent.wav", tmp_path / "junk.wav"
    write_wav(good, cid.callerid_signal(number="5551234", datetime="12312359"))
    write_wav(silent, np.zeros(8000, np.int16))
    junk.write_bytes(b"not a wav file at all")
    missing = tmp_path / "missing.wav"
    res = callbox("callerid", str(junk), str(silent), str(missing), str(good))
    assert res.returncode == 1
    errors = res.stderr.strip().splitlines()
    assert len(errors) == 3
    assert str(junk) in errors[0] and "RIFF" in errors[0]
    assert str(silent) in errors[1] and "no valid caller ID" in errors[1]
    assert str(missing) in errors[2]
    assert [json.loads(line)["file"] for line in res.stdout.splitlines()] == [str(good)]


def test_cpt_reports_each_tone_with_zone_and_sit_kind(tmp_path: Path) -> None:
    busy, sit = tmp_path / "busy.wav", tmp_path / "sit.wav"
    gen = callbox(
        "gen", "tone", "--zone", "de", "--tone", "busy", "--seconds", "4", "-o", str(busy)
    )
    assert gen.returncode == 0, gen.stderr
    write_wav(sit, tones.tone_signal(tones.zone("us").sit, 1.5, impl="reference"))
    res = callbox("cpt", "--zone", "de", str(busy))
    assert res.returncode == 0, res.stderr
    assert [json.loads(line) for line in res.stdout.splitlines()] == [
        {"file": str(busy), "tone": "busy", "start_ms": 0.0}
    ]
    res = callbox("cpt", str(sit))
    line = json.loads(res.stdout)
    assert (line["tone"], line["sit"], line["sit_code"]) == ("sit", "intercept", "IC")


def test_cpt_bad_file_and_bad_zone(tmp_path: Path) -> None:
    good, bad = tmp_path / "dial.wav", tmp_path / "bad.wav"
    write_wav(good, tones.tone_signal(tones.zone("uk").dial, 2.0, impl="reference"))
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    res = callbox("cpt", "--zone", "uk", str(bad), str(good))
    assert res.returncode == 1
    assert str(bad) in res.stderr
    assert [json.loads(line)["tone"] for line in res.stdout.splitlines()] == ["dial"]
    res = callbox("cpt", "--zone", "mars", str(good))
    assert res.returncode == 2 and "mars" in res.stderr
