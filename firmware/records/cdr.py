"""Call detail records: Asterisk's Master.csv (cdr_csv column order) and the SQLite cdr table.

Master.csv columns, as Asterisk's cdr_csv writes them with loguniqueid and loguserfield on:
accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer,
end, duration, billsec, disposition, amaflags, uniqueid, userfield. Text fields are quoted
(embedded quotes doubled), duration and billsec are bare integers, times are
`YYYY-MM-DD HH:MM:SS` in UTC (cdr_csv `usegmtime=yes`), an unanswered call's answer is "".
Every line is fsync'ed before `append()` returns.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from firmware.calld.facts import CallEnded

COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield",
)  # fmt: skip


def csv_time(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def csv_line(cdr: CallEnded) -> str:
    """One Master.csv line (without the newline)."""
    fields = []
    for col in COLUMNS:
        value = getattr(cdr, col)
        if col in ("duration", "billsec"):
            fields.append(str(int(value)))
        elif col in ("start", "answer", "end"):
            fields.append(_q(csv_time(value)))
        else:
            fields.append(_q(str(value)))
    return ",".join(fields)


class MasterCsv:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._cut_torn_line()

    def _cut_torn_line(self) -> None:
        size = os.fstat(self._fd).st_size
        if not size:
            return
        with open(self.path, "rb") as fh:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
        if not tail.endswith(b"\n"):
            nl = tail.rfind(b"\n")
            os.ftruncate(self._fd, size - len(tail) + nl + 1 if nl >= 0 else 0)
            os.fsync(self._fd)

    def append(self, cdr: CallEnded) -> str:
        line = csv_line(cdr)
        os.write(self._fd, (line + "\n").encode())
        os.fsync(self._fd)
        return line

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def cdr_row(cdr: CallEnded) -> tuple[object, ...]:
    return tuple(getattr(cdr, c) for c in COLUMNS)


INSERT_CDR = (
    "INSERT OR REPLACE INTO cdr (accountcode, src, dst, dcontext, clid, channel, dstchannel, "
    'lastapp, lastdata, start, answer, "end", duration, billsec, disposition, amaflags, '
    "uniqueid, userfield) VALUES (" + ",".join("?" * len(COLUMNS)) + ")"
)
