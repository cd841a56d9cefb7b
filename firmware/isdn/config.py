"""Span configuration: `[spans.<name>]` in the box config, as a validated frozen dataclass.

```toml
[spans.carrier]
kind = "T1"            # "T1" or "E1"
framing = "esf"        # T1: "esf" | "d4"; E1: "crc4" | "no-crc4"
line_code = "b8zs"     # T1: "b8zs" | "ami"; E1: "hdb3" | "ami"
switch = "ni2"         # "ni2" | "dms100" | "5ess" (T1) | "euroisdn" (E1)
role = "cpe"           # "cpe" (box on a carrier's PRI) | "network" (box plays the carrier)
channels = "1-23"      # provisioned B-channels: "1-23", "1-15,17-31", or a list of numbers
overlap_receiving = false
[spans.carrier.timers] # seconds; any subset of t200 t203 t302 t303 t305 t308 t309 t310 t313 t316
t303 = 4.0
```
`SpanConfig.from_mapping(name, mapping)` raises `SpanConfigError` naming the key and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from firmware.isdn.channels import span_channels
from firmware.isdn.switch import SWITCHES


class SpanConfigError(ValueError):
    """A bad `[spans.<name>]` value: `key` is the dotted key path, `problem` what is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class IsdnTimers:
    """Layer 2 and layer 3 timers in seconds (Q.921 §5.9, Q.931 table 9-1/9-2 defaults)."""

    t200: float = 1.0
    t203: float = 10.0
    n200: int = 3
    t302: float = 15.0
    t303: float = 4.0
    t305: float = 30.0
    t308: float = 4.0
    t309: float = 6.0
    t310: float | None = None  # None: the switch type's default for the role
    t313: float = 4.0
    t316: float = 120.0
    n316: int = 2
    link_retry: float = 1.0


FRAMINGS = {"T1": ("esf", "d4"), "E1": ("crc4", "no-crc4")}
LINE_CODES = {"T1": ("b8zs", "ami"), "E1": ("hdb3", "ami")}


@dataclass(frozen=True)
class SpanConfig:
    name: str = "span1"
    kind: str = "T1"
    framing: str = "esf"
    line_code: str = "b8zs"
    switch: str = "ni2"
    role: str = "cpe"
    channels: tuple[int, ...] = ()  # empty: every B-channel of the span
    overlap_receiving: bool = False
    timers: IsdnTimers = field(default_factory=IsdnTimers)

    def __post_init__(self) -> None:
        p = f"spans.{self.name}"
        if self.kind not in FRAMINGS:
            raise SpanConfigError(f"{p}.kind", f"{self.kind!r} is neither 'T1' nor 'E1'")
        if self.framing not in FRAMINGS[self.kind]:
            raise SpanConfigError(
                f"{p}.framing",
                f"{self.framing!r} is not a {self.kind} framing (one of {FRAMINGS[self.kind]})",
            )
        if self.line_code not in LINE_CODES[self.kind]:
            raise SpanConfigError(
                f"{p}.line_code",
                f"{self.line_code!r} is not a {self.kind} line code "
                f"(one of {LINE_CODES[self.kind]})",
            )
        if self.switch not in SWITCHES:
            raise SpanConfigError(
                f"{p}.switch", f"unknown switch type {self.switch!r} (one of {list(SWITCHES)})"
            )
        if SWITCHES[self.switch].span_kind != self.kind:
            raise SpanConfigError(
                f"{p}.switch",
                f"{self.switch} runs on {SWITCHES[self.switch].span_kind} spans, "
                f"this span is {self.kind}",
            )
        if self.role not in ("cpe", "network"):
            raise SpanConfigError(f"{p}.role", f"{self.role!r} is neither 'cpe' nor 'network'")
        valid = set(span_channels(self.kind))
        for ch in self.channels:
            if ch not in valid:
                raise SpanConfigError(f"{p}.channels", f"{self.kind} span has no B-channel {ch}")
        if len(set(self.channels)) != len(self.channels):
            raise SpanConfigError(f"{p}.channels", "a channel is listed twice")
        for f in fields(self.timers):
            v = getattr(self.timers, f.name)
            if v is not None and (not isinstance(v, int | float) or v <= 0):
                raise SpanConfigError(f"{p}.timers.{f.name}", f"{v!r} is not a positive number")

    @property
    def network(self) -> bool:
        return self.role == "network"

    @property
    def provisioned(self) -> tuple[int, ...]:
        return self.channels or span_channels(self.kind)

    @classmethod
    def from_mapping(cls, name: str, m: Mapping[str, Any]) -> SpanConfig:
        p = f"spans.{name}"
        known = {f.name for f in fields(cls)} - {"name"}
        for key in m:
            if key not in known:
                raise SpanConfigError(f"{p}.{key}", f"unknown key (known: {sorted(known)})")
        kw: dict[str, Any] = {"name": name}
        for key in ("kind", "framing", "line_code", "switch", "role"):
            if key in m:
                if not isinstance(m[key], str):
                    raise SpanConfigError(f"{p}.{key}", f"{m[key]!r} is not a string")
                kw[key] = m[key]
        if "kind" in kw and "framing" not in m:
            kw["framing"] = FRAMINGS[kw["kind"]][0] if kw["kind"] in FRAMINGS else "esf"
        if "kind" in kw and "line_code" not in m:
            kw["line_code"] = LINE_CODES[kw["kind"]][0] if kw["kind"] in LINE_CODES else "b8zs"
        if "overlap_receiving" in m:
            if not isinstance(m["overlap_receiving"], bool):
                raise SpanConfigError(f"{p}.overlap_receiving", "must be true or false")
            kw["overlap_receiving"] = m["overlap_receiving"]
        if "channels" in m:
            kw["channels"] = parse_channels(m["channels"], f"{p}.channels")
        if "timers" in m:
            t = m["timers"]
            if not isinstance(t, Mapping):
                raise SpanConfigError(f"{p}.timers", "must be a table")
            tk = {f.name for f in fields(IsdnTimers)}
            for key, v in t.items():
                if key not in tk:
                    raise SpanConfigError(
                        f"{p}.timers.{key}", f"unknown timer (known: {sorted(tk)})"
                    )
                if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                    raise SpanConfigError(f"{p}.timers.{key}", f"{v!r} is not a positive number")
            kw["timers"] = IsdnTimers(**t)
        return cls(**kw)


def parse_channels(value: object, key: str) -> tuple[int, ...]:
    """`"1-15,17-31"`, `"5"` or `[1, 2, 3]` → a tuple of channel numbers."""
    out: list[int] = []
    if isinstance(value, str):
        for part in value.split(","):
            part = part.strip()
            lo_s, dash, hi_s = part.partition("-")
            try:
                lo = int(lo_s)
                hi = int(hi_s) if dash else lo
            except ValueError:
                raise SpanConfigError(key, f"{part!r} is not a channel number or range") from None
            if lo > hi:
                raise SpanConfigError(key, f"range {part!r} runs backwards")
            out.extend(range(lo, hi + 1))
    elif isinstance(value, list | tuple):
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                raise SpanConfigError(key, f"{v!r} is not a channel number")
            out.append(v)
    else:
        raise SpanConfigError(key, 'must be a string like "1-23" or a list of numbers')
    if not out:
        raise SpanConfigError(key, "no channels listed")
    return tuple(out)
