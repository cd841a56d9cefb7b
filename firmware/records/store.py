"""The SQLite store: calls (CDR), queue events and agent states, for reports.

WAL journal, `synchronous=FULL`: a committed transaction is on disk. The schema is versioned
with `PRAGMA user_version`; `MIGRATIONS[i]` takes a database from version i to i+1, applied in
order in one transaction each when the store opens ("migrations-lite": add, never rewrite).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE cdr (
        uniqueid TEXT PRIMARY KEY,
        accountcode TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, dcontext TEXT NOT NULL,
        clid TEXT NOT NULL, channel TEXT NOT NULL, dstchannel TEXT NOT NULL,
        lastapp TEXT NOT NULL, lastdata TEXT NOT NULL,
        start REAL NOT NULL, answer REAL, "end" REAL NOT NULL,
        duration INTEGER NOT NULL, billsec INTEGER NOT NULL,
        disposition TEXT NOT NULL, amaflags TEXT NOT NULL, userfield TEXT NOT NULL
    );
    CREATE INDEX cdr_start ON cdr(start);
    CREATE TABLE queue_events (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL, callid TEXT NOT NULL, queue TEXT NOT NULL, agent TEXT NOT NULL,
        event TEXT NOT NULL,
        data1 TEXT NOT NULL DEFAULT '', data2 TEXT NOT NULL DEFAULT '',
        data3 TEXT NOT NULL DEFAULT '', data4 TEXT NOT NULL DEFAULT '',
        data5 TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX queue_events_time ON queue_events(time);
    CREATE TABLE agent_states (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL, agent TEXT NOT NULL, state TEXT NOT NULL,
        call_id TEXT NOT NULL, queue TEXT NOT NULL, reason TEXT NOT NULL
    );
    CREATE INDEX agent_states_time ON agent_states(agent, time);
    """,
]


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, corrupt file)."""


def open_store(path: str | Path) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the records database."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise StoreError(f"{path}: schema version {version} is newer than this firmware's")
    for i in range(version, len(MIGRATIONS)):
        db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in MIGRATIONS[i].split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute(f"PRAGMA user_version={i + 1}")
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
    return db
