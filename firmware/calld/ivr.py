"""The IVR menu interpreter: one `IvrSession` per call, pure (no I/O, time passed in).

A menu plays its prompt; the caller may press a key while it plays (barge-in) or up to
`timeout_s` after it ends. A key that is a choice acts (queue, another menu, hang up, or play an
information prompt and repeat the menu). A key that is not a choice plays `invalid_prompt` and
the menu again; no key within the timeout plays `timeout_prompt` and the menu again. After
`retries` such replays the menu's `on_failure` action is taken. Hanging up plays the menu's
`goodbye_prompt` first.

The session says what to do next as an `IvrStep`; the call layer turns steps into media
commands and feeds back `prompt_done()` when the prompt it asked for has finished playing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from firmware.config import IvrAction, IvrConfig, Menu


class Phase(enum.StrEnum):
    PROMPT = "prompt"  # the menu prompt (or invalid/timeout + prompt) is playing; keys barge in
    WAITING = "waiting"  # prompt finished, waiting for a key until `deadline`
    INFO = "info"  # a "prompt:" choice is playing; the menu repeats after it
    GOODBYE = "goodbye"  # the goodbye prompt is playing; hang up after it
    DONE = "done"


@dataclass(frozen=True)
class IvrStep:
    """What the call should do now.

    play: start playing these files (replacing whatever plays); stop: stop the current prompt
    without a replacement; queue: leave the IVR into this queue; hangup: hang up now.
    choice: (digit, action, target) to record as an IvrChoice fact, when a choice was made.
    """

    play: tuple[Path, ...] = ()
    stop: bool = False
    queue: str = ""
    hangup: bool = False
    choice: tuple[str, str, str] | None = None
    menu: str = ""  # the menu now current (for the record)


class IvrSession:
    def __init__(self, ivr: IvrConfig, menu: str) -> None:
        self.ivr = ivr
        self.menu: Menu = ivr.menus[menu]
        self.retries_left = self.menu.retries
        self.phase = Phase.PROMPT
        self.deadline: float | None = None
        self.path: list[str] = []  # "menu=digit" entries, for the CDR userfield

    def start(self) -> IvrStep:
        """Enter the menu: play its prompt."""
        self.phase = Phase.PROMPT
        self.deadline = None
        return IvrStep(play=self.menu.prompt, menu=self.menu.name)

    def prompt_done(self, now: float) -> IvrStep:
        """The prompt this session asked for finished playing."""
        if self.phase is Phase.PROMPT:
            self.phase = Phase.WAITING
            self.deadline = now + self.menu.timeout_s
            return IvrStep(menu=self.menu.name)
        if self.phase is Phase.INFO:
            return self.start()
        if self.phase is Phase.GOODBYE:
            self.phase = Phase.DONE
            return IvrStep(hangup=True, menu=self.menu.name)
        return IvrStep(menu=self.menu.name)

    def digit(self, digit: str, now: float) -> IvrStep:
        """The caller pressed a key."""
        if self.phase not in (Phase.PROMPT, Phase.WAITING):
            return IvrStep(menu=self.menu.name)  # keys during info/goodbye prompts are ignored
        action = self.menu.choices.get(digit)
        if action is None:
            self.path.append(f"{self.menu.name}={digit}?")
            return self._retry(self.menu.invalid_prompt, (digit, "invalid", ""))
        self.path.append(f"{self.menu.name}={digit}")
        return self._act(action, (digit, action.action, action.target))

    def tick(self, now: float) -> IvrStep | None:
        """Timers: a step when the wait for a key ran out, else None."""
        if self.phase is Phase.WAITING and self.deadline is not None and now >= self.deadline:
            self.path.append(f"{self.menu.name}=timeout")
            return self._retry(self.menu.timeout_prompt, ("", "timeout", ""))
        return None

    # ---- internals

    def _retry(self, feedback: tuple[Path, ...], choice: tuple[str, str, str]) -> IvrStep:
        if self.retries_left <= 0:
            step = self._act(self.menu.on_failure, None)
            return IvrStep(
                play=step.play,
                stop=step.stop,
                queue=step.queue,
                hangup=step.hangup,
                choice=choice,
                menu=step.menu,
            )
        self.retries_left -= 1
        self.phase = Phase.PROMPT
        self.deadline = None
        return IvrStep(play=feedback + self.menu.prompt, choice=choice, menu=self.menu.name)

    def _act(self, action: IvrAction, choice: tuple[str, str, str] | None) -> IvrStep:
        self.deadline = None
        if action.action == "queue":
            self.phase = Phase.DONE
            return IvrStep(stop=True, queue=action.target, choice=choice, menu=self.menu.name)
        if action.action == "menu":
            self.menu = self.ivr.menus[action.target]
            self.retries_left = self.menu.retries
            self.phase = Phase.PROMPT
            return IvrStep(play=self.menu.prompt, choice=choice, menu=self.menu.name)
        if action.action == "prompt":
            self.phase = Phase.INFO
            return IvrStep(play=action.prompt, choice=choice, menu=self.menu.name)
        # hangup
        if self.menu.goodbye_prompt:
            self.phase = Phase.GOODBYE
            return IvrStep(play=self.menu.goodbye_prompt, choice=choice, menu=self.menu.name)
        self.phase = Phase.DONE
        return IvrStep(stop=True, hangup=True, choice=choice, menu=self.menu.name)

    # ---- recovery

    def to_dict(self) -> dict[str, object]:
        return {
            "menu": self.menu.name,
            "retries_left": self.retries_left,
            "phase": self.phase.value,
            "deadline": self.deadline,
            "path": list(self.path),
        }

    @classmethod
    def from_dict(cls, ivr: IvrConfig, data: dict[str, object]) -> IvrSession:
        menu = str(data["menu"])
        s = cls(ivr, menu if menu in ivr.menus else next(iter(ivr.menus)))
        s.retries_left = int(data.get("retries_left", s.retries_left))  # type: ignore[call-overload]
        s.phase = Phase(str(data.get("phase", "prompt")))
        deadline = data.get("deadline")
        s.deadline = float(deadline) if isinstance(deadline, int | float) else None
        path = data.get("path", [])
        s.path = [str(p) for p in path] if isinstance(path, list) else []
        return s
