"""Simulated callers and agents acting on what they hear, against a minimal box."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simtools import START, music
from switchboard import Switchboard

from board.sim.card import SimCard
from board.sim.people import GREETING_QUIET, Agent, Caller


def _times(sb: Switchboard, kind: str, channel: int) -> list[float]:
    return [t for t, k, ch in sb.log if k == kind and ch == channel]


def _setup(stations: int = 1, query: str = "", **sb_args: object) -> tuple[SimCard, Switchboard]:
    card = SimCard(f"sim://?trunks=1&stations={stations}&start={START}&seed=2{query}")
    return card, Switchboard(card, **sb_args)  # type: ignore[arg-type]


def test_caller_presses_its_digits_when_the_greeting_has_ended() -> None:
    card, sb = _setup()
    caller = card.call(1, number="2125550111", digits="21", patience=60)
    sb.run(20.0)
    pressed = [(t, d) for t, ch, d in sb.digits if ch == 1]
    assert "".join(d for _, d in pressed) == "21"
    greeting_end = sb.greeting_ends[1]
    first = pressed[0][0]
    # quiet for GREETING_QUIET, then a human 0.3-1.0 s, at 100 ms look-and-listen steps
    assert (
        greeting_end + GREETING_QUIET + 0.3 - 0.05 <= first <= greeting_end + GREETING_QUIET + 1.25
    )
    assert caller.state == "waiting"


def test_caller_gives_up_when_patience_runs_out() -> None:
    card, sb = _setup(0)
    caller = card.call(1, digits="1", patience=6.0)
    sb.run(30.0)
    assert caller.end_reason == "patience"
    assert caller.queued_at is not None
    (drop,) = _times(sb, "LoopCurrentDrop", 1)
    assert drop - caller.queued_at == pytest.approx(6.0, abs=0.12)


def test_caller_without_answer_gives_up_ringing() -> None:
    card, sb = _setup(0, answer_rings=99)
    caller = card.call(1, ring_patience=15.0)
    sb.run(20.0)
    assert caller.end_reason == "no answer"
    assert caller.ended_at == pytest.approx(caller.placed_at + 15.0, abs=0.12)
    assert not card.network.lines[0].ring_on


@pytest.mark.parametrize("mode", ["ring", "nailed"])
def test_agent_logs_in_with_feature_codes_as_dtmf(mode: str) -> None:
    card, sb = _setup()
    agent = card.login_agent(2, "1001", "4321", mode=mode)
    sb.run(12.0)
    assert "".join(d for _, ch, d in sb.digits if ch == 2) == "*111001#4321#"
    assert agent.logged_in and agent.state == "idle"
    assert card.phone(2).offhook is (mode == "nailed")


def _a_call(
    ender: str, mode: str = "ring", query: str = ""
) -> tuple[SimCard, Switchboard, Caller, Agent]:
    card, sb = _setup(query=query, nailed=mode == "nailed")
    agent = card.login_agent(2, "1001", "4321", mode=mode)
    sb.run(10.0)
    caller = card.call(1, number="4045550123", name="RUTH QUINN", hold=15.0, ender=ender)
    sb.run(60.0)
    return card, sb, caller, agent


@pytest.mark.parametrize("echo", ["D2", "off"])
def test_caller_and_agent_hear_each_other_and_nobody_else(echo: str) -> None:
    # without line echo the agent hears true silence between turns (as behind an echo canceller)
    card, sb, caller, agent = _a_call("caller", query=f"&echo={echo}")
    assert {h["who"] for h in caller.heard} == {"agent-1001"}
    assert "caller-1" in {h["who"] for h in agent.heard}
    assert {h["who"] for h in agent.heard} <= {"caller-1", "echo-trunk-1"}
    assert caller.agent == "agent-1001" and agent.caller == "caller-1"
    assert all(h["rho"] > 0.9 for h in caller.heard)
    # the caller talked for its holding time, then hung up; the agent noticed and hung up too
    assert caller.end_reason == "done"
    assert caller.connected_at is not None and caller.ended_at is not None
    assert caller.ended_at - caller.connected_at == pytest.approx(15.0, abs=0.12)
    (drop,) = _times(sb, "LoopCurrentDrop", 1)
    on_hook = _times(sb, "OnHook", 2)[-1]
    assert 0 < on_hook - drop < 12.0
    assert agent.calls == 1 and agent.state == "idle"


def test_agent_ends_the_call_when_the_plan_says_so() -> None:
    card, sb, caller, agent = _a_call("agent")
    assert caller.end_reason == "box hung up"  # the box hung up the trunk after the agent
    first_heard = next(h["t"] for h in agent.heard if h["who"] == "caller-1")
    hang_up = _times(sb, "OnHook", 2)[-1]
    assert hang_up > first_heard + 15.0 - 0.5
    assert hang_up < first_heard + 15.0 + 0.5
    assert not _times(sb, "LoopCurrentDrop", 1)


def test_nailed_agent_takes_the_call_off_hook_and_stays_off_hook() -> None:
    card, sb, caller, agent = _a_call("caller", mode="nailed")
    assert {h["who"] for h in caller.heard} == {"agent-1001"}
    assert "caller-1" in {h["who"] for h in agent.heard}
    assert caller.end_reason == "done"
    assert card.phone(2).offhook
    assert [k for _, k, ch in sb.log if ch == 2] == ["OffHook"]


def test_a_simulation_is_deterministic_from_its_seed() -> None:
    def day() -> tuple[list[tuple[float, str, int]], list[tuple[float, int, str]]]:
        card = SimCard(
            f"sim://?trunks=2&stations=2&start={START}&seed=5&agents=2&traffic=400&aht=20"
        )
        sb = Switchboard(card)
        sb.run(90.0)
        return sb.log, sb.digits

    first, second = day(), day()
    assert first == second
    kinds = {k for _, k, _ in first[0]}
    assert {"RingStart", "OffHook", "OnHook"} <= kinds  # calls came, agents took them


@pytest.mark.parametrize("blocks", [40, 41, 42, 43, 44])
def test_a_person_who_just_stopped_speaking_is_not_quiet_yet(blocks: int) -> None:
    # whatever tick a phrase ends on, the person's own look-and-listen step knows it has ended
    # (one of these lengths ends on a look-and-listen tick)
    card = SimCard(f"sim://?trunks=1&stations=0&start={START}&echo=off&noise=off")
    caller = card.call(1, behave=False)
    card.run(0.1)
    card.set_hook(1, True)
    seen: list[bool] = []

    def script():  # type: ignore[no-untyped-def]
        caller.say(np.full(blocks * 160, 3000, dtype=np.int16))
        yield (lambda: not caller.speaking, math.inf)
        seen.append(caller.quiet_for(0.5))

    caller.run(script())
    card.run(2.0)
    assert seen == [False]


@pytest.mark.parametrize("mode", ["ring", "nailed"])
def test_agent_dials_actions_queued_back_to_back(mode: str) -> None:
    # the second request arrives while the agent is still dialling the first: once the first is
    # done, the agent finds the second already waiting (no further event will announce it)
    card, sb = _setup()
    agent = card.login_agent(2, "1001", "4321", mode=mode)
    sb.run(12.0)
    assert agent.logged_in and agent.state == "idle"
    agent.request("pause", "7")
    agent.request("unpause")
    sb.run(20.0)
    codes = "".join(d for _, ch, d in sb.digits if ch == 2)
    assert codes == "*111001#4321#" + "*137#" + "*14"
    assert not agent.paused and agent.state == "idle"
    agent.request("logout")
    sb.run(10.0)
    assert "".join(d for _, ch, d in sb.digits if ch == 2).endswith("*14*12")
    assert agent.state == "logged_out"


def _caller_hangs_up_to(zone: str, after_caller: np.ndarray) -> tuple[float, list[str]]:
    """A ring-mode agent's call the caller ends; the station then hears `after_caller`.
    Returns (seconds from the caller's hang-up to the agent's, the agent's call_end reasons)."""
    card, sb = _setup(query=f"&zone={zone}", after_caller=after_caller)
    card.network.notify_enabled = True
    agent = card.login_agent(2, "1001", "4321", mode="ring")
    sb.run(10.0)
    caller = card.call(1, number="4045550123", hold=12.0, ender="caller")
    sb.run(45.0)
    assert caller.end_reason == "done" and agent.calls == 1 and agent.state == "idle"
    (drop,) = _times(sb, "LoopCurrentDrop", 1)
    on_hook = _times(sb, "OnHook", 2)[-1]
    reasons = [
        n["reason"]
        for n in card.network.notices
        if n["event"] == "call_end" and n["party"] == agent.name
    ]
    return on_hook - drop, reasons


@pytest.mark.parametrize("zone", ["us", "uk"])
def test_agent_hangs_up_on_hearing_the_busy_tone(zone: str) -> None:
    # the zone's busy tone as the box's tone generator plays it (US 480+620 Hz 0.5/0.5 s, UK
    # 400 Hz 0.375/0.375 s): recognised from the audio after about three cadence steps, then a
    # human 0.4-1 s before the handset goes down -- not the 3-10 s of waiting for the caller
    from cython_ext.tones import ToneGenerator
    from cython_ext.tones import zone as tone_zone

    busy = ToneGenerator(tone_zone(zone).tone("busy")).generate(30 * 8000).astype(np.int16)
    delay, reasons = _caller_hangs_up_to(zone, busy)
    assert reasons == ["busy tone"]
    assert 1.0 < delay < 3.0


def test_agent_does_not_take_music_for_the_busy_tone() -> None:
    # loud audio that is no tone (music) after the caller left: the agent waits for the caller
    # (10 s without hearing them) before giving up
    delay, reasons = _caller_hangs_up_to("us", music(30.0))
    assert reasons == ["caller not heard for 10 s"]
    assert delay > 8.0
