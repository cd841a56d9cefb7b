"""Hardware: telephony cards and LED panels, each behind one interface, chosen by URL.

`open_card("sim://?trunks=4&stations=8")` or `open_card("dahdi:///etc/dahdi/system.conf")`;
`open_led_panel("sim://?leds=48")`, `pca9685://…`, … Backends are imported only when their
scheme is used (a laptop never imports DAHDI or periphery code), through the explicit tables below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from board.errors import BoardError, BoardURLError

if TYPE_CHECKING:
    from board.card import Card

__all__ = ["BoardError", "BoardURLError", "open_card", "open_led_panel", "CARD_BACKENDS"]

# scheme: "module:factory" — the factory takes the URL string.
CARD_BACKENDS: dict[str, str] = {
    "sim": "board.sim.card:SimCard",
    "dahdi": "board.dahdi.card:DahdiCard",
}

LED_BACKENDS: dict[str, str] = {
    "sim": "board.led.sim:SimLedPanel",
    "pca9685": "board.led.pca9685:Pca9685Panel",
    "is31fl3731": "board.led.is31fl3731:Is31fl3731Panel",
    "apa102": "board.led.apa102:Apa102Panel",
    "gpio": "board.led.gpio:GpioPanel",
    "sysfs": "board.led.sysfs:SysfsPanel",
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
    """Open a telephony card by URL (`sim://…`, `dahdi://…`)."""
    card: Card = _open(CARD_BACKENDS, "card", url)
    return card


def open_led_panel(url: str) -> Any:
    """Open an LED panel by URL (`sim://`, `pca9685://`, `is31fl3731://`, `apa102://`, `gpio://`, `sysfs://`)."""
    return _open(LED_BACKENDS, "LED panel", url)
