"""What the box is doing, kept from status payloads, and drawn as text (pure: no I/O).

`BoxView` is fed the same payload dicts that go out on MQTT (firmware/status/topics.py), either
from the wire (`callbox run`'s live view follows the broker) or straight from calld (the admin
socket's `snapshot`). `render()` draws lines, queues and agents: calls waiting, longest wait, who
is on which call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmware.status.topics import TopicTree


@dataclass
class BoxView:
    status: dict[str, Any] = field(default_factory=dict)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[int, dict[str, Any]] = field(default_factory=dict)
    spans: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)  # last events, newest last
    latest_t: float | None = None  # the newest media time seen in any payload
    max_recent: int = 8

    def apply(self, tree: TopicTree, topic: str, payload: dict[str, Any] | None) -> None:
        """Take one message of the box's tree; anything unexpected is ignored."""
        if not topic.startswith(tree.base + "/"):
            return
        parts = topic[len(tree.base) + 1 :].split("/")
        t = payload.get("t") if payload else None
        if isinstance(t, int | float):
            self.latest_t = max(self.latest_t or t, t)
        match parts:
            case ["status"]:
                self.status = payload or {}
            case ["queue", name, "stats"]:
                self._put(self.queues, name, payload)
            case ["agent", name, "state"]:
                self._put(self.agents, name, payload)
            case ["port", channel, "status"] if channel.isdigit():
                self._put(self.ports, int(channel), payload)
            case ["span", name, "status"]:
                self._put(self.spans, name, payload)
            case ["event", _kind] if payload:
                self.recent = [*self.recent, payload][-self.max_recent :]

    @staticmethod
    def _put(table: dict[Any, dict[str, Any]], key: Any, payload: dict[str, Any] | None) -> None:
        if payload is None:
            table.pop(key, None)
        else:
            table[key] = payload

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "queues": self.queues,
            "agents": self.agents,
            "ports": {str(k): v for k, v in self.ports.items()},
            "spans": self.spans,
            "recent": self.recent,
        }


def _age(now: float | None, since: Any) -> str:
    if now is None or not isinstance(since, int | float):
        return "-"
    s = max(0, int(now - since))
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}"


BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def render(view: BoxView, now: float | None, *, color: bool = True, title: str = "") -> list[str]:
    """Text lines for the terminal: box status, queues, agents, lines, recent events."""
    b, d, r = (BOLD, DIM, RESET) if color else ("", "", "")
    st = view.status
    media = st.get("media") or {}
    out = [
        f"{b}{title or 'callbox'}{r}  status {st.get('state', '?')}  clock {st.get('clock', '?')}"
        f"  media {media.get('state', '?')}  dsp {st.get('dsp', '?')}",
        "",
        f"{b}{'queue':<12} {'waiting':>7} {'longest':>8} {'offered':>8} {'answered':>8} "
        f"{'abandoned':>9} {'SL':>6}  agents{r}",
    ]
    for name in sorted(view.queues):
        q = view.queues[name]
        sl = q.get("service_level")
        agents = ", ".join(f"{k} {v}" for k, v in sorted((q.get("agents") or {}).items()) if v)
        out.append(
            f"{name:<12} {q.get('waiting', 0):>7} {_age(now, q.get('oldest_since')):>8} "
            f"{q.get('offered', 0):>8} {q.get('answered', 0):>8} {q.get('abandoned', 0):>9} "
            f"{'-' if sl is None else f'{100 * sl:.0f}%':>6}  {agents}"
        )
    if not view.queues:
        out.append(f"{d}(no queue stats yet){r}")
    out += ["", f"{b}{'agent':<8} {'name':<10} {'state':<12} {'for':>6}  call{r}"]
    for agent_id in sorted(view.agents):
        a = view.agents[agent_id]
        call = ""
        if a.get("call_id"):
            call = f"{a['call_id']} {a.get('queue', '')} from {a.get('caller_number') or '?'}"
        elif a.get("reason"):
            call = f"({a['reason']})"
        out.append(
            f"{agent_id:<8} {str(a.get('name', ''))[:10]:<10} {a.get('state', '?'):<12} "
            f"{_age(now, a.get('since')):>6}  {call}"
        )
    if not view.agents:
        out.append(f"{d}(no agent state yet){r}")
    out += ["", f"{b}{'line':<5} {'kind':<5} {'name':<8} {'state':<10} {'for':>6}  call{r}"]
    for ch in sorted(view.ports):
        p = view.ports[ch]
        out.append(
            f"{ch:<5} {p.get('kind', ''):<5} {str(p.get('name', ''))[:8]:<8} "
            f"{p.get('state', '?'):<10} {_age(now, p.get('since')):>6}  {p.get('call_id', '')}"
        )
    if not view.ports:
        out.append(f"{d}(no port status yet){r}")
    if view.spans:
        out += [
            "",
            f"{b}{'span':<10} {'type':<12} {'link':<5} {'alarm':<8} {'for':>6}  B-channels{r}",
        ]
        for name in sorted(view.spans):
            s = view.spans[name]
            chans = s.get("channels") or {}
            counts = ", ".join(
                f"{len(v)} {k.replace('_', ' ')}" for k, v in sorted(chans.items()) if v
            )
            rejected = sum((s.get("rejected") or {}).values())
            kind = f"{s.get('kind', '')} {s.get('switch', '')}"
            out.append(
                f"{name[:10]:<10} {kind:<12} {s.get('link', '?'):<5} {s.get('alarm', '?'):<8} "
                f"{_age(now, s.get('since')):>6}  {counts or '-'}"
                + (f"  ({rejected} rejected)" if rejected else "")
            )
    if view.recent:
        out += ["", f"{b}recent events{r}"]
        for e in view.recent[-5:]:
            who = e.get("caller_number") or e.get("agent") or e.get("source") or ""
            out.append(f"  {e.get('kind', '?'):<10} {e.get('call_id', ''):<16} {who}")
    return out
