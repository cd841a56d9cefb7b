"""callbox-console runs under supervisord only when `[console] port` is set."""

from __future__ import annotations

import configparser
from pathlib import Path

from firmware.config import ConfigError, parse_config
from firmware.supervisor import box_programs, supervisord_conf

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "firmware" / "callbox.example.toml"


def test_no_console_program_without_a_port(tmp_path: Path) -> None:
    names = [p.name for p in box_programs(tmp_path / "box.toml", tmp_path)]
    assert "callbox-console" not in names and "callbox-calld" in names


def test_console_program_on_the_configured_port_asks_calld_of_this_run(tmp_path: Path) -> None:
    programs = box_programs(tmp_path / "box.toml", tmp_path, console_port="/dev/ttyS1")
    conf = configparser.RawConfigParser()
    conf.read_string(supervisord_conf(tmp_path, programs))
    command = conf["program:callbox-console"]["command"]
    assert "firmware.console.main" in command and "--port /dev/ttyS1" in command
    assert f"--socket {tmp_path / 'calld.sock'}" in command


def test_console_section_bad_values_name_file_key_and_problem() -> None:
    text = EXAMPLE.read_text().replace('port = ""  ', 'port = "ttyS0"', 1)
    text = text.replace("baud = 115200", "baud = 115201").replace("lockout_s = 300", "lockout = 3")
    try:
        parse_config(text, EXAMPLE)
    except ConfigError as exc:
        problems = "\n".join(exc.problems)
    else:
        raise AssertionError("a bad [console] section was accepted")
    assert f"{EXAMPLE}: console.port: 'ttyS0' is not a device path" in problems
    assert f"{EXAMPLE}: console.baud: 115201 is not a serial speed" in problems
    assert f"{EXAMPLE}: console.lockout: unknown key" in problems


def test_example_console_section_reads_as_documented() -> None:
    console = parse_config(EXAMPLE.read_text(), EXAMPLE).console
    assert (console.port, console.baud, console.max_failures) == ("", 115200, 5)
    assert (console.lockout_s, console.idle_timeout_s) == (300.0, 600.0)
    assert console.password_file == Path("/var/lib/callbox/console-password")
