"""The call path as pure logic: CallControl driven event by event, no event loop, no I/O."""

from __future__ import annotations

from firmware.calld import facts as f
from firmware.calld.acd import Acd
from firmware.calld.control import CallControl
from firmware.config import Config
from firmware.media import protocol as p

from .conftest import PIN, Bench

TRUNK, ST101, ST102, ST103 = 1, 3, 4, 5


def files(cmd: p.Play) -> list[str]:
    return [s.rsplit("/", 1)[-1] for s in cmd.files]


def to_queue(b: Bench, digit: str = "1", channel: int = TRUNK, number: str = "5551234") -> str:
    call_id = b.incoming(channel, number=number)
    b.finish(channel)
    b.dial(channel, digit)
    return call_id


# ---- answering and the IVR -------------------------------------------------------------------


def test_trunk_answered_on_second_ring_with_caller_id(bench: Bench) -> None:
    bench.event(p.RingStartEvent, channel=TRUNK)
    assert not bench.cmds(p.Hook), "answered on the first ring, before the caller ID"
    bench.advance(2.5)
    bench.event(p.CallerIdEvent, channel=TRUNK, number="5551234", caller_name="ALICE")
    bench.advance(3.5)
    bench.event(p.RingStartEvent, channel=TRUNK)
    assert bench.cmds(p.Hook, TRUNK)[-1].offhook
    offered = bench.of(f.CallOffered)[0]
    assert (offered.caller_number, offered.caller_name) == ("5551234", "ALICE")
    greeting = bench.cmds(p.Play, TRUNK)[-1]
    assert files(greeting) == ["hello.wav", "main-menu.wav"]
    assert bench.cmds(p.Detect, TRUNK)[-1].dtmf


def test_ring_that_stops_before_answer_leaves_no_call(bench: Bench) -> None:
    bench.event(p.RingStartEvent, channel=TRUNK)
    bench.advance(10)
    assert bench.cc.ringing == {}
    bench.event(p.RingStartEvent, channel=TRUNK)  # a new call: counts from one again
    assert not bench.cmds(p.Hook)


def test_ivr_timeout_retries_then_goodbye_and_hangup(bench: Bench) -> None:
    call_id = bench.incoming()
    for _ in range(2):  # retries = 2: two replays after a timeout
        bench.finish(TRUNK)
        bench.advance(5.1)
        assert files(bench.cmds(p.Play, TRUNK)[-1]) == [
            "please-try-again.wav",
            "hello.wav",
            "main-menu.wav",
        ]
    bench.finish(TRUNK)
    bench.advance(5.1)
    assert files(bench.cmds(p.Play, TRUNK)[-1]) == ["goodbye.wav"]
    assert bench.cmds(p.Hook, TRUNK)[-1].offhook  # not hung up before the goodbye ends
    bench.finish(TRUNK)
    assert not bench.cmds(p.Hook, TRUNK)[-1].offhook
    choices = [(c.action, c.digit) for c in bench.of(f.IvrChoice)]
    assert choices == [("timeout", "")] * 3
    cdr = bench.of(f.CallEnded)[0]
    assert (cdr.uniqueid, cdr.lastapp, cdr.dstchannel) == (call_id, "Hangup", "")


def test_ivr_no_timeout_while_the_prompt_plays(bench: Bench) -> None:
    bench.incoming()
    bench.advance(30)  # a long prompt: the wait for a key only starts when it ends
    assert not bench.of(f.IvrChoice)
    bench.finish(TRUNK)
    bench.advance(4.9)
    assert not bench.of(f.IvrChoice)
    bench.advance(0.3)
    assert bench.of(f.IvrChoice)[0].action == "timeout"


def test_ivr_invalid_key_plays_invalid_prompt_and_menu_again(bench: Bench) -> None:
    bench.incoming()
    bench.finish(TRUNK)
    bench.dial(TRUNK, "7")
    assert files(bench.cmds(p.Play, TRUNK)[-1]) == ["invalid.wav", "hello.wav", "main-menu.wav"]
    assert bench.of(f.IvrChoice)[-1].action == "invalid"
    bench.finish(TRUNK)
    bench.dial(TRUNK, "1")
    assert bench.of(f.CallQueued)[0].queue == "sales"


def test_ivr_key_during_prompt_barges_in(bench: Bench) -> None:
    bench.incoming()
    bench.dial(TRUNK, "1")  # the greeting is still playing
    assert bench.of(f.CallQueued)[0].queue == "sales"
    assert bench.cmds(p.Moh, TRUNK)[-1].on


def test_ivr_info_prompt_then_menu_again_and_submenu_failure_to_queue(bench: Bench) -> None:
    bench.incoming()
    bench.finish(TRUNK)
    bench.dial(TRUNK, "8")
    assert files(bench.cmds(p.Play, TRUNK)[-1]) == ["hours.wav"]
    bench.finish(TRUNK)
    assert files(bench.cmds(p.Play, TRUNK)[-1]) == ["hello.wav", "main-menu.wav"]
    bench.dial(TRUNK, "9")
    assert files(bench.cmds(p.Play, TRUNK)[-1]) == ["vm-options.wav"]
    bench.finish(TRUNK)
    bench.advance(5.1)  # menu "other": retries 0, on_failure queue:sales
    assert bench.of(f.CallQueued)[0].queue == "sales"


def test_ivr_hangup_choice(bench: Bench) -> None:
    bench.incoming()
    bench.dial(TRUNK, "0")
    assert files(bench.cmds(p.Play, TRUNK)[-1]) == ["goodbye.wav"]
    bench.finish(TRUNK)
    assert not bench.cmds(p.Hook, TRUNK)[-1].offhook
    assert bench.cc.calls == {}


# ---- agents: login, pause, wrap-up -------------------------------------------------------------


def test_login_with_pin_and_wrong_pin(bench: Bench) -> None:
    bench.event(p.OffHookEvent, channel=ST101)
    assert bench.cmds(p.Tone, ST101)[-1].tone == "dial"
    bench.dial(ST101, "*111001#9999#")
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["agent-incorrect.wav"]
    assert not bench.of(f.AgentLogin)
    assert bench.cc.failed_logins == 1
    bench.finish(ST101)
    bench.dial(ST101, f"*111001#{PIN['1001']}#")
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["agent-loginok.wav"]
    login = bench.of(f.AgentLogin)[0]
    assert (login.agent, login.station, login.queues) == ("1001", "101", ("sales",))
    # ring mode: off hook = unavailable; back on hook = available
    assert bench.cc.acd.agents["1001"].state is f.AgentState.UNAVAILABLE
    bench.finish(ST101)
    bench.event(p.OnHookEvent, channel=ST101)
    assert bench.cc.acd.agents["1001"].state is f.AgentState.AVAILABLE


def test_agent_logged_in_elsewhere_cannot_log_in_twice(bench: Bench) -> None:
    bench.login(ST101, "1001")
    bench.event(p.OffHookEvent, channel=ST102)
    bench.dial(ST102, f"*111001#{PIN['1001']}#")
    assert files(bench.cmds(p.Play, ST102)[-1]) == ["agent-incorrect.wav"]
    assert len(bench.of(f.AgentLogin)) == 1


def test_unknown_code_and_half_dialled_code_get_the_error_tone(bench: Bench) -> None:
    bench.event(p.OffHookEvent, channel=ST101)
    bench.dial(ST101, "*19")
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["beeperr.wav"]
    bench.finish(ST101)
    bench.dial(ST101, "*111")
    bench.advance(5.1)
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["beeperr.wav"]
    assert not bench.of(f.AgentLogin)


def test_pause_with_reason_and_unpause(bench: Bench) -> None:
    bench.login(ST101, "1001")
    bench.event(p.OffHookEvent, channel=ST101)
    bench.dial(ST101, "*132#")
    assert bench.of(f.AgentPaused)[0].reason == "lunch"
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["beep.wav"]
    bench.finish(ST101)
    bench.event(p.OnHookEvent, channel=ST101)
    assert bench.cc.acd.agents["1001"].state is f.AgentState.PAUSED
    to_queue(bench)
    assert not bench.cmds(p.Ring), "a paused agent was offered a call"
    bench.event(p.OffHookEvent, channel=ST101)
    bench.dial(ST101, "*14")
    assert bench.of(f.AgentUnpaused)[0].reason == "lunch"
    bench.finish(ST101)
    bench.event(p.OnHookEvent, channel=ST101)
    assert bench.cmds(p.Ring, ST101)[-1].on  # the waiting call goes to the agent now


def test_unknown_pause_reason_is_refused(bench: Bench) -> None:
    bench.login(ST101, "1001", hangup=False)
    bench.dial(ST101, "*137#")
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["beeperr.wav"]
    assert not bench.of(f.AgentPaused)


def test_logout(bench: Bench) -> None:
    bench.login(ST101, "1001")
    bench.advance(60)
    bench.event(p.OffHookEvent, channel=ST101)
    bench.dial(ST101, "*12")
    off = bench.of(f.AgentLogoff)[0]
    assert off.agent == "1001" and 60 <= off.logintime <= 62
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["agent-loggedoff.wav"]
    assert bench.cc.acd.agents["1001"].state is f.AgentState.LOGGED_OUT


# ---- the ACD -----------------------------------------------------------------------------------


def answer_and_talk(b: Bench, station: int, talk: float = 30.0) -> None:
    b.advance(2)
    b.event(p.OffHookEvent, channel=station)
    b.finish(station)  # the whisper
    b.advance(talk)


def test_longest_idle_agent_gets_the_call(bench: Bench) -> None:
    bench.login(ST101, "1001")
    bench.advance(5)
    bench.login(ST102, "1002")
    bench.advance(5)
    to_queue(bench)
    assert bench.cmds(p.Ring, ST101)[-1].on and not bench.cmds(p.Ring, ST102)
    answer_and_talk(bench, ST101)
    bench.event(p.OnHookEvent, channel=ST101)  # agent hangs up
    bench.advance(6)  # wrap-up 5 s
    assert bench.cc.acd.agents["1001"].state is f.AgentState.AVAILABLE
    # 1002 has now been idle longest
    to_queue(bench, channel=2)
    assert bench.cmds(p.Ring, ST102)[-1].on
    assert len(bench.cmds(p.Ring, ST101)) == 1


def test_ring_no_answer_goes_to_the_next_agent(bench: Bench) -> None:
    bench.login(ST101, "1001")
    bench.advance(1)
    bench.login(ST102, "1002")
    call_id = to_queue(bench)
    assert bench.cmds(p.Ring, ST101)[-1].on
    bench.advance(10.1)
    assert not bench.cmds(p.Ring, ST101)[-1].on
    rna = bench.of(f.RingNoAnswer)[0]
    assert (rna.call_id, rna.agent) == (call_id, "1001") and 10000 <= rna.ringtime_ms <= 10200
    assert bench.cmds(p.Ring, ST102)[-1].on
    bench.advance(10.1)  # 1002 does not answer either: back to 1001
    assert [r.agent for r in bench.of(f.RingNoAnswer)] == ["1001", "1002"]
    assert bench.cmds(p.Ring, ST101)[-1].on
    # idle time survives a ring-no-answer: 1001 is still the longest idle
    assert bench.cc.acd.agents["1001"].idle_since < bench.cc.acd.agents["1002"].idle_since


def test_wrapup_blocks_offers_until_timer_or_star15(bench: Bench) -> None:
    bench.login(ST101, "1001")
    to_queue(bench)
    answer_and_talk(bench, ST101)
    to_queue(bench, channel=2)  # a second caller waits while the agent talks
    bench.event(p.OnHookEvent, channel=ST101)
    assert bench.cc.acd.agents["1001"].state is f.AgentState.WRAP_UP
    bench.advance(2)
    assert len(bench.cmds(p.Ring, ST101)) == 1, "offered during wrap-up"
    bench.event(p.OffHookEvent, channel=ST101)
    bench.dial(ST101, "*15")
    assert files(bench.cmds(p.Play, ST101)[-1]) == ["beep.wav"]
    bench.finish(ST101)
    bench.event(p.OnHookEvent, channel=ST101)
    assert bench.cmds(p.Ring, ST101)[-1].on


def test_wrapup_ends_by_timer(bench: Bench) -> None:
    bench.login(ST101, "1001")
    to_queue(bench)
    answer_and_talk(bench, ST101)
    bench.event(p.OnHookEvent, channel=ST101)
    bench.advance(4.8)
    assert bench.cc.acd.agents["1001"].state is f.AgentState.WRAP_UP
    bench.advance(0.4)
    assert bench.cc.acd.agents["1001"].state is f.AgentState.AVAILABLE


def test_whisper_to_agent_only_then_duplex(bench: Bench) -> None:
    bench.login(ST101, "1001")
    to_queue(bench)
    bench.advance(3)
    bench.event(p.OffHookEvent, channel=ST101)
    whisper = bench.cmds(p.Play, ST101)[-1]
    assert files(whisper) == ["sales-call.wav"]
    assert not bench.cmds(p.Connect), "connected before the whisper ended"
    assert bench.cmds(p.Moh, TRUNK)[-1].on  # the caller still hears music
    bench.finish(ST101)
    assert bench.cmds(p.Connect)[-1] == p.Connect(a=TRUNK, b=ST101, mode="duplex")
    assert not bench.cmds(p.Moh, TRUNK)[-1].on
    conn = bench.of(f.AgentConnected)[0]
    # the station rang from the key press (0.2 s before `advance(3)`) to the pick-up
    assert conn.agent == "1001" and 3.1 < conn.ringtime < 3.3 and conn.holdtime >= conn.ringtime


def test_nailed_agent_hears_beep_and_whisper_without_ringing(bench: Bench) -> None:
    bench.login(ST103, "1003", hangup=False)  # nailed: stays off hook
    assert bench.cc.acd.agents["1003"].state is f.AgentState.AVAILABLE
    to_queue(bench)
    assert not bench.cmds(p.Ring, ST103)
    assert files(bench.cmds(p.Play, ST103)[-1]) == ["beep.wav", "sales-call.wav"]
    bench.finish(ST103)
    assert bench.cmds(p.Connect)[-1] == p.Connect(a=TRUNK, b=ST103, mode="duplex")
    assert bench.of(f.AgentConnected)[0].ringtime == 0
    bench.advance(20)
    bench.event(p.LoopDropEvent, channel=TRUNK)  # caller hangs up; the agent stays off hook
    assert files(bench.cmds(p.Play, ST103)[-1]) == ["descending-2tone.wav"]
    assert bench.cc.acd.agents["1003"].state is f.AgentState.WRAP_UP


def test_nailed_agent_ends_the_call_with_a_hook_flash_and_stays_off_hook(bench: Bench) -> None:
    bench.login(ST103, "1003", hangup=False)
    call_id = to_queue(bench)
    bench.finish(ST103)  # beep and whisper done: connected
    bench.advance(30)
    bench.event(p.FlashEvent, channel=ST103)
    done = bench.of(f.CallCompleted)[0]
    assert (done.call_id, done.side, done.agent) == (call_id, f.HangupSide.AGENT, "1003")
    assert 29.9 < done.calltime < 30.1
    assert not bench.cmds(p.Hook, TRUNK)[-1].offhook  # the trunk is released
    assert bench.cmds(p.Disconnect, TRUNK)
    assert bench.of(f.CallEnded)[0].uniqueid == call_id
    seat = bench.cc.acd.agents["1003"]
    assert seat.state is f.AgentState.WRAP_UP and bench.cc.stations[ST103].offhook
    bench.advance(5.1)  # the queue's wrap-up: available again, still off hook (nailed)
    assert seat.state is f.AgentState.AVAILABLE
    states = [a.state for a in bench.of(f.AgentStateChanged) if a.agent == "1003"]
    assert states[-3:] == [f.AgentState.ON_CALL, f.AgentState.WRAP_UP, f.AgentState.AVAILABLE]
    # the next caller is offered to the same off-hook station: beep and whisper again
    to_queue(bench, channel=2)
    assert files(bench.cmds(p.Play, ST103)[-1]) == ["beep.wav", "sales-call.wav"]


def test_nailed_agent_flash_during_the_whisper_turns_the_call_down(bench: Bench) -> None:
    bench.login(ST103, "1003", hangup=False)
    bench.login(ST101, "1001")
    to_queue(bench)
    assert bench.cc.acd.agents["1003"].state is f.AgentState.WHISPER
    bench.event(p.FlashEvent, channel=ST103)
    assert bench.of(f.RingNoAnswer)[0].agent == "1003"
    assert bench.cmds(p.Stop, ST103)  # the whisper stops
    assert bench.cmds(p.Ring, ST101)[-1].on  # and the caller goes to the next agent
    assert not bench.of(f.CallCompleted) and not bench.of(f.CallAbandoned)


def test_flash_on_a_rung_station_leaves_the_call_up(bench: Bench) -> None:
    bench.login(ST101, "1001")
    to_queue(bench)
    answer_and_talk(bench, ST101)
    bench.event(p.FlashEvent, channel=ST101)
    assert not bench.of(f.CallCompleted)
    assert bench.cc.acd.agents["1001"].state is f.AgentState.ON_CALL
    bench.event(p.OnHookEvent, channel=ST101)  # hanging up ends it
    assert bench.of(f.CallCompleted)[0].side is f.HangupSide.AGENT


def test_nailed_agent_on_hook_is_not_offered(bench: Bench) -> None:
    bench.login(ST103, "1003", hangup=True)
    assert bench.cc.acd.agents["1003"].state is f.AgentState.UNAVAILABLE
    to_queue(bench)
    assert not bench.cmds(p.Play, ST103)[1:]


# ---- hang-ups ----------------------------------------------------------------------------------


def test_caller_abandons_in_queue(bench: Bench) -> None:
    call_id = to_queue(bench)
    bench.advance(42)
    bench.event(p.LoopDropEvent, channel=TRUNK)
    ab = bench.of(f.CallAbandoned)[0]
    assert (ab.call_id, ab.queue, ab.position, ab.origposition) == (call_id, "sales", 1, 1)
    assert 41.9 < ab.waittime < 42.5
    assert not bench.cmds(p.Hook, TRUNK)[-1].offhook
    assert bench.cmds(p.Disconnect, TRUNK)
    assert bench.cc.acd.queues["sales"].waiting == []
    stats = [s for s in bench.of(f.QueueStats) if s.queue == "sales"][-1]
    assert (stats.offered, stats.abandoned, stats.waiting) == (1, 1, 0)


def test_second_caller_is_position_two_and_moves_up(bench: Bench) -> None:
    first = to_queue(bench, channel=1)
    second = to_queue(bench, channel=2, number="5559999")
    assert [c.position for c in bench.of(f.CallQueued)] == [1, 2]
    bench.event(p.LoopDropEvent, channel=1)
    assert bench.of(f.CallAbandoned)[0].call_id == first
    bench.login(ST101, "1001")
    ring = bench.cmds(p.Ring, ST101)[-1]
    assert ring.on and ring.callerid is not None and ring.callerid.number == "5559999"
    assert bench.cc.calls[second].agent == "1001"


def test_caller_abandons_while_agent_rings(bench: Bench) -> None:
    bench.login(ST101, "1001")
    to_queue(bench)
    bench.advance(3)
    bench.event(p.LoopDropEvent, channel=TRUNK)
    assert not bench.cmds(p.Ring, ST101)[-1].on
    assert bench.of(f.CallAbandoned)
    assert bench.cc.acd.agents["1001"].state is f.AgentState.AVAILABLE


def test_agent_hangs_up_first(bench: Bench) -> None:
    bench.login(ST101, "1001")
    call_id = to_queue(bench)
    answer_and_talk(bench, ST101, talk=40)
    bench.event(p.OnHookEvent, channel=ST101)
    done = bench.of(f.CallCompleted)[0]
    assert (done.call_id, done.side, done.agent) == (call_id, f.HangupSide.AGENT, "1001")
    assert 39.9 < done.calltime < 40.1
    assert not bench.cmds(p.Hook, TRUNK)[-1].offhook
    cdr = bench.of(f.CallEnded)[0]
    assert cdr.dstchannel == "sim/fxs/3" and cdr.disposition == "ANSWERED"
    assert "agent:1001" in cdr.userfield


def test_caller_hangs_up_first_ring_mode_agent_hears_busy(bench: Bench) -> None:
    bench.login(ST101, "1001")
    to_queue(bench)
    answer_and_talk(bench, ST101)
    bench.event(p.LoopDropEvent, channel=TRUNK)
    assert bench.of(f.CallCompleted)[0].side is f.HangupSide.CALLER
    assert bench.cmds(p.Tone, ST101)[-1].tone == "busy"
    bench.event(p.OnHookEvent, channel=ST101)
    assert bench.cmds(p.Stop, ST101)
    assert len(bench.of(f.CallCompleted)) == 1


def test_disconnect_tone_on_trunk_counts_as_caller_hangup(bench: Bench) -> None:
    to_queue(bench)
    bench.event(p.ToneEvent, channel=TRUNK, tone="busy", start_t=bench.now)
    assert bench.of(f.CallAbandoned)


def test_agent_drops_during_whisper_requeues_the_caller(bench: Bench) -> None:
    bench.login(ST101, "1001")
    bench.login(ST102, "1002")
    to_queue(bench)
    bench.event(p.OffHookEvent, channel=ST101)
    bench.event(p.OnHookEvent, channel=ST101)  # before the whisper ends
    assert bench.of(f.RingNoAnswer)[0].agent == "1001"
    assert bench.cmds(p.Ring, ST102)[-1].on
    assert not bench.of(f.CallAbandoned)


def test_queue_max_wait_sends_the_caller_away(bench: Bench) -> None:
    call_id = to_queue(bench, digit="2")
    bench.advance(30.1)
    out = bench.of(f.CallTimedOut)[0]
    assert out.call_id == call_id and out.queue == "support"
    assert files(bench.cmds(p.Play, TRUNK)[-1]) == ["all-agents-busy.wav"]
    bench.finish(TRUNK)
    assert not bench.cmds(p.Hook, TRUNK)[-1].offhook


def test_agent_state_facts_follow_the_call(bench: Bench) -> None:
    bench.login(ST101, "1001")
    to_queue(bench)
    answer_and_talk(bench, ST101)
    bench.event(p.OnHookEvent, channel=ST101)
    bench.advance(6)
    states = [s.state for s in bench.of(f.AgentStateChanged) if s.agent == "1001"]
    A = f.AgentState
    assert states == [
        A.UNAVAILABLE,
        A.AVAILABLE,
        A.RINGING,
        A.WHISPER,
        A.ON_CALL,
        A.WRAP_UP,
        A.AVAILABLE,
    ]


# ---- units -------------------------------------------------------------------------------------


def test_acd_picks_min_idle_since_and_skips_tried(config: Config) -> None:
    acd = Acd(config)
    for aid, idle in (("1001", 30.0), ("1002", 10.0), ("1003", 20.0)):
        acd.agents[aid].idle_since = idle
    assert acd.pick_agent("sales", lambda a: True).id == "1002"
    assert acd.pick_agent("sales", lambda a: True, tried=["1002"]).id == "1003"
    assert acd.pick_agent("sales", lambda a: a.id != "1003", tried=["1002"]).id == "1001"
    assert acd.pick_agent("sales", lambda a: True, tried=["1001", "1002", "1003"]).id == "1002"
    assert acd.pick_agent("sales", lambda a: False) is None


# ---- recovery ----------------------------------------------------------------------------------


def test_restart_from_journal_keeps_calls_without_double_acting(bench: Bench) -> None:
    bench.login(ST101, "1001")
    call_id = to_queue(bench)
    answer_and_talk(bench, ST101, talk=5)
    journal = bench.cc.checkpoint()
    # the media engine kept the call up; its snapshot shows the link and the hooks
    snap = bench.idle_snapshot()
    for c in snap["channels"]:
        if c["number"] == TRUNK:
            c.update(hook="offhook", hears=[ST101], heard_by=[ST101])
        if c["number"] == ST101:
            c.update(hook="offhook", hears=[TRUNK], heard_by=[TRUNK])
    cc = CallControl(bench.config, bench.now, journal=journal)
    cmds = cc.start(snap, bench.now)
    assert not [c for c in cmds if isinstance(c, p.Hook | p.Play | p.Connect | p.Moh | p.Ring)]
    facts = cc.drain_facts()
    assert not [x for x in facts if isinstance(x, f.AgentLogin | f.CallQueued | f.CallOffered)]
    assert cc.calls[call_id].state.value == "connected"
    cmds = cc.handle(p.OnHookEvent(t=bench.now + 10, channel=ST101), bench.now + 10)
    done = [x for x in cc.drain_facts() if isinstance(x, f.CallCompleted)]
    assert done and done[0].side is f.HangupSide.AGENT and 14.9 < done[0].calltime < 15.1
    assert p.Hook(channel=TRUNK, offhook=False) in cmds
    # call ids carry on from the journal
    assert cc.seq == bench.cc.seq


def test_restart_settles_differences_from_the_snapshot(bench: Bench) -> None:
    bench.login(ST101, "1001")
    call_id = to_queue(bench)  # ST101 is ringing
    journal = bench.cc.checkpoint()
    snap = bench.idle_snapshot()
    for c in snap["channels"]:
        if c["number"] == TRUNK:
            c.update(hook="offhook", player={"type": "moh", "class": "default"})
        if c["number"] == ST101:
            c.update(hook="offhook")  # the agent answered while calld was away
    cc = CallControl(bench.config, bench.now, journal=journal)
    cmds = cc.start(snap, bench.now)
    plays = [c for c in cmds if isinstance(c, p.Play) and c.channel == ST101]
    assert plays and plays[0].files[-1].endswith("sales-call.wav")
    assert cc.calls[call_id].state.value == "whisper"


def test_fresh_start_cleans_leftovers(bench: Bench) -> None:
    snap = bench.idle_snapshot()
    snap["channels"][0].update(hook="offhook", player={"type": "moh"})
    snap["channels"][2].update(ringing=True)
    cc = CallControl(bench.config, bench.now)
    cmds = cc.start(snap, bench.now)
    assert p.Hook(channel=1, offhook=False) in cmds
    assert p.Ring(channel=3, on=False) in cmds
    assert p.Stop(channel=1) in cmds
