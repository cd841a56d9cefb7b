"""The console's commands drawn from calld's `snapshot` (pure: dict in, text lines out).

`status` is firmware/status/view.py's `render()` (what `callbox status` shows); `queues`,
`agents`, `lines` and `spans` are its sections; `span NAME` and `alarms` add detail from the same
span payloads (MQTT `span/<name>/status`, firmware/calld/spans.py).
"""

from __future__ import annotations

from typing import Any

from firmware.console.session import ConsoleInputError
from firmware.status.view import BoxView, _age, render

# the first word of each section's header row in view.render()
_SECTIONS = {"queues": "queue", "agents": "agent", "lines": "line", "spans": "span"}


def view_of(snapshot: dict[str, Any]) -> BoxView:
    v = snapshot.get("view") or {}
    return BoxView(
        status=v.get("status") or {},
        queues=v.get("queues") or {},
        agents=v.get("agents") or {},
        ports={int(k): val for k, val in (v.get("ports") or {}).items()},
        spans=v.get("spans") or {},
        recent=v.get("recent") or [],
    )


def _now(snapshot: dict[str, Any]) -> float | None:
    now = (snapshot.get("media") or {}).get("now")
    return float(now) if isinstance(now, int | float) else None


def status_lines(snapshot: dict[str, Any]) -> list[str]:
    box = snapshot.get("box") or {}
    out = render(
        view_of(snapshot), _now(snapshot), color=False, title=f"{box.get('site')}/{box.get('box')}"
    )
    media, mqtt = snapshot.get("media") or {}, snapshot.get("mqtt")
    out += [
        "",
        f"media: {media.get('state')} clock {media.get('clock')} errors {media.get('errors')}",
    ]
    if mqtt:
        out.append(
            f"mqtt: {'connected' if mqtt.get('connected') else 'NOT connected'}, "
            f"{mqtt.get('published')} published, {mqtt.get('commands_rejected')} commands rejected"
        )
    else:
        out.append("mqtt: disabled")
    return out


def section(snapshot: dict[str, Any], name: str) -> list[str]:
    """One block of `render()`'s output: its header row and rows, or a note that it is empty."""
    view = view_of(snapshot)
    if name == "spans" and not view.spans:
        return ["(no PRI spans configured)"]
    lines = render(view, _now(snapshot), color=False)
    head = _SECTIONS[name]
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line:
            blocks[-1].append(line)
        else:
            blocks.append([])
    for block in blocks:
        if block and block[0].split()[:1] == [head]:
            return block
    return [f"(no {name})"]


def _channels(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3,5'."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def span_detail(snapshot: dict[str, Any], name: str) -> list[str]:
    spans = view_of(snapshot).spans
    s = spans.get(name)
    if s is None:
        known = ", ".join(sorted(spans)) or "none configured"
        raise ConsoleInputError(f"no span {name!r} (spans: {known})")
    now = _now(snapshot)
    out = [
        f"span {name}: {s.get('kind', '?')} {s.get('switch', '?')} {s.get('role', '?')}",
        f"  link   {s.get('link', '?')}",
        f"  alarm  {s.get('alarm', '?')} for {_age(now, s.get('since'))}",
        f"  calls  {s.get('calls', 0)}",
        "  B-channels:",
    ]
    chans = s.get("channels") or {}
    for state in sorted(chans):
        if chans[state]:
            label, n = state.replace("_", " "), len(chans[state])
            out.append(f"    {label:<15} {n:>3}  {_channels(chans[state])}")
    rejected = s.get("rejected") or {}
    out.append(
        "  rejected input: "
        + (", ".join(f"{k} {v}" for k, v in sorted(rejected.items())) or "none")
    )
    return out


def alarm_lines(snapshot: dict[str, Any]) -> list[str]:
    view = view_of(snapshot)
    now = _now(snapshot)
    out: list[str] = []
    for name in sorted(view.spans):
        s = view.spans[name]
        if s.get("alarm") != "clear" or s.get("link") != "up":
            out.append(
                f"span {name}: alarm {s.get('alarm', '?')}, link {s.get('link', '?')}, "
                f"for {_age(now, s.get('since'))}"
            )
    media = view.status.get("media") or {}
    if media.get("state") == "down":  # calld's link to the media engine (status/topics.py)
        out.append(f"media engine: down since {_age(now, media.get('since'))}")
    recent = [e for e in view.recent if e.get("kind") == "alarm"]
    if recent:
        out.append("recent alarm events:")
        for e in recent:
            out.append(
                f"  {_age(now, e.get('t'))} ago  {e.get('source', '?')}  {e.get('alarm', '?')}"
            )
    return out or ["no alarms"]


def render_command(command: str, arg: str, snapshot: dict[str, Any]) -> list[str]:
    """The output of one console command (the session's renderer)."""
    if command == "status":
        return status_lines(snapshot)
    if command == "span":
        return span_detail(snapshot, arg)
    if command == "alarms":
        return alarm_lines(snapshot)
    if command in _SECTIONS:
        return section(snapshot, command)
    raise ConsoleInputError(f"no renderer for {command!r}")
