"""Hardware: telephony cards (and, later, LED panels), each behind one interface, chosen by URL.

`open_card("sim://?trunks=4&stations=8")`. Backends are imported only when their scheme is used
(a laptop never imports hardware code), through the explicit table below. Today the table holds
the simulated card; the DAHDI card (`dahdi://`) and the LED panel drivers (python-periphery) are
planned and listed in board/README.md, and are added here when they exist.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from board.errors import BoardError, BoardURLError

if TYPE_CHECKING:
    from board.card import Card

__all__ = ["BoardError", "BoardURLError", "open_card", "CARD_BACKENDS"]

# scheme: "module:factory" — the factory takes the URL string.
CARD_BACKENDS: dict[str, str] = {
    "sim": "board.sim.card:SimCard",
}


def _open(table: dict[str, str], what: str, url: str) -> Any:
    scheme = urlsplit(url).scheme
    if scheme not in table:
        known = ", ".join(f"{s}://" for s in table)
        raise BoardURLError(f"open {what} {url!r}: unknown scheme {scheme!r} (known: {known})")
    module_name, _, factory = table[scheme].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BoardURLError(
            f"open {what} {url!r}: backend {module_name} unavailable: {exc}"
        ) from exc
    return getattr(module, factory)(url)


def open_card(url: str) -> Card:
    """Open a telephony card by URL (`sim://…`)."""
    card: Card = _open(CARD_BACKENDS, "card", url)
    return card
