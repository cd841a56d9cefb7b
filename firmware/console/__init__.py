"""callbox-console: the technicians' serial console (README.md beside this file)."""
