"""RecordWriter: every fact to its records, durably, before the shell publishes anything.

    records = RecordWriter(config.records)
    records.write(control.drain_facts())  # returns once queue_log, SQLite, Master.csv are on disk
    ...publish the same facts...

Per batch: the queue_log lines (each fsync'ed), then one SQLite transaction (queue events, agent
states, CDR rows; WAL + synchronous=FULL), then the Master.csv lines (each fsync'ed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from firmware.calld import facts as f
from firmware.config import RecordsConfig
from firmware.records.cdr import INSERT_CDR, MasterCsv, cdr_row
from firmware.records.queue_log import QueueLog, parse_line
from firmware.records.store import open_store


class RecordWriter:
    def __init__(
        self, config: RecordsConfig | None = None, *, dir: str | Path | None = None
    ) -> None:
        config = config or RecordsConfig(dir=Path(dir or "/var/lib/callbox"))
        base = Path(dir) if dir is not None else config.dir
        base.mkdir(parents=True, exist_ok=True)
        self.queue_log = QueueLog(base / config.queue_log)
        self.csv = MasterCsv(base / config.master_csv)
        self.db_path = base / config.database
        self.db: sqlite3.Connection = open_store(self.db_path)

    def write(self, facts: Iterable[f.Fact]) -> int:
        """Record every fact that has a record; returns how many records were written."""
        qrows: list[tuple[object, ...]] = []
        srows: list[tuple[object, ...]] = []
        cdrs: list[f.CallEnded] = []
        for fact in facts:
            for line in self.queue_log.write(fact):
                t, callid, queue, agent, event, data = parse_line(line)
                data = (data + [""] * 5)[:5]
                qrows.append((fact.t, callid, queue, agent, event, *data))
            if isinstance(fact, f.AgentStateChanged):
                srows.append(
                    (fact.t, fact.agent, fact.state.value, fact.call_id, fact.queue, fact.reason)
                )
            elif isinstance(fact, f.CallEnded):
                cdrs.append(fact)
        if qrows or srows or cdrs:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO queue_events (time, callid, queue, agent, event, data1, data2, "
                "data3, data4, data5) VALUES (?,?,?,?,?,?,?,?,?,?)",
                qrows,
            )
            self.db.executemany(
                "INSERT INTO agent_states (time, agent, state, call_id, queue, reason) "
                "VALUES (?,?,?,?,?,?)",
                srows,
            )
            self.db.executemany(INSERT_CDR, [cdr_row(c) for c in cdrs])
            self.db.execute("COMMIT")
        for c in cdrs:
            self.csv.append(c)
        return len(qrows) + len(srows) + len(cdrs)

    def close(self) -> None:
        self.queue_log.close()
        self.csv.close()
        self.db.close()
