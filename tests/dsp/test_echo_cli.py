"""`callbox dsp echo` on real WAV files: espeak-ng speech through a G.168 echo path.

Runs the command line as a technician would (`python -m firmware.cli dsp echo ...` in a
subprocess) and checks the contract: OUT has NEAR's length and encoding and is sample-aligned
with it (equal to the canceller run in-process), stderr shows the attenuation per second
climbing, bad files give one clear line and exit status 1.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_echo import far_speech, line_return, run

from cython_ext.echo import EchoCanceller
from cython_ext.echo_paths import LineEcho
from cython_ext.wavfile import read_wav_info, write_wav

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware.cli", "dsp", "echo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("encoding", ["linear", "ulaw"])
def test_cli_out_is_aligned_cancelled_near_with_per_second_attenuation(
    tmp_path: Path, encoding: str
) -> None:
    far = far_speech(6.0, -15.0)
    sent, near, _ = line_return(far, LineEcho("D6", 32.0, 8.0), mulaw=encoding == "ulaw")
    near = near[: near.size - 1234]  # NEAR shorter than FAR: OUT follows NEAR
    write_wav(tmp_path / "far.wav", sent)
    write_wav(tmp_path / "near.wav", near, encoding=encoding)
    done = _cli(
        "--far",
        str(tmp_path / "far.wav"),
        "--near",
        str(tmp_path / "near.wav"),
        "--out",
        str(tmp_path / "out.wav"),
        "--impl",
        "compiled",
    )
    assert done.returncode == 0, done.stderr
    out, info = read_wav_info(tmp_path / "out.wav")
    assert info.encoding == encoding and out.size == near.size
    expected = run(EchoCanceller(impl="compiled"), sent[: near.size], near)
    if encoding == "ulaw":
        from cython_ext import g711

        expected = g711.ulaw_to_linear(g711.linear_to_ulaw(expected))
    assert np.array_equal(out, expected)
    att = [float(m) for m in re.findall(r"second \d+: attenuation ([-\d.]+) dB", done.stderr)]
    assert len(att) == 6 and att[-1] >= 27.0 and att[-1] > att[0] + 10.0, done.stderr
    assert "echo: converged yes" in done.stderr


def test_cli_bad_file_one_line_exit_1(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"not a wav file")
    write_wav(tmp_path / "ok.wav", np.zeros(800, np.int16))
    done = _cli(
        "--far",
        str(tmp_path / "ok.wav"),
        "--near",
        str(tmp_path / "bad.wav"),
        "--out",
        str(tmp_path / "out.wav"),
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "bad.wav" in done.stderr
    assert not (tmp_path / "out.wav").exists()
    done = _cli(
        "--far",
        str(tmp_path / "ok.wav"),
        "--near",
        str(tmp_path / "ok.wav"),
        "--out",
        str(tmp_path / "out.wav"),
        "--tail-ms",
        "1000",
    )
    assert done.returncode == 2 and "tail_ms" in done.stderr
