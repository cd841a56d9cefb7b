"""Per-switch-type variations of Q.931 on a PRI.

Only what the stack does differently per switch lives here; everything else is the common
Q.931 procedure in `calls.py`. The differences come from what the switches expect on the wire
(see shared/ISDN_WIRE.md): the companding law in the bearer capability, the span kind, the
display IE's leading type octet on NI2, and EuroISDN's Sending Complete in every SETUP.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.isdn.ie import LAYER1_ALAW, LAYER1_ULAW


@dataclass(frozen=True)
class SwitchVariant:
    name: str
    description: str
    span_kind: str  # "T1" or "E1"
    layer1: int  # bearer capability user information layer 1 protocol
    display_prefix: bytes = b""  # octet(s) put before display text
    sending_complete_in_setup: bool = False
    calling_number_plan: int = 1  # ISDN/E.164
    t310: float = 10.0  # user side default; the network side uses `t310_network`
    t310_network: float = 30.0


SWITCHES: dict[str, SwitchVariant] = {
    "ni2": SwitchVariant(
        "ni2", "National ISDN-2 (North America)", "T1", LAYER1_ULAW, display_prefix=b"\xb1"
    ),
    "dms100": SwitchVariant("dms100", "Nortel DMS-100", "T1", LAYER1_ULAW),
    "5ess": SwitchVariant("5ess", "Lucent/AT&T 5ESS", "T1", LAYER1_ULAW),
    "euroisdn": SwitchVariant(
        "euroisdn",
        "EuroISDN (ETSI EN 300 102, CTR4)",
        "E1",
        LAYER1_ALAW,
        sending_complete_in_setup=True,
    ),
}


def switch_variant(name: str) -> SwitchVariant:
    try:
        return SWITCHES[name]
    except KeyError:
        raise ValueError(f"unknown switch type {name!r} (one of: {', '.join(SWITCHES)})") from None
