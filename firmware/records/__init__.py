"""Records: Asterisk-compatible queue_log and Master.csv, and the SQLite store. See README.md."""
