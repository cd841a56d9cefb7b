"""The console session, pure: bytes in, actions out (firmware/console/session.py, render.py)."""

from __future__ import annotations

from typing import Any

import pytest

from firmware.config import ConsoleConfig, verify_pin
from firmware.console.render import render_command, span_detail
from firmware.console.session import (
    MAX_LINE,
    ConsoleSession,
    LineEditor,
    Query,
    SavePassword,
    Write,
)

PASSWORD = "tech-secret-1"
CONFIG = ConsoleConfig(port="/dev/null", max_failures=3, lockout_s=60.0, idle_timeout_s=300.0)

# a span payload as calld publishes it (MQTT span/<name>/status; firmware/calld/spans.py)
SNAPSHOT: dict[str, Any] = {
    "box": {"site": "hq", "box": "box1"},
    "media": {"now": 1000.0, "state": "running", "clock": "virtual", "errors": 0},
    "mqtt": None,
    "view": {
        "status": {"state": "online", "clock": "virtual", "media": {"state": "up"}},
        "queues": {"sales": {"waiting": 2, "oldest_since": 970.0, "offered": 9, "answered": 7}},
        "agents": {"1001": {"name": "Alice", "state": "on_call", "since": 940.0}},
        "ports": {"1": {"kind": "fxo", "name": "main", "state": "idle", "since": 0.0}},
        "spans": {
            "carrier": {
                "kind": "T1",
                "switch": "ni2",
                "role": "cpe",
                "link": "down",
                "alarm": "red",
                "since": 880.0,
                "channels": {"idle": [1, 2, 4], "in_use": [3], "out_of_service": [5, 6, 7, 9]},
                "calls": 1,
                "rejected": {"bad_frames": 2},
            }
        },
        "recent": [{"kind": "alarm", "t": 880.0, "source": "span/carrier", "alarm": "red"}],
    },
}


def text_of(actions: list[Any]) -> str:
    return b"".join(a.data for a in actions if isinstance(a, Write)).decode(errors="replace")


def run(session: ConsoleSession, data: bytes, now: float = 1.0) -> tuple[str, list[Any]]:
    """Feed bytes and answer every query from SNAPSHOT, as the I/O edge would."""
    out: list[Any] = []
    for a in session.feed(data, now):
        out.append(a)
        if isinstance(a, Query):
            out += session.answer(a, {"ok": True, "snapshot": SNAPSHOT})
    return text_of(out), out


def logged_in() -> ConsoleSession:
    s = ConsoleSession(CONFIG, None, render_command)
    s.start(0.0)
    run(s, f"{PASSWORD}\r{PASSWORD}\r".encode())
    assert s.state == "shell"
    return s


def test_editor_ends_lines_on_cr_lf_and_crlf_once_each() -> None:
    ed = LineEditor()
    lines = [p for k, p in ed.feed(b"a\rb\nc\r\nd\n\re\r\r\n") if k == "line"]
    assert lines == [b"a", b"b", b"c", b"d", b"", b"e", b""]


def test_editor_backspace_and_del_erase_a_whole_utf8_character() -> None:
    ed = LineEditor()
    events = ed.feed("spaé\x7fn\x08ns\r".encode())
    assert [p for k, p in events if k == "line"] == [b"spans"]
    assert b"\b \b" in b"".join(p for k, p in events if k == "echo")


def test_editor_without_echo_shows_nothing_of_the_password() -> None:
    ed = LineEditor(echo=False)
    events = ed.feed(b"hunter22\r")
    assert b"".join(p for k, p in events if k == "echo") == b"\r\n"


def test_first_login_sets_password_twice_and_saves_only_a_hash() -> None:
    s = ConsoleSession(CONFIG, None, render_command)
    assert "choose one" in text_of(s.start(0.0))
    text, actions = run(s, b"short\r")
    assert "too short" in text and s.state == "set"
    text, actions = run(s, f"{PASSWORD}\rsomething-else\r".encode())
    assert "did not match" in text and s.state == "set"
    text, actions = run(s, f"{PASSWORD}\r{PASSWORD}\r".encode())
    saved = [a for a in actions if isinstance(a, SavePassword)]
    assert len(saved) == 1 and verify_pin(PASSWORD, saved[0].password_hash)
    assert PASSWORD not in saved[0].password_hash and PASSWORD not in text
    assert s.state == "shell" and text.endswith("callbox> ")


def test_login_checks_the_stored_hash() -> None:
    s = logged_in()
    stored = s.password_hash
    again = ConsoleSession(CONFIG, stored, render_command)
    assert text_of(again.start(0.0)).endswith("password: ")
    text, _ = run(again, b"wrong-password\r")
    assert "login incorrect" in text and again.state == "login"
    text, _ = run(again, f"{PASSWORD}\r".encode())
    assert "logged in" in text and again.state == "shell"
    assert again.counters["failed_logins"] == 1 and again.counters["logins"] == 1


def test_three_failures_lock_out_until_lockout_s_passes() -> None:
    s = ConsoleSession(CONFIG, logged_in().password_hash, render_command)
    s.start(0.0)
    text, _ = run(s, b"bad-one-1\rbad-one-2\rbad-one-3\r", now=10.0)
    assert "locked for 60 s" in text and s.state == "locked"
    assert s.counters == {**s.counters, "failed_logins": 3, "lockouts": 1}
    text, _ = run(s, f"{PASSWORD}\r".encode(), now=30.0)  # the right password does not help
    assert "locked for 40 s more" in text and s.state == "locked"
    assert s.tick(69.0) == []
    assert "unlocked" in text_of(s.tick(70.0)) and s.state == "login"
    text, _ = run(s, f"{PASSWORD}\r".encode(), now=71.0)
    assert s.state == "shell"


def test_idle_timeout_logs_out() -> None:
    s = logged_in()
    run(s, b"help\r", now=100.0)
    assert s.tick(399.0) == []
    assert "idle timeout" in text_of(s.tick(400.0)) and s.state == "login"
    assert s.counters["idle_logouts"] == 1


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"spans\x1b[A\r", "control byte 0x1b at column 6"),
        (b"sp\xffans\r", "not UTF-8 (byte 0xff at column 3)"),
        (b"x" * (MAX_LINE + 50) + b"\r", f"line longer than {MAX_LINE} bytes"),
    ],
)
def test_bad_line_is_refused_counted_and_session_goes_on(line: bytes, why: str) -> None:
    s = logged_in()
    text, _ = run(s, line + b"queues\r")
    assert f"error: {why} (line ignored)" in text
    assert s.counters["bad_lines"] == 1 and s.state == "shell"
    assert "sales" in text  # the next line ran


def test_unknown_command_and_wrong_arguments_are_counted() -> None:
    s = logged_in()
    text, _ = run(s, b"reboot\rspan\r")
    assert "unknown command 'reboot'" in text and "usage: span NAME" in text
    assert s.counters["unknown_commands"] == 2


def test_spans_and_span_show_b_channel_states_and_counters() -> None:
    s = logged_in()
    text, _ = run(s, b"spans\rspan carrier\r")
    row = next(ln for ln in text.splitlines() if ln.startswith("carrier "))
    assert row.split()[1:5] == ["T1", "ni2", "down", "red"]
    assert "3 idle, 1 in use, 4 out of service" in row
    detail = span_detail(SNAPSHOT, "carrier")
    assert "    idle              3  1-2,4" in detail
    assert "    out of service    4  5-7,9" in detail
    assert "  rejected input: bad_frames 2" in detail
    assert "  alarm  red for 2:00" in detail


def test_span_unknown_name_lists_the_spans() -> None:
    s = logged_in()
    text, _ = run(s, b"span nope\r")
    assert "error: no span 'nope' (spans: carrier)" in text and text.endswith("callbox> ")


def test_alarms_lists_spans_in_alarm_and_recent_alarm_events() -> None:
    s = logged_in()
    text, _ = run(s, b"alarms\r")
    assert "span carrier: alarm red, link down, for 2:00" in text
    assert "span/carrier  red" in text


def test_sections_and_status_are_the_status_view() -> None:
    s = logged_in()
    text, _ = run(s, b"lines\ragents\rstatus\r")
    assert "fxo" in text and "Alice" in text and "hq/box1" in text and "mqtt: disabled" in text


def test_calld_unreachable_is_an_error_not_a_crash() -> None:
    s = logged_in()
    (q,) = s.feed(b"status\r", 1.0)[1:]
    assert isinstance(q, Query)
    text = text_of(s.answer(q, {"ok": False, "error": "no such file"}))
    assert "error: cannot ask calld: no such file" in text and text.endswith("callbox> ")


def test_logout_returns_to_the_password_prompt() -> None:
    s = logged_in()
    text, _ = run(s, b"logout\r")
    assert text.endswith("password: ") and s.state == "login"


def test_alarms_reports_the_media_engine_link_down_and_nothing_when_all_is_well() -> None:
    view = SNAPSHOT["view"]
    down = {**view, "status": {"media": {"state": "down", "since": 990.0}}}
    lines = render_command("alarms", "", {**SNAPSHOT, "view": down})
    assert "media engine: down since 0:10" in lines
    calm_span = {**view["spans"]["carrier"], "alarm": "clear", "link": "up"}
    calm = {**view, "spans": {"carrier": calm_span}, "recent": []}
    assert render_command("alarms", "", {**SNAPSHOT, "view": calm}) == ["no alarms"]
