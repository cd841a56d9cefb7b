"""`[spans.<name>]`: PRI spans in the box config, checked with file/key/problem messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from firmware.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / "firmware" / "dev.toml"


def config_with(tmp_path: Path, span: str) -> Path:
    text = DEV.read_text().replace('"prompts/', f'"{REPO}/firmware/prompts/')
    text = text.replace("trunks=4&stations=6", "trunks=4&stations=6&pri=T1")
    path = tmp_path / "callbox.toml"
    # dev.toml may already carry a span: replace it with the one under test
    head, _, _ = text.partition("[spans.")
    path.write_text(head + span)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return exc.value.problems


T1 = '[spans.carrier]\nkind = "T1"\nswitch = "ni2"\nbase_channel = 11\n'


def test_t1_span_defaults_and_card_channels(tmp_path: Path) -> None:
    c = load_config(config_with(tmp_path, T1 + 'channels = "1-12"\nnumber = "5550199"\n'))
    sp = c.spans["carrier"]
    assert (sp.isdn.kind, sp.isdn.framing, sp.isdn.line_code, sp.isdn.role) == (
        "T1",
        "esf",
        "b8zs",
        "cpe",
    )
    assert sp.dchannel == 34 and sp.card_span == 1
    assert sp.bchannels == {11 + ts - 1: ts for ts in range(1, 13)}
    assert sp.number == "5550199"


def test_e1_span_d_channel_is_timeslot_16(tmp_path: Path) -> None:
    c = load_config(config_with(tmp_path, '[spans.eu]\nkind = "E1"\nbase_channel = 11\n'))
    sp = c.spans["eu"]
    assert (sp.isdn.switch, sp.isdn.framing, sp.isdn.line_code) == ("euroisdn", "crc4", "hdb3")
    assert sp.dchannel == 26 and 26 not in sp.bchannels and len(sp.bchannels) == 30


def test_span_errors_name_file_key_and_problem(tmp_path: Path) -> None:
    path = config_with(
        tmp_path,
        '[spans.carrier]\nkind = "E1"\nswitch = "ni2"\nbase_channel = 11\n'
        '[spans.b]\nkind = "T1"\nbase_channel = 8\n[spans.c]\nkind = "T1"\nbogus = 1\n'
        '[spans.d]\nkind = "T1"\nbase_channel = 60\ndchannel = 70\nivr_menu = "nope"\n'
        '[spans.e]\nkind = "T1"\nchannels = "1-24"\nbase_channel = 100\n',
    )
    found = problems(path)
    prefix = f"{path}: "
    assert all(p.startswith(prefix) for p in found), found
    keys = {p[len(prefix) :].split(":")[0] for p in found}
    assert keys == {
        "spans.carrier.switch",  # NI2 is a T1 switch type
        "spans.b.base_channel",  # overlaps the stations (channels 5-10)
        "spans.c.bogus",
        "spans.c.base_channel",  # missing
        "spans.d.dchannel",  # not timeslot 24
        "spans.d.ivr_menu",
        "spans.e.channels",  # a T1 has no B-channel 24
    }, found
    assert any(
        "B-channel 1 would be card channel 8, which is also stations.104" in p for p in found
    )


def test_callbox_config_check_reports_a_bad_span(tmp_path: Path) -> None:
    path = config_with(tmp_path, T1 + 'role = "carrier"\n')
    out = subprocess.run(
        [sys.executable, "-m", "firmware.cli", "config", "check", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert f"{path}: spans.carrier.role: 'carrier' is neither 'cpe' nor 'network'" in (
        out.stdout + out.stderr
    )
    good = config_with(tmp_path, T1)
    out = subprocess.run(
        [sys.executable, "-m", "firmware.cli", "config", "check", str(good)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "carrier (T1 ni2 cpe, 23 B-channels on card channels 11-33, D-channel 34)" in out.stdout
