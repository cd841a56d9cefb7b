"""Records: queue_log and CDR formats, durability under kill -9, and reports from the store."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from firmware.calld import facts as f
from firmware.records.cdr import COLUMNS, csv_line
from firmware.records.queue_log import QueueLog, lines_for, parse_line
from firmware.records.reports import figures
from firmware.records.store import StoreError, open_store
from firmware.records.writer import RecordWriter

REPO = Path(__file__).resolve().parents[2]
T = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
CALL = "1700000000.7"


def cdr(**kw: object) -> f.CallEnded:
    base: dict[str, object] = dict(
        t=T + 100, accountcode="", src="5551234", dst="5550100", dcontext="queue-sales",
        clid='"O\'Brien, Pat" <5551234>', channel="sim/trunk/1", dstchannel="sim/station/5",
        lastapp="Queue", lastdata="sales", start=T, answer=T + 6, end=T + 100, duration=100,
        billsec=94, disposition="ANSWERED", amaflags="DOCUMENTATION", uniqueid=CALL,
        userfield="main=1;queue:sales;agent:1001",
    )  # fmt: skip
    base.update(kw)
    return f.CallEnded(**base)  # type: ignore[arg-type]


# ---- formats -----------------------------------------------------------------------------------


def test_queue_log_lines_in_asterisk_format() -> None:
    cases: list[tuple[f.Fact, list[str]]] = [
        (f.CallQueued(T, CALL, "sales", 2, "5551234"),
         [f"1700000000|{CALL}|sales|NONE|ENTERQUEUE||5551234|2"]),
        (f.AgentConnected(T + 12.4, CALL, "sales", "1001", 5, 12.4, 3.6),
         [f"1700000012|{CALL}|sales|Agent/1001|CONNECT|12|{CALL}|4"]),
        (f.CallCompleted(T + 99.9, CALL, "sales", "1001", f.HangupSide.CALLER, 12.4, 87.5, 2),
         [f"1700000099|{CALL}|sales|Agent/1001|COMPLETECALLER|12|88|2"]),
        (f.CallCompleted(T + 99, CALL, "sales", "1001", f.HangupSide.AGENT, 12.0, 87.0, 1),
         [f"1700000099|{CALL}|sales|Agent/1001|COMPLETEAGENT|12|87|1"]),
        (f.CallAbandoned(T + 30, CALL, "sales", 1, 3, 30.2),
         [f"1700000030|{CALL}|sales|NONE|ABANDON|1|3|30"]),
        (f.CallTimedOut(T + 600, CALL, "support", 1, 1, 600.0),
         [f"1700000600|{CALL}|support|NONE|EXITWITHTIMEOUT|1|1|600"]),
        (f.RingNoAnswer(T + 15, CALL, "sales", "1002", 15000),
         [f"1700000015|{CALL}|sales|Agent/1002|RINGNOANSWER|15000"]),
        (f.AgentLogin(T, "1001", "101", 5, ("sales", "support")),
         ["1700000000|NONE|NONE|Agent/1001|AGENTLOGIN|station/101",
          "1700000000|NONE|sales|Agent/1001|ADDMEMBER|",
          "1700000000|NONE|support|Agent/1001|ADDMEMBER|"]),
        (f.AgentLogoff(T + 3600, "1001", "101", 5, ("sales",), 3600.0),
         ["1700003600|NONE|sales|Agent/1001|REMOVEMEMBER|",
          "1700003600|NONE|NONE|Agent/1001|AGENTLOGOFF|station/101|3600"]),
        (f.AgentPaused(T, "1001", "lunch", ("sales", "support")),
         ["1700000000|NONE|sales|Agent/1001|PAUSE|lunch",
          "1700000000|NONE|support|Agent/1001|PAUSE|lunch"]),
        (f.AgentUnpaused(T, "1001", "lunch", ("sales",)),
         ["1700000000|NONE|sales|Agent/1001|UNPAUSE|lunch"]),
        (f.PortStatus(T, 1, "fxo", f.PortState.IDLE, T), []),
    ]  # fmt: skip
    for fact, want in cases:
        assert lines_for(fact) == want, fact


def test_master_csv_line_in_asterisk_column_order() -> None:
    line = csv_line(cdr())
    assert line == (
        '"","5551234","5550100","queue-sales","""O\'Brien, Pat"" <5551234>","sim/trunk/1",'
        '"sim/station/5","Queue","sales","2023-11-14 22:13:20","2023-11-14 22:13:26",'
        '"2023-11-14 22:15:00",100,94,"ANSWERED",'
        '"DOCUMENTATION","1700000000.7","main=1;queue:sales;agent:1001"'
    )
    assert len(COLUMNS) == 18
    row = next(csv.reader([csv_line(cdr(answer=None))]))  # what a CSV reader sees
    assert len(row) == 18 and row[4] == '"O\'Brien, Pat" <5551234>'
    assert row[COLUMNS.index("answer")] == ""  # a never-answered call


def test_store_is_wal_synchronous_full_and_migrates_once(tmp_path: Path) -> None:
    db = open_store(tmp_path / "r.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    open_store(tmp_path / "r.sqlite").close()  # reopening does not re-run the migration
    raw = sqlite3.connect(tmp_path / "r.sqlite")
    raw.execute("PRAGMA user_version=99")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(tmp_path / "r.sqlite")


def test_writer_puts_each_fact_in_every_record(tmp_path: Path) -> None:
    w = RecordWriter(dir=tmp_path)
    n = w.write(
        [
            f.CallQueued(T, CALL, "sales", 1, "5551234"),
            f.AgentStateChanged(T, "1001", "Ada", f.AgentState.ON_CALL, T, "101", CALL, "sales"),
            cdr(),
            f.QueueStats(T, "sales", 0, None),
        ]
    )
    assert n == 3
    w.close()
    assert (tmp_path / "queue_log").read_text().splitlines() == [
        f"1700000000|{CALL}|sales|NONE|ENTERQUEUE||5551234|1"
    ]
    assert (tmp_path / "Master.csv").read_text() == csv_line(cdr()) + "\n"
    db = open_store(tmp_path / "callbox.sqlite")
    assert db.execute("SELECT uniqueid, billsec FROM cdr").fetchall() == [(CALL, 94)]
    assert db.execute("SELECT event, data2 FROM queue_events").fetchall() == [
        ("ENTERQUEUE", "5551234")
    ]
    assert db.execute("SELECT agent, state FROM agent_states").fetchall() == [("1001", "on_call")]


def test_torn_last_line_is_cut_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(b"1700000000|NONE|NONE|NONE|QUEUESTART|\n1700000001|17000")
    with QueueLog(path) as ql:
        assert ql.repaired == len(b"1700000001|17000")
        ql.write(f.CallQueued(T + 5, CALL, "sales", 1, ""))
    lines = path.read_text().splitlines()
    assert lines == [
        "1700000000|NONE|NONE|NONE|QUEUESTART|",
        f"1700000005|{CALL}|sales|NONE|ENTERQUEUE|||1",
    ]
    assert all(parse_line(line)[4] for line in lines)


# ---- durability: kill -9 the writer mid-stream ----------------------------------------------


WRITER = textwrap.dedent(
    """
    import sys
    from firmware.calld import facts as f
    from firmware.records.writer import RecordWriter
    w = RecordWriter(dir=sys.argv[1])
    i = 0
    while True:
        i += 1
        call = f"1700000000.{i}"
        w.write([
            f.CallQueued(1700000000.0 + i, call, "sales", 1, str(i)),
            f.CallEnded(1700000000.0 + i, "", str(i), "5550100", "ivr", "", "sim/trunk/1", "",
                        "Hangup", "", 1700000000.0, 1700000000.0, 1700000000.0 + i, i, i,
                        "ANSWERED", "DOCUMENTATION", call, ""),
        ])
        print(i, flush=True)  # acknowledged: write() returned
    """
)


def test_every_acknowledged_record_survives_kill_9(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = int(line)
        if acked >= 150:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for line in proc.stdout:  # acks already in the pipe when it died
        acked = int(line)
    assert acked >= 150

    qlines = (tmp_path / "queue_log").read_text().splitlines()
    got = {int(parse_line(x)[5][1]) for x in qlines}
    assert set(range(1, acked + 1)) <= got
    csv_src = {
        int(x.split(",")[1].strip('"')) for x in (tmp_path / "Master.csv").read_text().splitlines()
    }
    assert set(range(1, acked + 1)) <= csv_src
    db = open_store(tmp_path / "callbox.sqlite")  # WAL recovery on open
    db_src = {int(r[0]) for r in db.execute("SELECT src FROM cdr")}
    assert set(range(1, acked + 1)) <= db_src
    # and the files stay usable: a new writer appends after them
    w = RecordWriter(dir=tmp_path)
    w.write([f.CallQueued(T, "x.1", "sales", 1, "0")])
    w.close()
    assert (tmp_path / "queue_log").read_text().endswith("|x.1|sales|NONE|ENTERQUEUE||0|1\n")


# ---- reports on a hand-built record set ------------------------------------------------------


def test_day_figures_from_hand_built_records(tmp_path: Path) -> None:
    """Four calls, two agents, one day:
    A: enters 0, connects 10 (hold 10), talks 100, wrap-up 20  -> handle 120
    B: enters 50, connects 80 (hold 30), talks 60, wrap-up 10   -> handle 70
    C: enters 60, abandons 75
    D: enters 200, connects 215 (hold 15), talks 45, no wrap-up  -> handle 45
    """
    w = RecordWriter(dir=tmp_path)
    A, S = f.AgentState, f.AgentStateChanged
    w.write(
        [
            S(T - 100, "1", "One", A.AVAILABLE, T - 100),
            S(T - 100, "2", "Two", A.AVAILABLE, T - 100),
            f.CallQueued(T + 0, "a", "sales", 1, ""),
            S(T + 10, "1", "One", A.ON_CALL, T + 10),
            f.AgentConnected(T + 10, "a", "sales", "1", 3, 10.0, 2.0),
            f.CallQueued(T + 50, "b", "sales", 1, ""),
            f.CallQueued(T + 60, "c", "support", 1, ""),
            f.CallAbandoned(T + 75, "c", "support", 1, 1, 15.0),
            S(T + 80, "2", "Two", A.ON_CALL, T + 80),
            f.AgentConnected(T + 80, "b", "sales", "2", 4, 30.0, 2.0),
            f.CallCompleted(T + 110, "a", "sales", "1", f.HangupSide.CALLER, 10.0, 100.0, 1),
            S(T + 110, "1", "One", A.WRAP_UP, T + 110),
            S(T + 130, "1", "One", A.AVAILABLE, T + 130),
            f.CallCompleted(T + 140, "b", "sales", "2", f.HangupSide.AGENT, 30.0, 60.0, 1),
            S(T + 140, "2", "Two", A.WRAP_UP, T + 140),
            S(T + 150, "2", "Two", A.PAUSED, T + 150),
            f.CallQueued(T + 200, "d", "sales", 1, ""),
            S(T + 215, "1", "One", A.ON_CALL, T + 215),
            f.AgentConnected(T + 215, "d", "sales", "1", 3, 15.0, 2.0),
            f.CallCompleted(T + 260, "d", "sales", "1", f.HangupSide.CALLER, 15.0, 45.0, 1),
            S(T + 260, "1", "One", A.AVAILABLE, T + 260),
        ]
    )
    fig = figures(w.db, T, T + 300, sl_threshold_s=20)
    assert (fig.offered, fig.answered, fig.abandoned, fig.timed_out) == (4, 3, 1, 0)
    assert fig.answered_within_sl == 2  # a (10 s) and d (15 s); b waited 30 s
    assert fig.service_level == pytest.approx(2 / 4)
    assert fig.asa == pytest.approx((10 + 30 + 15) / 3)
    assert fig.talk == pytest.approx((100 + 60 + 45) / 3)
    assert fig.wrapup == pytest.approx((20 + 10 + 0) / 3)
    assert fig.aht == pytest.approx((120 + 70 + 45) / 3)
    # window T..T+300: agent 1 handles 10-130 and 215-260 (165 s), available 0-10, 130-215,
    # 260-300 (135 s); agent 2 handles 80-150 (70 s), available 0-80 (80 s), then paused.
    assert fig.occupancy == pytest.approx((165 + 70) / (165 + 70 + 135 + 80))
    assert fig.queues["sales"]["offered"] == 3 and fig.queues["support"]["abandoned"] == 1
    assert fig.queues["sales"]["service_level"] == pytest.approx(2 / 3)
    # a window that excludes the later calls
    early = figures(w.db, T, T + 100)
    assert (early.offered, early.answered, early.abandoned) == (3, 2, 1)
