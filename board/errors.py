"""Board errors: `BoardError(OSError)` carries errno and what was being done (as periphery does)."""

from __future__ import annotations

import errno as _errno


class BoardError(OSError):
    """A telephony card or LED panel operation failed.

    `BoardError(errno, "what was being done: detail")`; `errno` may be 0 when the failure is not
    an operating-system error (a bad URL, a channel of the wrong kind).
    """

    def __init__(self, err: int, message: str) -> None:
        super().__init__(err, message)

    def __str__(self) -> str:
        return str(self.strerror) if not self.errno else f"{self.strerror} [errno {self.errno}]"


class BoardURLError(BoardError):
    """A card or panel URL that names no backend or has bad parameters."""

    def __init__(self, message: str) -> None:
        super().__init__(_errno.EINVAL, message)
