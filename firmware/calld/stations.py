"""Agent stations: the analog phones on FXS ports, and the feature codes dialled from them.

Feature codes (configurable, `[features]`): `*11 <agent> # <PIN> #` log in, `*12` log out,
`*13 <reason> #` pause, `*14` unpause, `*15` wrap-up done. `FeatureDialer` collects a station's
DTMF digits and says when a code is complete (`FeatureRequest`) or wrong (`FeatureFailure`: an
unknown code, or no digit for `digit_timeout_s`). Codes are never prefixes of each other (the
config checks it), so a code is recognised as soon as its last digit arrives. What a request does
(PIN check, pause reason names) is decided in control.py; the station hears `ok_prompt`,
`login_prompt`, `logout_prompt` on success and `error_prompt`/`login_failed_prompt` on failure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from firmware.config import FeatureCodes, Station


class Feature(enum.StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    WRAPUP_DONE = "wrapup_done"


# how many `#`-terminated fields follow each code
_FIELDS = {
    Feature.LOGIN: 2,
    Feature.LOGOUT: 0,
    Feature.PAUSE: 1,
    Feature.UNPAUSE: 0,
    Feature.WRAPUP_DONE: 0,
}


@dataclass(frozen=True)
class FeatureRequest:
    feature: Feature
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureFailure:
    reason: str  # "unknown code" or "timeout"
    dialled: str = ""


class FeatureDialer:
    """Collects one station's digits into feature codes."""

    def __init__(self, codes: FeatureCodes) -> None:
        self.codes = codes
        self.by_code = {getattr(codes, f.value): f for f in Feature}
        self.longest = max(len(c) for c in self.by_code)
        self.buffer = ""
        self.last_t: float | None = None

    @property
    def busy(self) -> bool:
        """Digits are pending (the agent is half-way through a code)."""
        return bool(self.buffer)

    def clear(self) -> None:
        self.buffer = ""
        self.last_t = None

    def digit(self, digit: str, now: float) -> FeatureRequest | FeatureFailure | None:
        self.buffer += digit
        self.last_t = now
        buf = self.buffer
        if not buf.startswith("*"):
            self.clear()
            return FeatureFailure("unknown code", buf)
        for code, feature in self.by_code.items():
            if buf.startswith(code):
                rest = buf[len(code) :]
                need = _FIELDS[feature]
                if rest.count("#") < need:
                    return None
                fields = tuple(rest.split("#")[:need]) if need else ()
                self.clear()
                return FeatureRequest(feature, fields)
        if len(buf) >= self.longest:
            self.clear()
            return FeatureFailure("unknown code", buf)
        return None

    def tick(self, now: float) -> FeatureFailure | None:
        if (
            self.buffer
            and self.last_t is not None
            and now - self.last_t >= self.codes.digit_timeout_s
        ):
            dialled = self.buffer
            self.clear()
            return FeatureFailure("timeout", dialled)
        return None


@dataclass
class StationLine:
    """A station's live state as call control tracks it."""

    config: Station
    offhook: bool = False
    agent: str = ""  # the agent logged in here
    ringing_call: str = ""  # the call this station is being rung for
    call: str = ""  # the call this station is on (whisper or connected)
    playing: str = ""  # play_id of a confirmation/whisper prompt playing, "" when none
    tone: bool = False  # a tone (dial, busy) is playing
    since: float = 0.0  # when the port state last changed
    dialer: FeatureDialer = field(init=False)
    codes: FeatureCodes | None = None

    def __post_init__(self) -> None:
        self.dialer = FeatureDialer(self.codes or FeatureCodes())

    @property
    def channel(self) -> int:
        return self.config.channel

    @property
    def nailed(self) -> bool:
        return self.config.mode == "nailed"

    def ready_for_offer(self) -> bool:
        """Can this station be offered a call right now (ignoring the agent's own state)?"""
        if self.call or self.ringing_call:
            return False
        if self.nailed:
            return self.offhook and not self.dialer.busy and not self.playing
        return not self.offhook
