"""Config: every kind of mistake gives `FILE: key.path: problem (hint)`, all of them at once,
and `callbox config check` exits non-zero (run as a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cython_ext.wavfile import write_wav
from firmware.config import ConfigError, hash_pin, load_config, parse_config, verify_pin

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / "firmware" / "dev.toml"
EXAMPLE = REPO / "firmware" / "callbox.example.toml"


def dev_text() -> str:
    """dev.toml with its relative prompt paths made absolute (so it can live in tmp_path)."""
    return DEV.read_text().replace('"prompts/', f'"{REPO}/firmware/prompts/')


def problems(tmp_path: Path, text: str, name: str = "callbox.toml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).count("\n") == len(exc.value.problems)  # header + one line each
    return exc.value.problems


def one(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith(f"{tmp_path / 'callbox.toml'}: ")
    return found[0]


def callbox(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware.cli", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---- good configs ------------------------------------------------------------------------------


def test_dev_and_example_configs_are_valid() -> None:
    dev = load_config(DEV)
    assert dev.box.clock == "virtual" and len(dev.stations) == 6
    assert sum(len(g.channels) for g in dev.trunks.values()) == 4
    assert dev.queues["sales"].whisper == (REPO / "firmware/prompts/sales-call.wav",)
    assert dev.ivr.menus["main"].choices["1"].target == "sales"
    assert dev.media.moh["default"], "no music on hold files"
    load_config(EXAMPLE)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sounds").mkdir()
    write_wav(tmp_path / "sounds" / "mine.wav", np.zeros(800, np.int16))
    text = dev_text().replace('whisper = "', 'whisper = "sounds/mine.wav" #', 1)
    path = tmp_path / "callbox.toml"
    path.write_text(text)
    config = load_config(path)
    assert config.queues["sales"].whisper == (tmp_path / "sounds" / "mine.wav",)


def test_pin_hash_roundtrip_and_salt() -> None:
    h1, h2 = hash_pin("4321"), hash_pin("4321")
    assert h1 != h2, "unsalted"
    assert verify_pin("4321", h1) and verify_pin("4321", h2)
    assert not verify_pin("4322", h1)
    assert not verify_pin("4321", "plain-text")


# ---- each kind of mistake ----------------------------------------------------------------------


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace("tick_ms = 20", "tick_ms = 20\nclok = 1"))
    assert msg.endswith("box.clok: unknown key (did you mean 'clock'?)")


def test_unknown_section(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text() + "\n[dialler]\nx = 1\n")
    assert ": dialler: unknown key" in msg


def test_wrong_type(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace("port = 1883", 'port = "1883"'))
    assert msg.endswith("mqtt.port: must be an integer, not the string '1883'")


def test_out_of_range(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace("ring_timeout_s = 15", "ring_timeout_s = 0", 1))
    assert "queues.sales.ring_timeout_s: 0.0 is out of range (allowed 1…300 s)" in msg


def test_bad_choice(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace('mode = "nailed"', 'mode = "nailled"', 1))
    assert "stations.105.mode: 'nailled' is not allowed (did you mean 'nailed'?)" in msg


def test_missing_required(tmp_path: Path) -> None:
    text = dev_text().replace('card = "sim://?trunks=4&stations=6&seed=1&zone=us"', "")
    assert "board.card: missing" in one(tmp_path, text)


def test_missing_prompt_file_is_an_error_not_silence(tmp_path: Path) -> None:
    msg = one(
        tmp_path, dev_text().replace('invalid_prompt = "invalid"', 'invalid_prompt = "invalidd"')
    )
    assert "ivr.menus.main.invalid_prompt: prompt 'invalidd'" in msg
    assert "file not found" in msg and "did you mean 'invalid'?" in msg


def test_prompt_that_is_not_a_usable_wav(tmp_path: Path) -> None:
    (tmp_path / "text.wav").write_text("not audio")
    write_wav(tmp_path / "wide.wav", np.zeros(1600, np.int16), rate=16000)
    text = dev_text().replace(
        'goodbye_prompt = "goodbye"', 'goodbye_prompt = ["text.wav", "wide.wav"]'
    )
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert "goodbye_prompt: prompt 'text.wav'" in found[0] and "not a WAV file" in found[0]
    assert "prompt 'wide.wav'" in found[1] and "16000 Hz" in found[1]


def test_missing_music_on_hold(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace("/usr/share/asterisk/moh", str(tmp_path / "nomoh")))
    assert "media.moh_dir: music-on-hold folder" in msg and "not found" in msg


def test_empty_music_on_hold_folder(tmp_path: Path) -> None:
    (tmp_path / "moh").mkdir()
    msg = one(tmp_path, dev_text().replace("/usr/share/asterisk/moh", str(tmp_path / "moh")))
    assert "media.moh_dir: no .wav files" in msg


def test_reference_to_undefined_queue_menu_agent(tmp_path: Path) -> None:
    text = (
        dev_text()
        .replace('"1" = "queue:sales"', '"1" = "queue:sails"')
        .replace('ivr_menu = "main"', 'ivr_menu = "mian"')
        .replace('members = ["1001", "1002", "1003", "1005"]', 'members = ["1001", "1009"]')
    )
    found = problems(tmp_path, text)
    assert any(
        "ivr.menus.main.choices.1: queue 'sails' is not defined (did you mean 'sales'?)" in m
        for m in found
    )
    assert any("ports.trunks.main.ivr_menu: menu 'mian' is not defined" in m for m in found)
    assert any("queues.sales.members: agent '1009' is not defined" in m for m in found)


def test_channel_used_twice(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace("channel = 5\n", "channel = 4\n", 1))
    assert "stations.101.channel: channel 4 is also ports.trunks.main" in msg


def test_bad_channel_range(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace('channels = "1-4"', 'channels = "4-1"'))
    assert "ports.trunks.main.channels: bad channel range '4-1'" in msg


def test_answer_before_caller_id(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace("answer_after_rings = 2", "answer_after_rings = 1"))
    assert "answer_after_rings: 1 would answer before the caller ID arrives" in msg


def test_plain_pin_instead_of_hash(tmp_path: Path) -> None:
    text = dev_text()
    start = text.index('pin_hash = "scrypt')
    end = text.index("\n", start)
    msg = one(tmp_path, text[:start] + 'pin_hash = "1001"' + text[end:])
    assert (
        "agents.1001.pin_hash: is not a scrypt PIN hash (make one with `callbox config hash-pin`"
        in msg
    )
    assert "sim.agent_pins" not in msg


def test_sim_pin_that_does_not_match_the_hash(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace('1001 = "1001"', '1001 = "1111"'))
    assert "sim.agent_pins.1001: does not match the agent's pin_hash" in msg


def test_feature_codes_must_not_clash(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace('pause = "*13"', 'pause = "*1"'))
    assert "features.pause: '*1' is a prefix of login = '*11', logout = '*12'" in msg


def test_ivr_bad_key_and_action(tmp_path: Path) -> None:
    text = dev_text().replace('"2" = "queue:support"', '"22" = "queue:support"\n"3" = "transfer:x"')
    found = problems(tmp_path, text)
    assert any("choices.22: '22' is not a key" in m for m in found)
    assert any("choices.3: unknown action 'transfer'" in m for m in found)


def test_toml_syntax_error(tmp_path: Path) -> None:
    msg = one(tmp_path, dev_text().replace("[box]", "[box"))
    assert "TOML syntax" in msg


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = (
        dev_text()
        .replace("tick_ms = 20", "tick_ms = 25")
        .replace("port = 1883", "port = 70000")
        .replace('tone_zone = "us"', 'tone_zone = "mars"')
        .replace('invalid_prompt = "invalid"', 'invalid_prompt = "nope"')
    )
    found = problems(tmp_path, text)
    keys = sorted(m.split(": ")[1] for m in found)
    assert keys == ["box.tick_ms", "box.tone_zone", "ivr.menus.main.invalid_prompt", "mqtt.port"]


def test_parse_config_names_the_file_it_was_given() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config("[box]\n", "/etc/callbox/x.toml")
    assert all(m.startswith("/etc/callbox/x.toml: ") for m in exc.value.problems)
    assert any("box.site: missing" in m for m in exc.value.problems)


# ---- the command -------------------------------------------------------------------------------


def test_config_check_command_ok_and_summary() -> None:
    r = callbox("config", "check", str(DEV))
    assert r.returncode == 0, r.stderr
    assert f"{DEV}: OK" in r.stdout and "6 stations" in r.stdout


def test_config_check_command_fails_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(dev_text().replace("clock = ", "clok = ").replace("port = 1883", "port = -1"))
    r = callbox("config", "check", str(path))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert f"{path}: box.clok: unknown key (did you mean 'clock'?)" in lines
    assert any(line.startswith(f"{path}: mqtt.port: -1 is out of range") for line in lines)
    assert lines[-1] == f"{path}: 2 problems; config NOT usable"


def test_config_check_command_missing_file(tmp_path: Path) -> None:
    r = callbox("config", "check", str(tmp_path / "none.toml"))
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_hash_pin_command() -> None:
    r = callbox("config", "hash-pin", stdin="246810\n")
    assert r.returncode == 0, r.stderr
    assert verify_pin("246810", r.stdout.strip())
    bad = callbox("config", "hash-pin", stdin="12ab\n")
    assert bad.returncode == 1 and "4 to 12 digits" in bad.stderr
