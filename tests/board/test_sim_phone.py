"""Scriptable phones on FXS ports: hook, flash, ringing, DTMF dialling, speech, recording."""

from __future__ import annotations

import pytest
from simtools import START, Run, prompt

from board.card import HookFlash, OffHook, OnHook
from board.sim.card import SimCard
from board.sim.listener import find
from board.sim.phone import PhoneError
from cython_ext.dtmf import DtmfDetector


def _card(query: str = "") -> tuple[SimCard, Run]:
    card = SimCard(f"sim://?trunks=1&stations=2&start={START}&{query}")
    return card, Run(card)


def test_hook_events_in_order() -> None:
    card, run = _card()
    phone = card.phone(2)
    phone.off_hook()
    run.run(1.0)
    phone.on_hook()
    run.run(0.5)
    assert [(type(e), e.channel) for _, e in run.events] == [(OffHook, 2), (OnHook, 2)]


def test_flash_is_one_hookflash_after_the_flash_time() -> None:
    card, run = _card()
    phone = card.phone(3)
    phone.off_hook()
    run.run(0.2)
    t = card.now
    phone.flash()
    run.run(1.0)
    kinds = [type(e) for _, e in run.events]
    assert kinds == [OffHook, HookFlash]
    assert run.times(HookFlash, 3)[0] - t == pytest.approx(0.5, abs=0.021)


def test_flash_on_hook_and_dial_on_hook_are_refused() -> None:
    card, _ = _card()
    with pytest.raises(PhoneError, match="on hook"):
        card.phone(2).flash()
    with pytest.raises(PhoneError, match="on hook"):
        card.phone(2).dial("1")


def test_ringing_follows_the_cadence_and_off_hook_trips_it() -> None:
    card, run = _card()
    phone = card.phone(2)
    bursts: list[tuple[float, bool]] = []
    phone.own_party.on_ring = lambda on: bursts.append((round(card.network.now, 2), on))  # type: ignore[method-assign]
    t0 = card.now
    card.ring(2, True)
    run.run(7.0)
    assert [(round(t - t0, 2), on) for t, on in bursts] == [
        (0.0, True), (2.0, False), (6.0, True)
    ]  # fmt: skip
    phone.off_hook()
    assert not phone.ringing
    assert bursts[-1][1] is False  # the burst stopped at once
    card.ring(2, True)  # ringing an off-hook phone does nothing
    assert not phone.ringing


@pytest.mark.parametrize("law", ["ulaw", "alaw", "linear"])
def test_dialled_digits_are_detected_by_the_dtmf_detector(law: str) -> None:
    card, run = _card(f"law={law}")
    phone = card.phone(3)
    phone.off_hook()
    run.run(0.3)
    phone.dial("*111001#1234#")
    run.run(4.0)
    detector = DtmfDetector()
    rx = run.rx(3)
    digits = [d.digit for i in range(0, rx.size, 160) for d in detector.process(rx[i : i + 160])]
    digits += [d.digit for d in detector.flush()]
    assert "".join(digits) == "*111001#1234#"


def test_a_phone_on_hook_is_not_heard_and_hears_nothing() -> None:
    card, run = _card()
    phone = card.phone(2)
    rec = phone.record()
    phone.speak(prompt("vm-intro"))
    run.send(2, prompt("vm-intro"))
    run.run(1.0)
    assert not run.rx(2).any()
    assert not rec.samples().any()


def test_a_phone_hears_what_the_box_sends_and_speaks_into_the_box() -> None:
    card, run = _card()
    phone = card.phone(2)
    phone.off_hook()
    rec = phone.record()
    greeting, reply = prompt("hello-world"), prompt("vm-goodbye")
    run.send(2, greeting)
    phone.speak(reply)
    run.run(2.0)
    at, rho = find(rec.samples(), greeting)
    assert at == 0 and rho > 0.99  # through µ-law both ways
    at, rho = find(run.rx(2), reply)
    assert at == 0 and rho > 0.99
    card.network.stop_recording(rec)
    assert rec.samples().size == 2 * 8000
