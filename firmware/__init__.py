"""callbox firmware: the application side of the appliance (call control, media, status)."""

__version__ = "0.1.0"
