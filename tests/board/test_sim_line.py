"""CO lines on FXO ports: ring cadence, FSK caller ID between the rings, echo, disconnect."""

from __future__ import annotations

import numpy as np
import pytest
from simtools import START, Run, prompt

from board.card import LoopCurrentDrop, RingStart, RingStop
from board.sim.card import SimCard
from cython_ext.callerid import CallerIdReceiver
from cython_ext.cpt import CallProgressDetector
from cython_ext.echo_paths import LineEcho
from cython_ext.levels import level_dbm0


@pytest.mark.parametrize(
    ("zone", "starts", "stops"),
    [
        # Telcordia GR-506: 2 s on, 4 s off
        ("us", [0.0, 6.0, 12.0], [2.0, 8.0, 14.0]),
        # BT double ring: 0.4 on, 0.2 off, 0.4 on, 2.0 off
        ("uk", [0.0, 0.6, 3.0, 3.6], [0.4, 1.0, 3.4, 4.0]),
        # Germany: 1 s on, 4 s off
        ("de", [0.0, 5.0, 10.0], [1.0, 6.0, 11.0]),
    ],
)
def test_ring_cadence_from_events(zone: str, starts: list[float], stops: list[float]) -> None:
    card = SimCard(f"sim://?trunks=2&stations=0&zone={zone}&start={START}")
    run = Run(card)
    run.run(1.0)
    card.call(2, number="2125550100", behave=False)
    t0 = card.now
    run.run(15.0)
    got_starts = [round(t - t0, 2) for t in run.times(RingStart, 2)]
    got_stops = [round(t - t0, 2) for t in run.times(RingStop, 2)]
    assert got_starts[: len(starts)] == pytest.approx(starts, abs=0.021)
    assert got_stops[: len(stops)] == pytest.approx(stops, abs=0.021)
    assert not run.times(RingStart, 1)  # the other line stays quiet


def _callerid_run(zone: str, cid: str = "") -> tuple[Run, float]:
    extra = f"&cid={cid}" if cid else ""
    card = SimCard(f"sim://?trunks=1&stations=0&zone={zone}&start={START}{extra}")
    run = Run(card)
    card.call(1, number="6175550123", name="GRACE HUGHES", datetime="03141592", behave=False)
    t0 = card.now
    run.run(13.0)
    return run, t0


@pytest.mark.parametrize(("zone", "standard"), [("us", "bell202"), ("uk", "v23"), ("de", "v23")])
def test_callerid_fsk_between_first_and_second_ring_decodes(zone: str, standard: str) -> None:
    run, t0 = _callerid_run(zone)
    rx = run.rx(1)
    receiver = CallerIdReceiver()
    messages = []
    for i in range(0, rx.size, 160):
        messages += receiver.process(rx[i : i + 160])
    assert len(messages) == 1
    msg = messages[0]
    assert (msg.number, msg.name, msg.datetime) == ("6175550123", "GRACE HUGHES", "03141592")
    assert msg.standard == standard
    # the burst sits in the long silence after the first ring: starts ≥ 0.5 s after it, ends
    # before the next ring
    stops = run.times(RingStop, 1)
    starts = run.times(RingStart, 1)
    loud = np.nonzero(np.abs(rx) > 1000)[0] / 8000 + t0
    gap_start = max(s for s in stops if s < loud[0])
    gap_end = min(s for s in starts if s > loud[0])
    assert loud[0] - gap_start >= 0.5
    assert gap_end - loud[-1] >= 0.2
    assert receiver.errors == 0


def test_no_callerid_when_switched_off() -> None:
    run, _ = _callerid_run("us", cid="off")
    assert level_dbm0(run.rx(1)) < -55  # line noise only


def _answered_line(query: str) -> tuple[SimCard, Run]:
    card = SimCard(f"sim://?trunks=1&stations=0&start={START}&{query}")
    run = Run(card)
    card.call(1, behave=False)
    run.run(0.1)
    card.set_hook(1, True)
    return card, run


@pytest.mark.parametrize(
    ("model", "erl", "delay_ms"), [("D2", 6, 0), ("D5", 12, 8), ("D8", 20, 30), ("D9", 12, 64)]
)
def test_line_echo_is_the_g168_path_at_the_configured_erl(
    model: str, erl: float, delay_ms: float
) -> None:
    card, run = _answered_line(f"law=linear&noise=off&echo={model}&erl={erl}&delay_ms={delay_ms}")
    # ERL is defined for a speech-like spectrum (cython_ext.echo_paths): use the sim's own voices
    voices = card.network.voices
    speech = np.concatenate([voices.phrase("caller", v, i) for v in range(3) for i in range(2)])
    speech = np.concatenate([speech, np.zeros(-speech.size % 160, dtype=np.int16)])
    start = len(run.rx_blocks)
    run.send(1, speech)
    run.run(speech.size / 8000)
    rx = np.concatenate([b[0] for b in run.rx_blocks[start:]])[: speech.size]
    expected = LineEcho(model, delay_ms, erl).process(speech)
    assert np.max(np.abs(rx.astype(np.float64) - expected)) <= 1.0
    measured_erl = level_dbm0(speech) - level_dbm0(rx)
    assert measured_erl == pytest.approx(erl, abs=1.5)


def test_no_echo_while_the_box_is_on_hook() -> None:
    card = SimCard(f"sim://?trunks=1&stations=0&start={START}&law=linear&noise=off&echo=D2&erl=6")
    run = Run(card)
    run.send(1, prompt("vm-intro"))
    run.run(2.0)
    assert not run.rx(1).any()


def test_far_end_hangup_drops_loop_current_then_reorder() -> None:
    card, run = _answered_line("noise=-70")
    caller = card.network.lines[0].caller
    assert caller is not None
    run.run(1.0)
    t_hangup = card.now
    caller.hang_up()
    run.run(4.0)
    drops = run.times(LoopCurrentDrop, 1)
    assert drops == [pytest.approx(t_hangup, abs=0.021)]
    detector = CallProgressDetector("us")
    rx = run.rx(1)[-4 * 8000 :]
    tones = [ev.tone for i in range(0, rx.size, 160) for ev in detector.process(rx[i : i + 160])]
    assert "reorder" in tones
    assert level_dbm0(rx[: int(0.9 * 8000)]) < -50  # a second of quiet before the reorder
    card.set_hook(1, False)
    assert card.network.lines[0].idle
