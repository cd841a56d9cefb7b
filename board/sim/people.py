"""Simulated people: callers on trunks and agents at stations, acting on what they hear.

Each person runs a script: a generator that yields `(condition, deadline)` — "wait until
`condition()` holds, or until the virtual time `deadline`" — and receives True (condition met)
or False (deadline passed). Scripts advance when the network looks and listens, every 100 ms of
virtual time, so a person reacts to sound with human latency, not sample accuracy.

What a person perceives comes from the audio only:
- *energy*: `Network.last_loud[row]`, the last tick its channel carried more than -42 dBm0 (a
  greeting that has ended is a stretch of quiet after sound);
- *voices*: `hear(who, …)`, called when the listener finds another party's transmitted audio in
  what this party heard (normalised correlation, `listener.py`). "The caller hears an agent"
  means an agent's voice reached the caller's line, not that a flag was set.

Caller (`caller-N`): waits for the box to answer (gives up after `ring_patience`), listens to
the greeting until it ends, presses its IVR digits as DTMF, then waits on hold; patience counts
from the end of the IVR until it hears an agent; it hangs up when patience runs out. Once it
hears an agent it converses (speaks a phrase whenever it has heard `gap` seconds of quiet) for
its holding time and hangs up, unless its plan says the agent ends the call.

Agent (`agent-ID`): sits at a station; logs in with `*11<agent>#<pin>#`, waits for the
confirmation; in `ring` mode hangs up and answers a ringing phone after 1–3 s, in `nailed` mode
stays off hook and takes the beep + whisper as the sign of a call. After the whisper it greets;
when it hears a caller it converses; it ends the call itself when the caller's plan says so
(`ring`: on hook; `nailed`: hook flash). It notices the caller gone when it recognises the
box's hang-up tone (busy, reorder or dial tone of the card's zone, found by the call-progress
detector `cython_ext.cpt` in the audio the station hears; it hangs up 0.4–1 s after
recognising it, about 2 s into a US busy tone), or else after hearing neither the caller for
10 s nor anything for 3 s. Then wrap-up: `*15` after `wrapup` seconds when given,
otherwise it leaves wrap-up to the box's timer. Pause (`*13<reason>#`), unpause (`*14`) and
logout (`*12`) are queued actions it dials when idle.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from board.sim.phone import PhoneError
from board.sim.voices import PHRASES, VOICES

if TYPE_CHECKING:
    from board.sim.line import CoLine
    from board.sim.network import Network, Outlet, Timer
    from board.sim.phone import Phone
    from board.sim.traffic import CallPlan

log = logging.getLogger(__name__)

Wait = tuple[Callable[[], bool] | None, float]
Script = Generator[Wait, bool, None]

#: heard segments of the same speaker closer than this merge into one
HEARD_MERGE_GAP = 5.0
HEARD_LOG_LIMIT = 2000
GREETING_QUIET = 1.2  # seconds of quiet that end a prompt
CONFIRM_QUIET = 0.8
RATE_SPREAD = 0.08
TURN_YIELD = 2.0  # extra quiet a person waits for after its own turn
#: call-progress tones that tell an agent the caller is gone (the box's hang-up tone)
HANGUP_TONES = frozenset({"busy", "reorder", "dial"})
#: seconds from recognising the hang-up tone to putting the handset down
TONE_REACTION = (0.4, 1.0)
AGENT_HELLOS = 3  # a nailed-up agent says hello this many times to a silent line
HELLO_WAIT = 4.0  # seconds it waits for the caller after each hello


@dataclass(frozen=True)
class FeatureCodes:
    login: str = "*11{agent}#{pin}#"
    logout: str = "*12"
    pause: str = "*13{reason}#"
    unpause: str = "*14"
    wrapup_done: str = "*15"


class Party:
    """Someone on the network who hears (and maybe speaks); base of callers and agents."""

    role = "party"

    def __init__(self, net: Network, name: str, kind: str) -> None:
        self.net, self.name, self.kind = net, name, kind
        self._state = "idle"
        self.channel: int | None = None
        self.heard: list[dict[str, Any]] = []
        self._open: dict[str, dict[str, Any]] = {}
        self.rng = random.Random(f"{net.seed}/{name}")
        self.voice = 0
        # this person's pitch and tempo: no two people say the same phrase in the same samples
        self.rate = self.rng.uniform(1.0 - RATE_SPREAD, 1.0 + RATE_SPREAD)
        self.spoke_until = -math.inf
        self.heard_other_at = -math.inf
        self._script: Script | None = None
        self._wait: Wait | None = None
        self._deadline: Timer | None = None
        self._running = False

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value != self._state:
            self._state = value
            self.net.notify("state", party=self.name, state=value)

    # ---- where the party is ---------------------------------------------------------------------

    @property
    def row(self) -> int | None:
        return None if self.channel is None else self.channel - 1

    @property
    def outlet(self) -> Outlet | None:
        return None

    @property
    def now(self) -> float:
        return self.net.now

    # ---- hearing --------------------------------------------------------------------------------

    def hear(self, who: str, t0: float, t1: float, rho: float) -> None:
        """The listener found `who` in what this party heard over [t0, t1)."""
        seg = self._open.get(who)
        if seg is not None and t0 - seg["until"] <= HEARD_MERGE_GAP:
            seg["until"] = round(t1, 3)
            seg["rho"] = max(seg["rho"], round(rho, 3))
        else:
            seg = {"who": who, "t": round(t0, 3), "until": round(t1, 3), "rho": round(rho, 3)}
            self._open[who] = seg
            self.heard.append(seg)
            if len(self.heard) > HEARD_LOG_LIMIT:
                del self.heard[: len(self.heard) - HEARD_LOG_LIMIT]
            self.net.notify("heard", party=self.name, who=who)
        if who != self.name and not who.startswith("echo-"):
            self.heard_other_at = t1
        self.on_heard(who)
        self.kick()

    def on_heard(self, who: str) -> None:
        pass

    def on_ring(self, on: bool) -> None:
        pass

    def quiet_for(self, seconds: float) -> bool:
        """Nothing heard (and nothing said) for `seconds`."""
        row = self.row
        if row is None:
            return True
        last = max(float(self.net.last_loud[row]), self.spoke_until)
        return self.now - last >= seconds

    # ---- speaking -------------------------------------------------------------------------------

    def _spoke(self) -> None:
        self.spoke_until = self.net.now

    def say(self, samples: np.ndarray) -> None:
        outlet = self.outlet
        if outlet is None:
            raise PhoneError(f"{self.name} has no line to speak on")
        # a random sub-block offset keeps two people saying the same phrase apart
        lead = np.zeros(self.rng.randrange(1, 2 * self.net.block), dtype=np.int16)
        outlet.play(lead)
        outlet.play(samples, self._spoke)

    def say_phrase(self, index: int | None = None) -> None:
        count = len(PHRASES[self.role])
        i = self.rng.randrange(count) if index is None else index % count
        samples = self.net.voices.phrase(self.role, self.voice, i, self.rate)
        self.net.notify("say", party=self.name, phrase=i, seconds=round(samples.size / 8000, 2))
        self.say(samples)

    @property
    def speaking(self) -> bool:
        outlet = self.outlet
        return outlet is not None and outlet.busy

    # ---- scripts --------------------------------------------------------------------------------

    def run(self, script: Script) -> None:
        self.stop_script()
        self._script = script
        self._advance(True)

    def stop_script(self) -> None:
        script, self._script, self._wait = self._script, None, None
        self.net.want_polls(self, False)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if script is not None and not self._running:
            script.close()

    def _advance(self, value: bool) -> None:
        script = self._script
        if script is None:
            return
        while True:
            self._running = True
            try:
                self._wait = script.send(value) if self._wait is not None else next(script)
            except StopIteration:
                self._wait = None
                if self._script is script:
                    self._script = None
            finally:
                self._running = False
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            if self._script is not script:  # stopped from inside
                script.close()
                self.net.want_polls(self, False)
                return
            wait = self._wait
            if wait is None:
                self.net.want_polls(self, False)
                return
            cond, deadline = wait
            # a condition only an event can change (or none: a sleep) needs no polling: the event
            # kicks the party and a timer stands for the deadline
            event_only = cond is None or getattr(cond, "event_only", False)
            if event_only and cond is not None and cond():
                # already holds: the event that would kick us has happened (e.g. an action
                # queued while the party was busy dialling the previous one); go on at once
                value = True
                continue
            self.net.want_polls(self, not event_only)
            if event_only and deadline < math.inf:
                self._deadline = self.net.after(max(0.0, deadline - self.now), self.kick)
            return

    def kick(self) -> None:
        """Something happened that may satisfy what the party waits for: look now."""
        if not self._running and self._wait is not None:
            self.poll(self.now)

    @staticmethod
    def when(cond: Callable[[], bool]) -> Callable[[], bool]:
        """Mark `cond` as changed only by events that kick the party (no polling)."""
        cond.event_only = True  # type: ignore[attr-defined]
        return cond

    def poll(self, now: float) -> None:
        wait = self._wait
        if wait is None:
            return
        cond, deadline = wait
        if cond is not None and cond():
            self._advance(True)
        elif now >= deadline - 1e-6:
            self._advance(False)

    def sleep(self, seconds: float) -> Wait:
        return (None, self.now + seconds)

    def _my_turn(self, gap: float) -> bool:
        """Quiet for `gap` — or for `gap + TURN_YIELD` when I was the last to speak."""
        extra = TURN_YIELD if self.spoke_until > self.heard_other_at else 0.0
        return self.quiet_for(gap + extra)

    def _converse(self, until: float, other_gone: Callable[[], bool]) -> Script:
        """Take turns: speak a phrase when the other side has been quiet for a moment. After
        speaking, wait longer, so the other side (if there) always gets the next turn."""
        while True:
            gap = self.rng.uniform(0.3, 1.2)
            yield (lambda g=gap: self._my_turn(g) or other_gone(), until)  # type: ignore[misc]
            if self.now >= until or other_gone():
                return
            self.say_phrase()
            yield (lambda: not self.speaking or other_gone(), until)
            if self.now >= until or other_gone():
                return

    def snapshot(self) -> dict[str, Any]:
        return {
            "party": self.name,
            "kind": self.kind,
            "state": self.state,
            "channel": self.channel,
            "heard": list(self.heard[-50:]),
        }


class Caller(Party):
    """A person calling the box on a trunk (see the module docstring)."""

    role = "caller"

    def __init__(self, net: Network, name: str, plan: CallPlan, behave: bool = True) -> None:
        super().__init__(net, name, "caller")
        self.plan = plan
        self.behave = behave
        self.voice = plan.voice
        self.line: CoLine | None = None
        self._outlet: Outlet | None = None
        self.placed_at = net.now
        self.answered_at: float | None = None
        self.queued_at: float | None = None
        self.connected_at: float | None = None
        self.ended_at: float | None = None
        self.agent: str | None = None
        self.last_heard_agent = -math.inf
        self.end_reason: str | None = None
        self.state = "ringing"

    @property
    def outlet(self) -> Outlet | None:
        return self._outlet

    def place(self, line: CoLine) -> None:
        self.channel = line.channel
        self._outlet = self.net.party_outlet(line.row)
        line.incoming(self, self.plan.number, self.plan.cid_name, self.plan.datetime)
        self.net.notify("call", party=self.name, channel=line.channel, number=self.plan.number)
        if self.behave:
            self.run(self._life())

    def on_answered(self) -> None:
        self.answered_at = self.now
        self.state = "answered"
        self.net.notify("answered", party=self.name, channel=self.channel)
        self.kick()

    def on_heard(self, who: str) -> None:
        if who.startswith("agent-"):
            self.last_heard_agent = self.now
            if self.agent is None:
                self.agent = who

    def dial(self, digits: str, on_done: Callable[[], None] | None = None) -> None:
        from board.sim import signals

        if self._outlet is None:
            raise PhoneError(f"{self.name} is not on a line")
        self._outlet.play(signals.dtmf_audio(digits), on_done)

    def hang_up(self, reason: str = "hangup") -> None:
        if self.state == "gone":
            return
        self._end(reason)
        line = self.line
        if line is not None:
            line.far_hangup()

    def on_box_hangup(self) -> None:
        self._end("box hung up")

    def _end(self, reason: str) -> None:
        self.state = "gone"
        self.end_reason = reason
        self.ended_at = self.now
        if self._outlet is not None:
            self._outlet.stop()
        self.stop_script()
        self.net.notify("hangup", party=self.name, channel=self.channel, reason=reason)
        if self.net.traffic is not None:
            self.net.traffic.ended(self)

    def _life(self) -> Script:
        plan = self.plan
        answered = yield (
            self.when(lambda: self.answered_at is not None),
            self.now + plan.ring_patience,
        )
        if not answered:
            self.hang_up("no answer")
            return
        self.state = "greeting"
        t0 = self.now
        row = self.line.row if self.line else 0
        last_loud = self.net.last_loud
        yield (
            lambda: (
                self.agent is not None
                or (last_loud[row] > t0 and self.now - last_loud[row] >= GREETING_QUIET)
            ),
            t0 + 20.0,
        )
        if plan.digits and self.agent is None:
            yield self.sleep(self.rng.uniform(0.3, 1.0))
            self.state = "dialling"
            self.dial(plan.digits)
            yield (lambda: not self.speaking, math.inf)
        self.state = "waiting"
        self.queued_at = self.now
        met = yield (self.when(lambda: self.agent is not None), self.now + plan.patience)
        if not met:
            self.hang_up("patience")
            return
        self.state = "talking"
        self.connected_at = self.now
        self.net.notify("connected", party=self.name, who=self.agent)
        end = self.now + plan.hold if plan.ender == "caller" else math.inf
        yield from self._converse(end, lambda: self.now - self.last_heard_agent > 30.0)
        self.hang_up("done" if self.now >= end else "agent silent")

    def snapshot(self) -> dict[str, Any]:
        out = super().snapshot()
        out.update(
            number=self.plan.number,
            digits=self.plan.digits,
            agent=self.agent,
            placed_at=self.placed_at,
            answered_at=self.answered_at,
            queued_at=self.queued_at,
            connected_at=self.connected_at,
            ended_at=self.ended_at,
            reason=self.end_reason,
        )
        return out


class Agent(Party):
    """A call-center agent at a station (see the module docstring)."""

    role = "agent"

    def __init__(
        self,
        net: Network,
        phone: Phone,
        agent_id: str,
        pin: str,
        *,
        mode: str = "ring",
        wrapup: float | None = None,
        answer_delay: tuple[float, float] = (1.0, 3.0),
        codes: FeatureCodes | None = None,
    ) -> None:
        super().__init__(net, f"agent-{agent_id}", "agent")
        if mode not in ("ring", "nailed"):
            raise ValueError(f"agent mode {mode!r}: expected 'ring' or 'nailed'")
        self.phone = phone
        self.agent_id, self.pin, self.mode = agent_id, pin, mode
        self.wrapup, self.answer_delay = wrapup, answer_delay
        self.codes = codes or FeatureCodes()
        self.channel = phone.channel
        # agents at different stations get different voices, spread over voice and rate
        station = phone.index - 1
        self.voice = station
        spread = (station // len(VOICES) * 0.6180339887) % 1.0
        self.rate = 1.0 - RATE_SPREAD + 2 * RATE_SPREAD * spread
        self.logged_in = False
        self.paused = False
        self.caller: str | None = None
        self.last_heard_caller = -math.inf
        self.calls = 0
        self.pending: deque[tuple[str, str]] = deque()
        #: the hang-up tone this agent has recognised (and reacted to) on the current call
        self.hangup_tone: str | None = None
        self._call_no = 0
        # nailed: sound heard after this time is a call arriving (beep + whisper)
        self.free_since: float | None = None
        phone.occupant = self
        net.parties[self.name] = self

    @property
    def outlet(self) -> Outlet:
        return self.phone.outlet

    def on_heard(self, who: str) -> None:
        if who.startswith("caller-"):
            self.last_heard_caller = self.now
            if self.caller is None and self.state in ("offered", "talking"):
                self.caller = who

    def on_ring(self, on: bool) -> None:
        self.kick()

    def start(self) -> None:
        self.run(self._life())

    def request(self, action: str, reason: str = "") -> None:
        """Queue `logout`, `pause` (with a reason code) or `unpause`; dialled when idle."""
        if action not in ("logout", "pause", "unpause"):
            raise ValueError(f"unknown agent action {action!r}")
        self.pending.append((action, reason))
        self.kick()

    def _feature(self, code: str) -> Script:
        """Dial a feature code and wait for the box's confirmation (sound, then quiet)."""
        if not self.phone.offhook:
            self.phone.off_hook()
            yield self.sleep(self.rng.uniform(0.5, 1.0))
        self.phone.dial(code)
        yield (lambda: not self.speaking, math.inf)
        t = self.now
        row = self.phone.row
        last_loud = self.net.last_loud
        yield (lambda: last_loud[row] > t and self.now - last_loud[row] >= CONFIRM_QUIET, t + 5.0)
        if self.mode == "ring":
            self.phone.on_hook()
            yield self.sleep(0.3)

    def _life(self) -> Script:
        self.state = "login"
        yield self.sleep(self.rng.uniform(0.2, 2.0))
        yield from self._feature(self.codes.login.format(agent=self.agent_id, pin=self.pin))
        self.logged_in = True
        self.net.notify("login", party=self.name, channel=self.channel)
        while self.logged_in:
            self.state = "paused" if self.paused else "idle"
            if self.mode == "ring":
                yield (self.when(lambda: self.phone.ringing or bool(self.pending)), math.inf)
            else:
                # a beep and whisper that came while the last call was winding down count too
                since = self.now if self.free_since is None else min(self.free_since, self.now)
                self.free_since = None
                yield (self._sound_since(since), math.inf)
            if self.pending and not (self.mode == "ring" and self.phone.ringing):
                yield from self._do_pending()
                continue
            if self.mode == "ring":
                self.state = "ringing"
                yield self.sleep(self.rng.uniform(*self.answer_delay))
                if not self.phone.ringing:
                    continue  # the box gave up ringing (ring no answer)
                self.phone.off_hook()
            yield from self._call()
            yield from self._wrapup()
        self.state = "logged_out"
        self.net.notify("logout", party=self.name, channel=self.channel)

    def _sound_since(self, t: float) -> Callable[[], bool]:
        """Condition: something was heard after `t`, or an action is pending."""
        row, last_loud = self.phone.row, self.net.last_loud
        return lambda: bool(last_loud[row] > t) or bool(self.pending)

    def _do_pending(self) -> Script:
        action, reason = self.pending.popleft()
        if action == "logout":
            yield from self._feature(self.codes.logout)
            self.logged_in = False
            if self.phone.offhook:
                self.phone.on_hook()
        elif action == "pause":
            yield from self._feature(self.codes.pause.format(reason=reason))
            self.paused = True
        else:
            yield from self._feature(self.codes.unpause)
            self.paused = False

    def _start_ear(self) -> None:
        """Listen to the handset for the box's hang-up tone (busy, reorder or dial tone) the
        way a person does: from the audio (the call-progress detector over what the station
        hears), reacting a human moment after recognising it."""
        from cython_ext.cpt import CallProgressDetector

        self._call_no += 1
        call_no = self._call_no
        self.hangup_tone = None
        detector = CallProgressDetector(self.net.zone)
        recognised = False

        def ear(block: np.ndarray) -> None:
            nonlocal recognised
            if recognised:
                return
            for event in detector.process(block):
                if event.tone in HANGUP_TONES:
                    recognised = True
                    self.net.notify("tone", party=self.name, tone=event.tone)
                    delay = self.rng.uniform(*TONE_REACTION)
                    self.net.after(delay, functools.partial(react, event.tone))
                    return

        def react(tone: str) -> None:
            if self._call_no == call_no:
                self.hangup_tone = tone
                self.kick()

        self.net.listen_to(self.phone.row, ear)

    def _stop_ear(self) -> None:
        self._call_no += 1
        self.net.listen_to(self.phone.row, None)

    def _call(self) -> Script:
        self._start_ear()
        try:
            yield from self._call_with_ear()
        finally:
            self._stop_ear()

    def _call_with_ear(self) -> Script:
        self.state = "offered"
        self.caller = None
        t = self.now
        # the beep and whisper: wait for them to end (or for 2 s of nothing at all)
        yield (
            lambda: (self.quiet_for(0.6) and self.now - t >= 0.6) or self.hangup_tone is not None,
            t + 15.0,
        )
        if self.hangup_tone is not None:
            if not self._hang_up_call(f"{self.hangup_tone} tone"):
                self.free_since = self.now
            return
        # greet; on a silent line say hello again (the caller may be connected only after the
        # whisper, or what sounded like a call was the box's hang-up tone)
        first_hello = self.now
        for _ in range(AGENT_HELLOS):
            self.say_phrase(0)
            yield (lambda: not self.speaking, math.inf)
            met = yield (
                self.when(lambda: self.caller is not None or self.hangup_tone is not None),
                self.now + HELLO_WAIT,
            )
            if self.hangup_tone is not None:
                if not self._hang_up_call(f"{self.hangup_tone} tone"):
                    self.free_since = self.now
                return
            if met:
                break
        else:
            self._hang_up_call("no caller heard")
            self.free_since = first_hello  # a whisper during the hellos is a call
            return
        self.state = "talking"
        self.calls += 1
        self.net.notify("connected", party=self.name, who=self.caller)
        caller = self.net.parties.get(self.caller or "")
        plan = getattr(caller, "plan", None)
        hold = plan.hold if plan is not None and plan.ender == "agent" else math.inf
        end = self.now + hold

        why = ""

        def gone() -> bool:
            nonlocal why
            if self.hangup_tone is not None:
                why = f"{self.hangup_tone} tone"
            elif self.now - self.last_heard_caller > 10.0:
                why = "caller not heard for 10 s"
            elif not self.speaking and self.quiet_for(3.0):
                why = "quiet for 3 s"
            return bool(why)

        yield from self._converse(end, gone)
        if not self._hang_up_call(why or "done"):
            # the caller hung up: the box may offer the next call at once (beep and whisper while
            # the agent still listens for the old caller): sound after the caller's last words
            self.free_since = min(self.now, self.last_heard_caller + 0.5)

    def _hang_up_call(self, reason: str) -> bool:
        """End the call from this side; True when the agent released it (hook or flash)."""
        released = True
        if self.mode == "ring":
            self.phone.on_hook()
        elif self.caller is not None and self.now - self.last_heard_caller < 3.0:
            self.phone.flash()  # nailed: release the call, stay off hook
        else:
            released = False
        self.net.notify("call_end", party=self.name, who=self.caller, reason=reason)
        return released

    def _wrapup(self) -> Script:
        self.state = "wrapup"
        if self.wrapup is not None and self.wrapup > 0:
            yield self.sleep(self.wrapup)
            yield from self._feature(self.codes.wrapup_done)
            self.free_since = None
        elif self.mode == "nailed":
            yield self.sleep(1.0)

    def snapshot(self) -> dict[str, Any]:
        out = super().snapshot()
        out.update(
            agent=self.agent_id,
            mode=self.mode,
            logged_in=self.logged_in,
            paused=self.paused,
            caller=self.caller,
            calls=self.calls,
        )
        return out
