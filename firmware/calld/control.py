"""CallControl: the whole call path as pure logic. No I/O, no asyncio, no wall clock.

    control = CallControl(config, now, journal=None)
    commands = control.start(hello_snapshot, now)       # after `hello` (fresh start or recovery)
    commands = control.handle(event, now)               # every media event (now = event.t)
    commands = control.tick(now)                        # timers; call on every `clock` event
    facts = control.drain_facts()                       # write records, then publish
    journal = control.checkpoint()                      # JSON-able; persist after the records

Events are `firmware.media.protocol` event dataclasses; commands are its command dataclasses
(id 0: the sender numbers them). Time is the media clock only.

Recovery (calld restarted, the media engine kept the calls up): construct with the last
`checkpoint()` as `journal`, then `start()` with the `hello` snapshot. What is recovered: logged
in agents (state, pause reason, idle-since, wrap-up end), queued callers (position, wait start),
calls in IVR (menu, retries), calls being offered, whispered or connected, daily queue counters
and the call-id sequence. Nothing is re-done: no trunk is answered twice, no prompt restarted
that the snapshot shows still playing, no login or ENTERQUEUE repeated. Differences between the
journal and the snapshot are settled from the snapshot: a trunk on hook ends its call, a station
whose hook changed while calld was away is handled as that hook event now, a prompt that ended
while away counts as finished now, missing music on hold is restarted, a missing caller-agent
link is re-made. Without a journal, `start()` puts every port in a clean idle state (hangs up
trunks, stops ringing, players and links) so leftovers are never mistaken for calls.
Limitation: events that arrived between the last checkpoint and the crash are lost (the shell
checkpoints after every batch, so this is at most one batch).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from firmware.calld.acd import Acd, AgentSeat
from firmware.calld.calls import Call, CallState, Ringing, new_call_id
from firmware.calld.facts import (
    AgentConnected,
    AgentLogin,
    AgentLogoff,
    AgentPaused,
    AgentState,
    AgentStateChanged,
    AgentUnpaused,
    CallAbandoned,
    CallAnsweredByIvr,
    CallCompleted,
    CallOffered,
    CallQueued,
    CallTimedOut,
    Fact,
    HangupSide,
    IvrChoice,
    PortState,
    PortStatus,
    RingNoAnswer,
)
from firmware.calld.ivr import IvrSession, IvrStep
from firmware.calld.stations import (
    Feature,
    FeatureFailure,
    FeatureRequest,
    StationLine,
)
from firmware.config import Config, verify_pin
from firmware.media import protocol as p

log = logging.getLogger(__name__)

RING_GAP_S = 8.0  # no ring burst for this long: the caller gave up before we answered
HANGUP_TONES = frozenset({"busy", "reorder", "congestion", "dial", "dialtone"})
JOURNAL_VERSION = 1


class CallControl:
    def __init__(self, config: Config, now: float, journal: dict[str, Any] | None = None) -> None:
        self.config = config
        self.acd = Acd(config)
        self.stations: dict[int, StationLine] = {
            s.channel: StationLine(s, since=now, codes=config.features)
            for s in config.stations.values()
        }
        self.station_by_id = {st.config.id: st for st in self.stations.values()}
        self.trunks = {ch: g for g in config.trunks.values() for ch in g.channels}
        self.ringing: dict[int, Ringing] = {}
        self.calls: dict[str, Call] = {}
        self.call_on_trunk: dict[int, str] = {}
        self.channel_names: dict[int, str] = {}
        self.seq = 0
        self.play_seq = 0
        self.failed_logins = 0
        self._facts: list[Fact] = []
        self._out: list[p.Command] = []
        self._ports: dict[int, tuple[PortState, float, str]] = {}
        self._dirty_queues: set[str] = set(self.acd.queues)
        self._keep_idle: set[str] = set()
        self._after_call: set[int] = set()  # ring-mode stations off hook after the caller left
        self._recording: set[int] = set()
        self._journal = journal
        if journal:
            self._load(journal)
        for seat in self.acd.agents.values():
            if not journal:
                seat.since = now

    # ==== public surface ==========================================================================

    def start(self, snapshot: dict[str, Any], now: float) -> list[p.Command]:
        """Take the media engine's `hello` snapshot: set up detectors, recover or clean up."""
        self._out = []
        chans = {int(c["number"]): c for c in snapshot.get("channels", []) if "number" in c}
        self.channel_names = {n: str(c.get("name", f"chan/{n}")) for n, c in chans.items()}
        for n in list(self.trunks) + list(self.stations):
            if n not in chans:
                log.warning("config channel %d is not on the card %s", n, snapshot.get("card"))
        if self._journal:
            self._reconcile(chans, now)
        else:
            self._clean_start(chans, now)
        for ch in self.trunks:
            if ch in chans and ch not in self.call_on_trunk:
                self._cmd(p.Detect(channel=ch, callerid=True, dtmf=False, cpt=False))
        for ch in self.stations:
            if ch in chans:
                self._cmd(p.Detect(channel=ch, dtmf=True))
        self._settle(now)
        return self._flush()

    def handle(self, event: p.Event, now: float) -> list[p.Command]:
        """One media event; returns the commands it leads to."""
        self._out = []
        ch = getattr(event, "channel", None)
        if isinstance(ch, int) and ch in self.trunks:
            self._trunk_event(ch, event, now)
        elif isinstance(ch, int) and ch in self.stations:
            self._station_event(self.stations[ch], event, now)
        if isinstance(event, p.ClockEvent):
            self._timers(now)
        self._settle(now)
        return self._flush()

    def tick(self, now: float) -> list[p.Command]:
        """Timers (IVR timeouts, ring timeouts, wrap-up, queue max wait, feature digits)."""
        self._out = []
        self._timers(now)
        self._settle(now)
        return self._flush()

    def drain_facts(self) -> list[Fact]:
        out, self._facts = self._facts, []
        return out

    def snapshot(self) -> dict[str, Any]:
        """What the box is doing now, JSON-able (live view, admin socket)."""
        return {
            "calls": [
                {
                    "call_id": c.call_id,
                    "channel": c.channel,
                    "state": c.state.value,
                    "caller": c.number,
                    "name": c.name,
                    "queue": c.queue,
                    "agent": c.agent,
                    "since": c.connected_t or c.entered or c.answer,
                }
                for c in self.calls.values()
            ],
            "agents": {
                a.id: {
                    "name": a.config.name,
                    "state": a.state.value,
                    "since": a.since,
                    "station": a.station,
                    "call": a.call,
                    "queue": a.queue,
                    "reason": a.pause_reason,
                }
                for a in self.acd.agents.values()
            },
            "queues": {q: _stats_dict(self.acd.stats(q, self._last_now)) for q in self.acd.queues},
            "ports": {
                str(ch): {"state": st.value, "since": since, "call": cid}
                for ch, (st, since, cid) in sorted(self._ports.items())
            },
        }

    # ==== trunks ==================================================================================

    def _trunk_event(self, ch: int, ev: p.Event, now: float) -> None:
        call = self.calls.get(self.call_on_trunk.get(ch, ""))
        if isinstance(ev, p.RingStartEvent):
            if call is None:
                self._ring(ch, now)
        elif isinstance(ev, p.CallerIdEvent):
            r = self.ringing.get(ch)
            if r is not None:
                r.number, r.name = ev.number or "", ev.caller_name or ""
        elif call is None:
            return
        elif isinstance(ev, p.LoopDropEvent) or (
            isinstance(ev, p.ToneEvent) and ev.tone in HANGUP_TONES
        ):
            self._caller_gone(call, now)
        elif isinstance(ev, p.DigitEvent):
            if call.state is CallState.IVR and call.ivr is not None:
                self._ivr_step(call, call.ivr.digit(ev.digit, now), now)
        elif isinstance(ev, p.PlayDoneEvent) and str(ev.play_id) == call.playing:
            call.playing = ""
            if ev.reason == "finished":
                self._caller_prompt_done(call, now)

    def _ring(self, ch: int, now: float) -> None:
        r = self.ringing.get(ch)
        if r is None:
            r = self.ringing[ch] = Ringing(ch, now, now)
        r.rings += 1
        r.last_t = now
        if r.rings >= self.trunks[ch].answer_after_rings:
            self._answer(r, now)

    def _answer(self, r: Ringing, now: float) -> None:
        del self.ringing[r.channel]
        group = self.trunks[r.channel]
        self.seq += 1
        call = Call(
            call_id=new_call_id(now, self.seq),
            channel=r.channel,
            trunk_group=group.name,
            number=r.number,
            name=r.name,
            start=r.first_t,
            answer=now,
        )
        self.calls[call.call_id] = call
        self.call_on_trunk[r.channel] = call.call_id
        self._cmd(p.Hook(channel=r.channel, offhook=True))
        self._cmd(p.Detect(channel=r.channel, dtmf=True, cpt=True, callerid=False))
        self._fact(CallOffered(now, call.call_id, r.channel, group.name, r.number, r.name))
        call.ivr = IvrSession(self.config.ivr, group.ivr_menu)
        self._fact(CallAnsweredByIvr(now, call.call_id, r.channel, group.ivr_menu))
        self._ivr_step(call, call.ivr.start(), now)

    def _ivr_step(self, call: Call, step: IvrStep, now: float) -> None:
        if step.choice is not None:
            digit, action, target = step.choice
            self._fact(IvrChoice(now, call.call_id, step.menu, digit, action, target))
        if step.play:
            self._play_caller(call, step.play)
        elif step.stop and call.playing:
            self._cmd(p.Stop(channel=call.channel))
            call.playing = ""
        if step.queue:
            self._enter_queue(call, step.queue, now)
        elif step.hangup:
            call.lastapp, call.lastdata = "Hangup", ""
            self._end_call(call, now)

    def _caller_prompt_done(self, call: Call, now: float) -> None:
        if call.state is CallState.IVR and call.ivr is not None:
            self._ivr_step(call, call.ivr.prompt_done(now), now)
        elif call.state is CallState.LEAVING:
            self._end_call(call, now)

    def _enter_queue(self, call: Call, queue: str, now: float) -> None:
        q = self.config.queues[queue]
        call.state = CallState.QUEUED
        call.queue = queue
        call.entered = now
        call.lastapp, call.lastdata = "Queue", queue
        if call.ivr is not None:
            call.path.extend(call.ivr.path)
        call.path.append(f"queue:{queue}")
        pos = self.acd.enqueue(call.call_id, queue, now)
        call.origposition = pos
        self._cmd(p.Moh(channel=call.channel, on=True, moh_class=q.moh_class))
        self._fact(CallQueued(now, call.call_id, queue, pos, call.number))
        self._dirty_queues.add(queue)

    def _caller_gone(self, call: Call, now: float) -> None:
        """The caller hung up (loop current drop or a disconnect tone on the trunk)."""
        if call.state in (CallState.QUEUED, CallState.OFFERING, CallState.WHISPER):
            self._withdraw_offer(call, now)
            self._abandon(call, now)
        elif call.state is CallState.CONNECTED:
            self._complete(call, HangupSide.CALLER, now)
        self._end_call(call, now)

    def _abandon(self, call: Call, now: float) -> None:
        pos = self.acd.leave(call.call_id, call.queue)
        wait = now - (call.entered or now)
        self._fact(CallAbandoned(now, call.call_id, call.queue, pos, call.origposition, wait))
        self.acd.count_abandoned(call.queue, now)
        self._dirty_queues.add(call.queue)

    def _end_call(self, call: Call, now: float) -> None:
        """Hang up the trunk, free it, write the CDR."""
        ch = call.channel
        if ch in self._recording:
            self._recording.discard(ch)
            self._cmd(p.Record(channel=ch, on=False))
        self._cmd(p.Stop(channel=ch))
        self._cmd(p.Disconnect(channel=ch))
        self._cmd(p.Hook(channel=ch, offhook=False))
        self._cmd(p.Detect(channel=ch, dtmf=False, cpt=False, callerid=True))
        call.state = CallState.ENDED
        call.ended_t = now
        st = self.station_by_id.get(call.station)
        dst = self.trunks[ch].number or self.trunks[ch].name
        dst_name = self.channel_names.get(st.channel, f"chan/{st.channel}") if st else ""
        if call.agent:
            call.path.append(f"agent:{call.agent}")
        self._fact(call.cdr(now, dst, self.channel_names.get(ch, f"chan/{ch}"), dst_name))
        del self.calls[call.call_id]
        self.call_on_trunk.pop(ch, None)

    # ==== offering calls to agents ================================================================

    def _available(self, seat: AgentSeat) -> bool:
        st = self.station_by_id.get(seat.station)
        return seat.state is AgentState.AVAILABLE and st is not None and st.ready_for_offer()

    def _dispatch(self, now: float) -> None:
        for _, call_id, queue in self.acd.waiting_calls():
            call = self.calls.get(call_id)
            if call is None or call.state is not CallState.QUEUED:
                continue
            seat = self.acd.pick_agent(queue, self._available, call.tried)
            if seat is not None:
                self._offer(call, seat, now)

    def _offer(self, call: Call, seat: AgentSeat, now: float) -> None:
        st = self.station_by_id[seat.station]
        q = self.config.queues[call.queue]
        if set(call.tried) >= {a for a in q.members if a in self.acd.agents}:
            call.tried.clear()
        call.tried.append(seat.id)
        call.agent, call.station, call.offered_t = seat.id, st.config.id, now
        seat.call, seat.queue = call.call_id, call.queue
        self._keep_idle.add(seat.id)  # until connected, a failed offer keeps the idle time
        if st.nailed:
            st.call = call.call_id
            call.ringtime = 0.0
            self._whisper(call, st, self.config.features.offer_prompt + q.whisper)
            if not st.playing:
                self._connect(call, st, now)
                return
        else:
            call.state = CallState.OFFERING
            st.ringing_call = call.call_id
            call.ring_deadline = now + q.ring_timeout_s
            name = f"{call.queue} {call.name}".strip()[:15]
            cid = p.CallerIdSpec(number=call.number or None, name=name or None)
            self._cmd(p.Ring(channel=st.channel, on=True, callerid=cid))
        self._refresh_agent(seat, now)

    def _whisper(self, call: Call, st: StationLine, files: tuple[Path, ...]) -> None:
        call.state = CallState.WHISPER
        if files:
            self._play_station(st, files)
        else:
            st.playing = ""

    def _withdraw_offer(self, call: Call, now: float) -> None:
        """Take back an offer that did not connect (RNA, caller gone, agent gone)."""
        seat = self.acd.agents.get(call.agent)
        st = self.station_by_id.get(call.station)
        if call.state is CallState.OFFERING and st is not None:
            self._cmd(p.Ring(channel=st.channel, on=False))
            st.ringing_call = ""
        elif call.state is CallState.WHISPER and st is not None:
            if st.playing:
                self._cmd(p.Stop(channel=st.channel))
                st.playing = ""
            st.call = ""
        if seat is not None and seat.call == call.call_id:
            seat.call, seat.queue = "", ""
        call.agent, call.station, call.ring_deadline, call.offered_t = "", "", None, None

    def _ring_no_answer(self, call: Call, now: float) -> None:
        seat = self.acd.agents.get(call.agent)
        ringtime = now - (call.offered_t or now)
        agent = call.agent
        self._withdraw_offer(call, now)
        call.state = CallState.QUEUED
        self._fact(RingNoAnswer(now, call.call_id, call.queue, agent, int(round(ringtime * 1000))))
        if seat is not None and self.config.queues[call.queue].autopause_on_rna:
            self._pause(seat, "rna", now)

    def _station_answered(self, st: StationLine, now: float) -> None:
        call = self.calls.get(st.ringing_call)
        st.ringing_call = ""
        if call is None:
            return
        st.call = call.call_id
        call.ringtime = now - (call.offered_t or now)
        call.ring_deadline = None
        self._whisper(call, st, self.config.queues[call.queue].whisper)
        if not st.playing:
            self._connect(call, st, now)

    def _connect(self, call: Call, st: StationLine, now: float) -> None:
        seat = self.acd.agents[call.agent]
        call.state = CallState.CONNECTED
        call.connected_t = now
        self.acd.leave(call.call_id, call.queue)
        holdtime = now - (call.entered or now)
        self._cmd(p.Moh(channel=call.channel, on=False))
        self._cmd(p.Connect(a=call.channel, b=st.channel, mode="duplex"))
        rec = self.config.recording
        if rec.enabled and (not rec.queues or call.queue in rec.queues):
            file = rec.dir / f"{call.call_id}.wav"
            self._cmd(p.Record(channel=call.channel, on=True, file=str(file)))
            self._recording.add(call.channel)
        self._keep_idle.discard(seat.id)
        self._fact(
            AgentConnected(
                now, call.call_id, call.queue, seat.id, st.channel, holdtime, call.ringtime
            )
        )
        self.acd.count_answered(call.queue, holdtime, now)
        self._dirty_queues.add(call.queue)
        self._refresh_agent(seat, now)

    def _complete(self, call: Call, side: HangupSide, now: float) -> None:
        seat = self.acd.agents.get(call.agent)
        st = self.station_by_id.get(call.station)
        holdtime = (call.connected_t or now) - (call.entered or now)
        calltime = now - (call.connected_t or now)
        self._fact(
            CallCompleted(
                now,
                call.call_id,
                call.queue,
                call.agent,
                side,
                holdtime,
                calltime,
                call.origposition,
            )
        )
        if st is not None:
            st.call = ""
            if side is HangupSide.CALLER and st.offhook:
                if st.nailed:
                    self._play_station(st, self.config.features.hangup_prompt)
                else:
                    self._cmd(p.Tone(channel=st.channel, tone="busy"))
                    st.tone = True
                    self._after_call.add(st.channel)
        if seat is not None:
            seat.call = ""
            wrapup = self.config.queues[call.queue].wrapup_s
            seat.wrapup_until = now + wrapup if wrapup > 0 else None
            self._refresh_agent(seat, now)

    # ==== stations ================================================================================

    def _station_event(self, st: StationLine, ev: p.Event, now: float) -> None:
        if isinstance(ev, p.OffHookEvent):
            self._station_offhook(st, now)
        elif isinstance(ev, p.OnHookEvent):
            self._station_onhook(st, now)
        elif isinstance(ev, p.FlashEvent):
            self._station_flash(st, now)
        elif isinstance(ev, p.DigitEvent):
            if st.call or st.ringing_call or not st.offhook:
                return  # digits during a call are the caller's business, not feature codes
            self._after_call.discard(st.channel)
            if st.tone:
                self._cmd(p.Stop(channel=st.channel))
                st.tone = False
            self._feature(st, st.dialer.digit(ev.digit, now), now)
        elif isinstance(ev, p.PlayDoneEvent):
            if str(ev.play_id) != st.playing:
                return
            st.playing = ""
            call = self.calls.get(st.call)
            whispering = call is not None and call.state is CallState.WHISPER
            if whispering and call is not None and ev.reason == "finished":
                self._connect(call, st, now)

    def _station_offhook(self, st: StationLine, now: float) -> None:
        st.offhook = True
        if st.ringing_call:
            self._station_answered(st, now)
            return
        if not (st.agent and st.nailed):
            self._cmd(p.Tone(channel=st.channel, tone="dial"))
            st.tone = True

    def _station_onhook(self, st: StationLine, now: float) -> None:
        st.offhook = False
        st.dialer.clear()
        self._after_call.discard(st.channel)
        if st.tone or st.playing:
            self._cmd(p.Stop(channel=st.channel))
            st.tone, st.playing = False, ""
        call = self.calls.get(st.call)
        if call is None:
            return
        if call.state is CallState.CONNECTED:
            self._complete(call, HangupSide.AGENT, now)
            self._end_call(call, now)
        elif call.state is CallState.WHISPER:
            self._ring_no_answer(call, now)  # the agent dropped the offer during the whisper

    def _station_flash(self, st: StationLine, now: float) -> None:
        """A hook flash. A nailed-up agent stays off hook, so the flash is how it ends a call
        (released like an agent hang-up, wrap-up follows) or turns down a call it is being
        whispered. On a rung station the agent ends a call by hanging up; a flash there leaves
        the call up (DESIGN §4 reserves flash + digits for transfer and consult)."""
        call = self.calls.get(st.call)
        if call is None:
            return
        if not st.nailed:
            log.info("station %s: hook flash during call %s ignored", st.config.id, call.call_id)
            return
        if call.state is CallState.CONNECTED:
            self._complete(call, HangupSide.AGENT, now)
            self._end_call(call, now)
        elif call.state is CallState.WHISPER:
            self._ring_no_answer(call, now)

    def _feature(
        self, st: StationLine, res: FeatureRequest | FeatureFailure | None, now: float
    ) -> None:
        f = self.config.features
        if res is None:
            return
        if isinstance(res, FeatureFailure):
            log.info("station %s: feature code %r: %s", st.config.id, res.dialled, res.reason)
            self._play_station(st, f.error_prompt)
            return
        seat = self.acd.agents.get(st.agent) if st.agent else None
        ok = False
        if res.feature is Feature.LOGIN:
            agent_id, pin = res.fields
            if self._login(st, agent_id, pin, now):
                self._play_station(st, f.login_prompt)
            else:
                self.failed_logins += 1
                self._play_station(st, f.login_failed_prompt)
            return
        if seat is None:
            ok = False
        elif res.feature is Feature.LOGOUT:
            self._logout(seat, st, now)
            self._play_station(st, f.logout_prompt)
            return
        elif res.feature is Feature.PAUSE:
            reason = self._pause_reason(res.fields[0])
            ok = reason is not None and not seat.pause_reason
            if ok and reason is not None:
                self._pause(seat, reason, now)
        elif res.feature is Feature.UNPAUSE:
            ok = bool(seat.pause_reason)
            if ok:
                reason, seat.pause_reason = seat.pause_reason, ""
                self._fact(AgentUnpaused(now, seat.id, reason, seat.queues))
        elif res.feature is Feature.WRAPUP_DONE:
            ok = seat.wrapup_until is not None
            seat.wrapup_until = None
        if seat is not None:
            self._refresh_agent(seat, now)
        self._play_station(st, f.ok_prompt if ok else f.error_prompt)

    def _pause_reason(self, code: str) -> str | None:
        reasons = self.config.features.pause_reasons
        if not reasons:
            return code or "pause"
        return reasons.get(code)

    def _pause(self, seat: AgentSeat, reason: str, now: float) -> None:
        seat.pause_reason = reason
        self._fact(AgentPaused(now, seat.id, reason, seat.queues))
        self._refresh_agent(seat, now)

    def _login(self, st: StationLine, agent_id: str, pin: str, now: float) -> bool:
        seat = self.acd.agents.get(agent_id)
        if seat is None or not verify_pin(pin, seat.config.pin_hash):
            log.info("station %s: login as %r refused", st.config.id, agent_id)
            return False
        if seat.logged_in:
            return seat.station == st.config.id  # already on here: fine; elsewhere: refused
        if st.agent:
            return False
        seat.station, seat.login_t = st.config.id, now
        seat.pause_reason, seat.wrapup_until = "", None
        st.agent = agent_id
        self._fact(AgentLogin(now, agent_id, st.config.id, st.channel, seat.queues))
        self._refresh_agent(seat, now)
        return True

    def _logout(self, seat: AgentSeat, st: StationLine, now: float) -> None:
        self._fact(
            AgentLogoff(now, seat.id, st.config.id, st.channel, seat.queues, now - seat.login_t)
        )
        st.agent = ""
        seat.station, seat.pause_reason, seat.wrapup_until = "", "", None
        seat.state = AgentState.LOGGED_OUT
        self._emit_agent(seat, now)

    # ==== timers ==================================================================================

    def _timers(self, now: float) -> None:
        for ch, r in list(self.ringing.items()):
            if now - r.last_t >= RING_GAP_S:
                del self.ringing[ch]  # the caller gave up before the box answered
        for call in list(self.calls.values()):
            if call.state is CallState.IVR and call.ivr is not None:
                step = call.ivr.tick(now)
                if step is not None:
                    self._ivr_step(call, step, now)
            elif call.state is CallState.OFFERING and now >= (call.ring_deadline or now + 1):
                self._ring_no_answer(call, now)
            if call.state is CallState.QUEUED:
                q = self.config.queues[call.queue]
                if q.max_wait_s and call.entered is not None and now - call.entered >= q.max_wait_s:
                    self._queue_timeout(call, q.timeout_prompt, now)
        for st in self.stations.values():
            failure = st.dialer.tick(now)
            if failure is not None:
                self._feature(st, failure, now)
        for seat in self.acd.agents.values():
            if seat.wrapup_until is not None and now >= seat.wrapup_until:
                seat.wrapup_until = None
                self._refresh_agent(seat, now)

    def _queue_timeout(self, call: Call, prompt: tuple[Path, ...], now: float) -> None:
        pos = self.acd.leave(call.call_id, call.queue)
        wait = now - (call.entered or now)
        self._fact(CallTimedOut(now, call.call_id, call.queue, pos, call.origposition, wait))
        self.acd.count_abandoned(call.queue, now)
        self._dirty_queues.add(call.queue)
        if prompt:
            call.state = CallState.LEAVING
            self._play_caller(call, prompt)  # replaces the music on hold
        else:
            self._end_call(call, now)

    # ==== state → facts ===========================================================================

    def _agent_state(self, seat: AgentSeat) -> AgentState:
        if not seat.station:
            return AgentState.LOGGED_OUT
        call = self.calls.get(seat.call)
        if call is not None:
            return {
                CallState.OFFERING: AgentState.RINGING,
                CallState.WHISPER: AgentState.WHISPER,
            }.get(call.state, AgentState.ON_CALL)
        if seat.wrapup_until is not None:
            return AgentState.WRAP_UP
        if seat.pause_reason:
            return AgentState.PAUSED
        st = self.station_by_id[seat.station]
        ready = st.offhook if st.nailed else not st.offhook
        return AgentState.AVAILABLE if ready else AgentState.UNAVAILABLE

    def _refresh_agent(self, seat: AgentSeat, now: float) -> None:
        new = self._agent_state(seat)
        if new is seat.state:
            return
        if new is AgentState.AVAILABLE and seat.id not in self._keep_idle:
            seat.idle_since = now
        if new not in (AgentState.RINGING, AgentState.WHISPER):
            self._keep_idle.discard(seat.id)
        seat.state = new
        self._emit_agent(seat, now)

    def _emit_agent(self, seat: AgentSeat, now: float) -> None:
        seat.since = now
        call = self.calls.get(seat.call)
        self._fact(
            AgentStateChanged(
                t=now,
                agent=seat.id,
                name=seat.config.name,
                state=seat.state,
                since=now,
                station=seat.station,
                call_id=seat.call,
                queue=seat.queue,
                caller_number=call.number if call else "",
                reason=seat.pause_reason,
            )
        )
        self._dirty_queues.update(seat.queues)

    def _port_state(self, ch: int) -> tuple[PortState, str]:
        if ch in self.trunks:
            if ch in self.ringing:
                return PortState.RINGING, ""
            call = self.calls.get(self.call_on_trunk.get(ch, ""))
            if call is None:
                return PortState.IDLE, ""
            if call.state in (CallState.IVR, CallState.LEAVING):
                return PortState.IVR, call.call_id
            if call.state is CallState.CONNECTED:
                return PortState.CONNECTED, call.call_id
            return PortState.QUEUED, call.call_id
        st = self.stations[ch]
        if st.ringing_call:
            return PortState.RINGING, st.ringing_call
        if st.call:
            return PortState.CONNECTED, st.call
        if ch in self._after_call:
            return PortState.HANGUP, ""
        return (PortState.OFFHOOK if st.offhook else PortState.IDLE), ""

    def _settle(self, now: float) -> None:
        """After every input: refresh agents, hand out calls, then report what changed."""
        self._last_now = now
        for seat in self.acd.agents.values():
            if seat.station:
                self._refresh_agent(seat, now)
        self._dispatch(now)
        for seat in self.acd.agents.values():
            if seat.station:
                self._refresh_agent(seat, now)
        for ch in list(self.trunks) + list(self.stations):
            state, call_id = self._port_state(ch)
            old = self._ports.get(ch)
            if old is None or old[0] is not state or old[2] != call_id:
                since = now
                self._ports[ch] = (state, since, call_id)
                kind = "fxo" if ch in self.trunks else "fxs"
                name = self.trunks[ch].name if ch in self.trunks else self.stations[ch].config.id
                self._fact(PortStatus(now, ch, kind, state, since, call_id, name))
        for q in sorted(self._dirty_queues):
            self._fact(self.acd.stats(q, now))
        self._dirty_queues.clear()

    _last_now = 0.0

    # ==== helpers =================================================================================

    def _cmd(self, cmd: p.Command) -> None:
        self._out.append(cmd)

    def _fact(self, fact: Fact) -> None:
        self._facts.append(fact)

    def _flush(self) -> list[p.Command]:
        out, self._out = self._out, []
        return out

    def _next_play_id(self, who: str) -> str:
        self.play_seq += 1
        return f"{who}:{self.play_seq}"

    def _play_caller(self, call: Call, files: Sequence[Path]) -> None:
        pid = self._next_play_id(call.call_id)
        self._cmd(p.Play(channel=call.channel, files=tuple(str(f) for f in files), play_id=pid))
        call.playing = pid

    def _play_station(self, st: StationLine, files: Sequence[Path]) -> None:
        if not files:
            return
        pid = self._next_play_id(f"st{st.config.id}")
        self._cmd(p.Play(channel=st.channel, files=tuple(str(f) for f in files), play_id=pid))
        st.playing = pid
        st.tone = False

    # ==== recovery ================================================================================

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to carry on after a restart; JSON-able."""
        return {
            "version": JOURNAL_VERSION,
            "seq": self.seq,
            "play_seq": self.play_seq,
            "calls": [c.to_dict() for c in self.calls.values()],
            "ringing": [vars(r).copy() for r in self.ringing.values()],
            "agents": {
                a.id: {
                    "state": a.state.value,
                    "since": a.since,
                    "station": a.station,
                    "login_t": a.login_t,
                    "idle_since": a.idle_since,
                    "pause_reason": a.pause_reason,
                    "wrapup_until": a.wrapup_until,
                    "call": a.call,
                    "queue": a.queue,
                }
                for a in self.acd.agents.values()
                if a.logged_in
            },
            "stations": {
                st.config.id: {
                    "offhook": st.offhook,
                    "agent": st.agent,
                    "ringing_call": st.ringing_call,
                    "call": st.call,
                    "playing": st.playing,
                    "tone": st.tone,
                }
                for st in self.stations.values()
            },
            "queues": {
                q.name: {
                    "waiting": list(q.waiting),
                    "entered": dict(q.entered),
                    "day": q.day,
                    "offered": q.offered,
                    "answered": q.answered,
                    "abandoned": q.abandoned,
                    "answered_within_sl": q.answered_within_sl,
                }
                for q in self.acd.queues.values()
            },
            "keep_idle": sorted(self._keep_idle),
            "after_call": sorted(self._after_call),
            "recording": sorted(self._recording),
        }

    def _load(self, j: dict[str, Any]) -> None:
        if j.get("version") != JOURNAL_VERSION:
            raise ValueError(f"journal version {j.get('version')!r}, expected {JOURNAL_VERSION}")
        self.seq = int(j["seq"])
        self.play_seq = int(j["play_seq"])
        for c in j.get("calls", []):
            if c["channel"] not in self.trunks or (
                c["queue"] and c["queue"] not in self.acd.queues
            ):
                log.warning("journal: call %s no longer fits the config; dropped", c["call_id"])
                continue
            ivr = c.pop("ivr", None)
            c["state"] = CallState(c["state"])
            call = Call(**c)
            call.ivr = IvrSession.from_dict(self.config.ivr, ivr) if ivr else None
            self.calls[call.call_id] = call
            self.call_on_trunk[call.channel] = call.call_id
        for r in j.get("ringing", []):
            if r["channel"] in self.trunks:
                self.ringing[r["channel"]] = Ringing(**r)
        for aid, a in j.get("agents", {}).items():
            seat = self.acd.agents.get(aid)
            if seat is None or a["station"] not in self.station_by_id:
                continue
            seat.state = AgentState(a["state"])
            seat.since, seat.station, seat.login_t = a["since"], a["station"], a["login_t"]
            seat.idle_since, seat.pause_reason = a["idle_since"], a["pause_reason"]
            seat.wrapup_until, seat.call, seat.queue = a["wrapup_until"], a["call"], a["queue"]
        for sid, s in j.get("stations", {}).items():
            st = self.station_by_id.get(sid)
            if st is None:
                continue
            st.offhook, st.agent = bool(s["offhook"]), s["agent"]
            st.ringing_call, st.call = s["ringing_call"], s["call"]
            st.playing, st.tone = s["playing"], bool(s["tone"])
        for name, q in j.get("queues", {}).items():
            qs = self.acd.queues.get(name)
            if qs is None:
                continue
            qs.waiting = [c for c in q["waiting"] if c in self.calls]
            qs.entered = {c: float(t) for c, t in q["entered"].items() if c in self.calls}
            qs.day, qs.offered, qs.answered = q["day"], q["offered"], q["answered"]
            qs.abandoned, qs.answered_within_sl = q["abandoned"], q["answered_within_sl"]
        self._keep_idle = set(j.get("keep_idle", []))
        self._after_call = set(j.get("after_call", []))
        self._recording = set(j.get("recording", []))

    def _clean_start(self, chans: dict[int, dict[str, Any]], now: float) -> None:
        for ch, c in chans.items():
            if ch in self.trunks:
                if c.get("hook") == "offhook":
                    self._cmd(p.Hook(channel=ch, offhook=False))
                if c.get("player") or c.get("hears") or c.get("heard_by"):
                    self._cmd(p.Stop(channel=ch))
                    self._cmd(p.Disconnect(channel=ch))
                if c.get("recording"):
                    self._cmd(p.Record(channel=ch, on=False))
            elif ch in self.stations:
                st = self.stations[ch]
                if c.get("ringing"):
                    self._cmd(p.Ring(channel=ch, on=False))
                if c.get("player") or c.get("hears") or c.get("heard_by"):
                    self._cmd(p.Stop(channel=ch))
                    self._cmd(p.Disconnect(channel=ch))
                st.offhook = c.get("hook") == "offhook"

    def _reconcile(self, chans: dict[int, dict[str, Any]], now: float) -> None:
        for call in list(self.calls.values()):
            c = chans.get(call.channel, {})
            player = c.get("player") or {}
            if c.get("hook") != "offhook":
                log.warning(
                    "recovery: trunk %d is on hook; call %s ends", call.channel, call.call_id
                )
                self._caller_gone(call, now)
                continue
            if call.playing and str(player.get("play_id")) != call.playing:
                call.playing = ""  # the prompt ended while calld was away
                self._caller_prompt_done(call, now)
            if call.state is CallState.QUEUED and player.get("type") != "moh":
                moh = self.config.queues[call.queue].moh_class
                self._cmd(p.Moh(channel=call.channel, on=True, moh_class=moh))
            st = self.station_by_id.get(call.station)
            linked = st is not None and st.channel in c.get("hears", [])
            if call.state is CallState.CONNECTED and st is not None and not linked:
                self._cmd(p.Connect(a=call.channel, b=st.channel, mode="duplex"))
        for ch, line in self.stations.items():
            sc = chans.get(ch)
            if sc is None:
                continue
            splayer = sc.get("player") or {}
            if line.playing and str(splayer.get("play_id")) != line.playing:
                line.playing = ""
                whispered = self.calls.get(line.call)
                if whispered is not None and whispered.state is CallState.WHISPER:
                    self._connect(whispered, line, now)
            offhook = sc.get("hook") == "offhook"
            if offhook and not line.offhook:
                self._station_offhook(line, now)
            elif line.offhook and not offhook:
                self._station_onhook(line, now)


def _stats_dict(s: Any) -> dict[str, Any]:
    return {
        "waiting": s.waiting,
        "oldest_since": s.oldest_since,
        "agents": s.agents,
        "offered": s.offered,
        "answered": s.answered,
        "abandoned": s.abandoned,
        "answered_within_sl": s.answered_within_sl,
        "service_level": s.service_level,
    }
