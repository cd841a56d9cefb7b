"""The box's configuration: one TOML file read into frozen dataclasses, one per section.

`load_config(path)` reads and checks everything at once and raises `ConfigError` listing EVERY
problem, one per line, as `FILE: key.path: what is wrong (hint)`. Unknown keys are errors (with a
"did you mean" hint), and so are missing or unusable prompt and music-on-hold files: a missing
prompt is a config error, never silence at run time.

Paths:
- a relative path resolves against the folder of the config file;
- a *prompt* is either a bare sound name (no `/`, no suffix, e.g. `"agent-loginok"`), looked up as
  `<media.sounds_dir>/<name>.wav`, or a path to a WAV file (e.g. `"prompts/sales-call.wav"`).
  Every prompt must be an 8 kHz mono WAV (linear, µ-law or A-law).

Agent PINs are stored as salted scrypt hashes (`hash_pin`, `verify_pin`); make one with
`callbox config hash-pin` (reads the PIN from the terminal or stdin).

`firmware/callbox.example.toml` shows every key with a comment; `firmware/dev.toml` runs the box
on the simulated board.
"""

from __future__ import annotations

import base64
import difflib
import functools
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from cython_ext.wavfile import WavError, read_wav_info
from firmware.isdn.config import SpanConfig, SpanConfigError

T = TypeVar("T")

DEFAULT_PATH = Path("/etc/callbox/callbox.toml")
DEFAULT_SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
DEFAULT_MOH_DIR = Path("/usr/share/asterisk/moh")
CALLERID_STANDARDS = ("bell202", "v23", "dtmf", "none")
CLOCK_MODES = ("real", "virtual")
STATION_MODES = ("ring", "nailed")
QUEUE_STRATEGIES = ("longest-idle",)
TONE_ZONES = ("us", "uk", "de", "fr", "jp", "au", "eu")
IVR_ACTIONS = ("queue", "menu", "hangup", "prompt")
DTMF_KEYS = "0123456789*#ABCD"


class ConfigError(ValueError):
    """The config cannot be used. `problems` holds one `FILE: key.path: problem` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the config:"
        super().__init__("\n".join([head, *self.problems]))


# ---- PIN hashes ----------------------------------------------------------------------------------

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_PIN_HASH_RE = re.compile(
    r"^scrypt\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$"
)


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of an agent PIN: `scrypt$n=16384,r=8,p=1$<salt>$<hash>` (base64)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(
        pin.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    params = f"n={_SCRYPT_N},r={_SCRYPT_R},p={_SCRYPT_P}"
    b64 = base64.b64encode
    return f"scrypt${params}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    """True when `pin` matches `pin_hash` (constant-time compare); False for a malformed hash."""
    m = _PIN_HASH_RE.match(pin_hash)
    if not m:
        return False
    n, r, p = (int(x) for x in m.group(1, 2, 3))
    salt, want = base64.b64decode(m.group(4)), base64.b64decode(m.group(5))
    try:
        got = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=len(want))
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


@functools.lru_cache(maxsize=256)
def _sim_pin_ok(pin: str, pin_hash: str) -> bool:
    """verify_pin for the simulated agents' dev PINs, cached (config checks repeat them)."""
    return verify_pin(pin, pin_hash)


# ---- the sections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxConfig:
    site: str
    box_id: str
    tick_ms: int = 20
    clock: str = "real"  # "real" | "virtual"
    virtual_start: float | None = None  # epoch the virtual clock starts at (None: now)
    clock_every_ticks: int = 5  # the media engine sends a clock event every N ticks
    tone_zone: str = "us"


@dataclass(frozen=True)
class BoardConfig:
    card: str
    led: str = ""


@dataclass(frozen=True)
class MediaConfig:
    socket: Path
    sounds_dir: Path
    moh_dir: Path  # class "default" = its WAV files; every subfolder with WAVs is a class
    moh: Mapping[str, tuple[Path, ...]]  # class -> WAV files, in play order
    echo_canceller: bool = True
    echo_tail_ms: int = 64
    dsp_impl: str | None = None  # None: the process default; "compiled" or "reference"


@dataclass(frozen=True)
class TrunkGroup:
    name: str
    channels: tuple[int, ...]
    answer_after_rings: int = 2
    callerid: str = "bell202"
    ivr_menu: str = "main"
    number: str = ""  # the number callers dial (CDR dst)


@dataclass(frozen=True)
class Span:
    """A PRI span: the ISDN settings (`isdn`) and where its channels sit on the card."""

    name: str
    isdn: SpanConfig  # kind, framing, line code, switch, role, provisioned B-channels, timers
    card_span: int  # the card's span number (DAHDI span), whose alarms are this span's
    base_channel: int  # card channel of timeslot 1 (DAHDI basechan)
    dchannel: int  # card channel of the D-channel
    ivr_menu: str = "main"
    number: str = ""  # the number callers dial (CDR dst); "" = the SETUP's called number

    def card_channel(self, timeslot: int) -> int:
        """The card channel carrying B-channel `timeslot` (T1 1-23, E1 1-15 and 17-31)."""
        return self.base_channel + timeslot - 1

    @property
    def bchannels(self) -> dict[int, int]:
        """Card channel -> timeslot, for every provisioned B-channel."""
        return {self.card_channel(ts): ts for ts in self.isdn.provisioned}


@dataclass(frozen=True)
class Station:
    id: str
    channel: int
    mode: str = "ring"  # "ring" | "nailed"


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    pin_hash: str


@dataclass(frozen=True)
class Queue:
    name: str
    members: tuple[str, ...]
    strategy: str = "longest-idle"
    ring_timeout_s: float = 15.0
    wrapup_s: float = 10.0
    sl_threshold_s: float = 20.0
    moh_class: str = "default"
    whisper: tuple[Path, ...] = ()
    max_wait_s: float = 0.0  # 0: wait for ever
    timeout_prompt: tuple[Path, ...] = ()
    autopause_on_rna: bool = False


@dataclass(frozen=True)
class IvrAction:
    action: str  # "queue" | "menu" | "hangup" | "prompt"
    target: str = ""  # queue or menu name; for "prompt" the prompt's text form
    prompt: tuple[Path, ...] = ()  # "prompt": the files to play before the menu repeats


@dataclass(frozen=True)
class Menu:
    name: str
    prompt: tuple[Path, ...]
    choices: Mapping[str, IvrAction]
    timeout_s: float = 5.0
    retries: int = 2
    invalid_prompt: tuple[Path, ...] = ()
    timeout_prompt: tuple[Path, ...] = ()
    on_failure: IvrAction = IvrAction("hangup")
    goodbye_prompt: tuple[Path, ...] = ()


@dataclass(frozen=True)
class IvrConfig:
    menus: Mapping[str, Menu]


@dataclass(frozen=True)
class FeatureCodes:
    login: str = "*11"
    logout: str = "*12"
    pause: str = "*13"
    unpause: str = "*14"
    wrapup_done: str = "*15"
    digit_timeout_s: float = 5.0
    pause_reasons: Mapping[str, str] = field(default_factory=dict)  # code -> reason name
    ok_prompt: tuple[Path, ...] = ()
    error_prompt: tuple[Path, ...] = ()
    login_prompt: tuple[Path, ...] = ()
    login_failed_prompt: tuple[Path, ...] = ()
    logout_prompt: tuple[Path, ...] = ()
    offer_prompt: tuple[Path, ...] = ()  # the beep a nailed-up agent hears before the whisper
    hangup_prompt: tuple[Path, ...] = ()  # a nailed-up agent hears this when the caller hangs up


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password_file: Path | None = None
    topic_prefix: str = ""  # default: callbox/v1/<site>/<box>
    keepalive_s: int = 30
    stats_expiry_s: int = 60


@dataclass(frozen=True)
class RecordsConfig:
    dir: Path = Path("/var/lib/callbox")
    queue_log: str = "queue_log"
    master_csv: str = "Master.csv"
    database: str = "callbox.sqlite"


@dataclass(frozen=True)
class RecordingConfig:
    enabled: bool = False
    dir: Path = Path("/var/lib/callbox/recordings")
    queues: tuple[str, ...] = ()  # empty: every queue


@dataclass(frozen=True)
class ConsoleConfig:
    """The technicians' serial console (firmware/console)."""

    port: str = ""  # serial device; "" = no console program under supervisord
    baud: int = 115200
    password_file: Path = Path("/var/lib/callbox/console-password")  # the scrypt hash, mode 0600
    max_failures: int = 5  # failed logins in a row before the lockout
    lockout_s: float = 300.0
    idle_timeout_s: float = 600.0  # a logged-in session with no input this long is logged out


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    calls_per_hour: float = 60.0
    aht_s: float = 180.0
    patience_s: float = 120.0
    hours: float = 0.0  # length of a traffic run; 0 = until stopped
    choice_weights: Mapping[str, float] = field(default_factory=dict)  # IVR digit -> weight
    answer_delay_s: float = 3.0
    wrapup_s: float = 5.0
    agent_pins: Mapping[str, str] = field(default_factory=dict)  # simulated agents' own PINs
    seating: Mapping[str, str] = field(default_factory=dict)  # station id -> agent id


@dataclass(frozen=True)
class Config:
    path: Path
    box: BoxConfig
    board: BoardConfig
    media: MediaConfig
    trunks: Mapping[str, TrunkGroup]
    stations: Mapping[str, Station]
    agents: Mapping[str, Agent]
    queues: Mapping[str, Queue]
    ivr: IvrConfig
    features: FeatureCodes
    mqtt: MqttConfig
    records: RecordsConfig
    recording: RecordingConfig
    sim: SimConfig
    spans: Mapping[str, Span] = field(default_factory=dict)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)

    def trunk_for_channel(self, channel: int) -> TrunkGroup | None:
        for group in self.trunks.values():
            if channel in group.channels:
                return group
        return None

    def station_for_channel(self, channel: int) -> Station | None:
        for station in self.stations.values():
            if station.channel == channel:
                return station
        return None

    @property
    def topic_prefix(self) -> str:
        return self.mqtt.topic_prefix or f"callbox/v1/{self.box.site}/{self.box.box_id}"

    def queues_of(self, agent: str) -> tuple[str, ...]:
        return tuple(q.name for q in self.queues.values() if agent in q.members)


# ---- the reader: walks the TOML, collects every problem ------------------------------------------

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FEATURE_RE = re.compile(r"^\*[0-9]{1,3}$")


class _Table:
    """One TOML table being read: remembers which keys were used, to report the others."""

    def __init__(self, reader: _Reader, data: Mapping[str, Any], path: str) -> None:
        self.r, self.data, self.path, self.used = reader, data, path, set[str]()

    def key(self, name: str) -> str:
        if not name:
            return self.path
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def get(
        self,
        name: str,
        kind: type[T] | tuple[type, ...],
        default: Any,
        *,
        required: bool = False,
        hint: str = "",
    ) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                self.r.problem(self.key(name), "missing", hint)
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            want = " or ".join(_type_name(k) for k in kinds)
            self.r.problem(self.key(name), f"must be {want}, not {_describe(value)}", hint)
            return default
        return value

    def text(self, name: str, default: str = "", *, required: bool = False, hint: str = "") -> str:
        return str(self.get(name, str, default, required=required, hint=hint))

    def choice(self, name: str, options: Iterable[str], default: str) -> str:
        options = tuple(options)
        value = self.text(name, default, hint="one of " + ", ".join(options))
        if value not in options:
            self.r.problem(
                self.key(name), f"{value!r} is not allowed", _did_you_mean(value, options)
            )
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        return bool(self.get(name, bool, default, hint="true or false"))

    def number(
        self,
        name: str,
        default: float,
        *,
        lo: float | None = None,
        hi: float | None = None,
        integer: bool = False,
        unit: str = "",
    ) -> Any:
        kind: type = int if integer else float
        value = self.get(name, kind, default)
        if value is default:
            return default
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{lo if lo is not None else '-∞'}…{hi if hi is not None else '∞'}{unit}"
            self.r.problem(self.key(name), f"{value} is out of range", f"allowed {rng}")
            return default
        return value

    def table(self, name: str, *, required: bool = False) -> _Table:
        value = self.get(name, dict, {}, required=required)
        return _Table(self.r, value, self.key(name))

    def subtables(self, hint: str = "") -> list[tuple[str, _Table]]:
        """Every key of this table must itself be a table: [section.<name>]."""
        out = []
        for name, value in self.data.items():
            self.used.add(name)
            if not isinstance(value, dict):
                self.r.problem(self.key(name), f"must be a table, not {_describe(value)}", hint)
                continue
            out.append((name, _Table(self.r, value, self.key(name))))
        return out

    def done(self, known: Iterable[str] = ()) -> None:
        """Report every key that was not read."""
        known = set(known) | self.used
        for name in self.data:
            if name not in known:
                self.r.problem(self.key(name), "unknown key", _did_you_mean(name, known))


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent
        self.problems: list[str] = []
        self._wav_checked: dict[Path, str | None] = {}

    def problem(self, key: str, what: str, hint: str = "") -> None:
        self.problems.append(f"{self.path}: {key}: {what}" + (f" ({hint})" if hint else ""))

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base / p)

    def wav_problem(self, path: Path, *, header_only: bool = False) -> str | None:
        if path not in self._wav_checked:
            self._wav_checked[path] = _wav_problem(path, header_only=header_only)
        return self._wav_checked[path]


def _type_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        dict: "a table",
        list: "a list",
    }.get(kind, kind.__name__)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    options = sorted(set(options))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if options and len(options) <= 12:
        return "known: " + ", ".join(options)
    return ""


def _wav_problem(path: Path, *, header_only: bool) -> str | None:
    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "not a file"
    try:
        if header_only:
            _check_wav_header(path)
        else:
            read_wav_info(path)
    except WavError as exc:
        return str(exc).removeprefix(f"{path}: ")
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return None


def _check_wav_header(path: Path) -> None:
    """Check a (possibly long) WAV's header without reading it all: 8 kHz mono, G.711 or 16-bit."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if cid == b"fmt ":
            body = head[pos + 8 : pos + 8 + size]
            if len(body) < 16:
                raise WavError(f"{path}: truncated fmt chunk")
            tag = int.from_bytes(body[0:2], "little")
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")
            bits = int.from_bytes(body[14:16], "little")
            if tag == 0xFFFE and len(body) >= 26:
                tag = int.from_bytes(body[24:26], "little")
            if channels != 1:
                raise WavError(f"{path}: {channels} channels; only mono is supported")
            if rate != 8000:
                raise WavError(f"{path}: sample rate {rate} Hz; only 8000 Hz is supported")
            if not ((tag == 1 and bits == 16) or (tag in (6, 7) and bits == 8)):
                raise WavError(f"{path}: encoding {tag}/{bits} bits; need 16-bit linear or G.711")
            return
        pos += 8 + size + (size & 1)
    raise WavError(f"{path}: no fmt chunk in the first 4 KiB")


def _channels(t: _Table, name: str) -> tuple[int, ...]:
    """`channels = "1-4,7"` or `[1, 2, 3]` or `5`."""
    value = t.get(name, (str, list, int), None, required=True, hint='e.g. "1-4" or [1, 2]')
    if value is None:
        return ()
    out: list[int] = []
    if isinstance(value, int):
        value = [value]
    if isinstance(value, list):
        for v in value:
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                t.r.problem(t.key(name), f"{v!r} is not a channel number", "channels count from 1")
                return ()
            out.append(v)
    else:
        for part in value.replace(" ", "").split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < int(m.group(1))):
                t.r.problem(t.key(name), f"bad channel range {part!r}", 'e.g. "1-4,7"')
                return ()
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            out.extend(range(lo, hi + 1))
    if len(set(out)) != len(out):
        t.r.problem(t.key(name), "a channel is listed twice")
    return tuple(out)


def _prompt(
    r: _Reader, t: _Table, name: str, sounds_dir: Path, *, required: bool = False
) -> tuple[Path, ...]:
    value = t.get(
        name, (str, list), None, required=required, hint='a sound name like "beep" or a WAV path'
    )
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not items and required:
        r.problem(t.key(name), "is empty", "at least one prompt file")
    return tuple(p for p in (_prompt_file(r, t.key(name), item, sounds_dir) for item in items) if p)


def _prompt_file(r: _Reader, key: str, item: Any, sounds_dir: Path) -> Path | None:
    if not isinstance(item, str) or not item:
        r.problem(key, f"{_describe(item)} is not a prompt", "a sound name or a WAV path")
        return None
    if "/" not in item and "." not in item:
        path = sounds_dir / f"{item}.wav"
    else:
        path = r.resolve(item)
    problem = r.wav_problem(path)
    if problem:
        hint = "sound names are looked up in media.sounds_dir" if path.parent == sounds_dir else ""
        if problem == "file not found" and path.parent == sounds_dir:
            hint += _similar_sound(item, sounds_dir)
        r.problem(key, f"prompt {item!r} ({path}): {problem}", hint)
        return None
    return path


def _similar_sound(item: str, sounds_dir: Path) -> str:
    try:
        names = [p.stem for p in sounds_dir.glob("*.wav")]
    except OSError:
        return ""
    close = difflib.get_close_matches(item, names, n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


def _name_ok(r: _Reader, key: str, name: str, what: str) -> bool:
    if not _NAME_RE.match(name):
        r.problem(key, f"{name!r} is not a valid {what} name", "letters, digits, _ . - only")
        return False
    return True


# ---- sections ----------------------------------------------------------------------------------


def _read_box(root: _Table) -> BoxConfig:
    t = root.table("box", required=True)
    b = BoxConfig(
        site=t.text("site", "site", required=True, hint='e.g. site = "hq"'),
        box_id=t.text("id", "box", required=True, hint='e.g. id = "box1"'),
        tick_ms=t.number("tick_ms", 20, lo=10, hi=60, integer=True, unit=" ms"),
        clock=t.choice("clock", CLOCK_MODES, "real"),
        virtual_start=t.get("virtual_start", float, None, hint="epoch seconds"),
        clock_every_ticks=t.number("clock_every_ticks", 5, lo=1, hi=50, integer=True),
        tone_zone=t.choice("tone_zone", TONE_ZONES, "us"),
    )
    for key in ("site", "id"):
        value = b.site if key == "site" else b.box_id
        if t.has(key) and value:
            _name_ok(root.r, t.key(key), value, key)
    if b.tick_ms % 10:
        root.r.problem(t.key("tick_ms"), f"{b.tick_ms} is not a multiple of 10 ms", "10, 20, 30…")
    t.done()
    return b


def _read_board(root: _Table) -> BoardConfig:
    t = root.table("board", required=True)
    card = t.text("card", "", required=True, hint='e.g. "sim://?trunks=4&stations=6"')
    if card and "://" not in card:
        root.r.problem(t.key("card"), f"{card!r} is not a card URL", '"sim://…" or "dahdi://…"')
    b = BoardConfig(card=card, led=t.text("led", ""))
    t.done()
    return b


def _read_media(root: _Table) -> MediaConfig:
    r = root.r
    t = root.table("media")
    sounds_dir = r.resolve(t.text("sounds_dir", str(DEFAULT_SOUNDS_DIR)))
    if not sounds_dir.is_dir():
        r.problem(
            t.key("sounds_dir"),
            f"{sounds_dir} is not a folder",
            "install asterisk-core-sounds-en-wav",
        )
    moh_dir = r.resolve(t.text("moh_dir", str(DEFAULT_MOH_DIR)))
    moh: dict[str, tuple[Path, ...]] = {}
    if not moh_dir.is_dir():
        r.problem(
            t.key("moh_dir"),
            f"music-on-hold folder {moh_dir} not found",
            "install asterisk-moh-opsound-wav",
        )
    else:
        # class "default" = the WAV files in moh_dir; any other class = a subfolder's WAV files
        folders = [("default", moh_dir)] + [
            (d.name, d) for d in sorted(moh_dir.iterdir()) if d.is_dir()
        ]
        for cls, folder in folders:
            files = tuple(sorted(folder.glob("*.wav")))
            for f in files:
                problem = r.wav_problem(f, header_only=True)
                if problem:
                    r.problem(t.key("moh_dir"), f"music file {f}: {problem}")
            if files:
                moh[cls] = files
        if "default" not in moh:
            r.problem(t.key("moh_dir"), f"no .wav files in {moh_dir}", "8 kHz mono WAV files")
    dsp = t.get("dsp_impl", str, None, hint='"compiled" or "reference"')
    if dsp is not None and dsp not in ("compiled", "reference"):
        r.problem(t.key("dsp_impl"), f"{dsp!r} is not allowed", 'one of "compiled", "reference"')
        dsp = None
    m = MediaConfig(
        socket=r.resolve(t.text("socket", "/run/callbox/media.sock")),
        sounds_dir=sounds_dir,
        moh_dir=moh_dir,
        moh=moh,
        echo_canceller=t.flag("echo_canceller", True),
        echo_tail_ms=t.number("echo_tail_ms", 64, lo=8, hi=256, integer=True, unit=" ms"),
        dsp_impl=dsp,
    )
    t.done()
    return m


def _read_trunks(root: _Table) -> dict[str, TrunkGroup]:
    r = root.r
    ports = root.table("ports", required=True)
    trunks_t = ports.table("trunks", required=True)
    out: dict[str, TrunkGroup] = {}
    for name, t in trunks_t.subtables('[ports.trunks.<group>] with channels = "1-4"'):
        _name_ok(r, t.key(""), name, "trunk group")
        g = TrunkGroup(
            name=name,
            channels=_channels(t, "channels"),
            answer_after_rings=t.number("answer_after_rings", 2, lo=1, hi=10, integer=True),
            callerid=t.choice("callerid", CALLERID_STANDARDS, "bell202"),
            ivr_menu=t.text("ivr_menu", "main"),
            number=t.text("number", ""),
        )
        if g.callerid in ("bell202", "v23") and g.answer_after_rings < 2:
            r.problem(
                t.key("answer_after_rings"),
                f"{g.answer_after_rings} would answer before the caller ID arrives",
                'FSK caller ID comes after the first ring: use 2 or more, or callerid = "none"',
            )
        t.done()
        out[name] = g
    if trunks_t.data and not out and not r.problems:
        r.problem(trunks_t.path, "no trunk group", '[ports.trunks.main] channels = "1-4"')
    ports.done()
    return out


#: the D-channel's timeslot: T1 24, E1 16
DCHANNEL_TIMESLOT = {"T1": 24, "E1": 16}
_SPAN_BOX_KEYS = ("card_span", "base_channel", "dchannel", "ivr_menu", "number")


def _read_spans(root: _Table) -> dict[str, Span]:
    """`[spans.<name>]`: the ISDN keys go to `SpanConfig.from_mapping`, the card keys here."""
    r = root.r
    out: dict[str, Span] = {}
    for index, (name, t) in enumerate(root.table("spans").subtables("[spans.<name>] kind = ...")):
        _name_ok(r, t.key(""), name, "span")
        card_span = t.number("card_span", index + 1, lo=1, hi=128, integer=True)
        base = t.number("base_channel", 0, lo=1, integer=True)
        if not t.has("base_channel"):
            r.problem(t.key("base_channel"), "missing", "the card channel of timeslot 1")
        dchannel = t.number("dchannel", 0, lo=1, integer=True)
        ivr_menu = t.text("ivr_menu", "main")
        number = t.text("number", "")
        isdn_keys = {k: v for k, v in t.data.items() if k not in _SPAN_BOX_KEYS}
        t.used.update(isdn_keys)
        if isdn_keys.get("kind") == "E1" and "switch" not in isdn_keys:
            isdn_keys["switch"] = "euroisdn"  # the one E1 switch type
        try:
            isdn = SpanConfig.from_mapping(name, isdn_keys)
        except SpanConfigError as exc:
            if exc.problem.startswith("unknown key"):  # hint with the card keys too
                known = [*_SPAN_BOX_KEYS, *(f.name for f in fields(SpanConfig) if f.name != "name")]
                r.problem(exc.key, "unknown key", _did_you_mean(exc.key.rsplit(".")[-1], known))
            else:
                r.problem(exc.key, exc.problem)
            continue
        except (TypeError, ValueError) as exc:
            r.problem(t.key(""), str(exc))
            continue
        d_ts = DCHANNEL_TIMESLOT[isdn.kind]
        if base and not dchannel:
            dchannel = base + d_ts - 1
        elif base and dchannel and dchannel != base + d_ts - 1:
            r.problem(
                t.key("dchannel"),
                f"channel {dchannel} is not timeslot {d_ts} of this {isdn.kind} span",
                f"base_channel {base} puts the D-channel on {base + d_ts - 1}",
            )
            dchannel = base + d_ts - 1
        t.done()
        out[name] = Span(name, isdn, card_span, base, dchannel, ivr_menu, number)
    return out


def _read_stations(root: _Table) -> dict[str, Station]:
    r = root.r
    out: dict[str, Station] = {}
    for sid, t in root.table("stations").subtables("[stations.<id>] with channel = N"):
        _name_ok(r, t.key(""), sid, "station")
        channel = t.number("channel", 0, lo=1, integer=True)
        if not t.has("channel"):
            r.problem(t.key("channel"), "missing", "the FXS channel number of this station")
        out[sid] = Station(id=sid, channel=channel, mode=t.choice("mode", STATION_MODES, "ring"))
        t.done()
    return out


def _read_agents(root: _Table) -> dict[str, Agent]:
    r = root.r
    out: dict[str, Agent] = {}
    for aid, t in root.table("agents").subtables("[agents.<id>] with name and pin_hash"):
        if not re.fullmatch(r"[0-9]{1,10}", aid):
            r.problem(t.key(""), f"agent id {aid!r} must be digits", "agents dial it: *11 <id> # …")
        pin_hash = t.text(
            "pin_hash", "", required=True, hint="make one with `callbox config hash-pin`"
        )
        if pin_hash and not _PIN_HASH_RE.match(pin_hash):
            r.problem(
                t.key("pin_hash"),
                "is not a scrypt PIN hash",
                "make one with `callbox config hash-pin`; PINs are never stored in clear",
            )
        out[aid] = Agent(id=aid, name=t.text("name", aid), pin_hash=pin_hash)
        t.done()
    return out


def _read_queues(
    root: _Table, sounds: Path, agents: Mapping[str, Agent], moh: Mapping[str, Any]
) -> dict[str, Queue]:
    r = root.r
    out: dict[str, Queue] = {}
    for name, t in root.table("queues").subtables("[queues.<name>]"):
        _name_ok(r, t.key(""), name, "queue")
        members = t.get("members", list, [], required=True, hint='agent ids, e.g. ["1001", "1002"]')
        for m in members:
            if not isinstance(m, str):
                r.problem(
                    t.key("members"), f"{_describe(m)} is not an agent id", 'quote it: "1001"'
                )
            elif m not in agents:
                r.problem(t.key("members"), f"agent {m!r} is not defined", _did_you_mean(m, agents))
        moh_class = t.text("moh_class", "default")
        if moh and moh_class not in moh:  # (no music at all is reported at media.moh_dir)
            r.problem(
                t.key("moh_class"),
                f"music class {moh_class!r} is not in media.moh_dir",
                _did_you_mean(moh_class, moh),
            )
        q = Queue(
            name=name,
            members=tuple(m for m in members if isinstance(m, str)),
            strategy=t.choice("strategy", QUEUE_STRATEGIES, "longest-idle"),
            ring_timeout_s=t.number("ring_timeout_s", 15.0, lo=1, hi=300, unit=" s"),
            wrapup_s=t.number("wrapup_s", 10.0, lo=0, hi=3600, unit=" s"),
            sl_threshold_s=t.number("sl_threshold_s", 20.0, lo=1, hi=3600, unit=" s"),
            moh_class=moh_class,
            whisper=_prompt(r, t, "whisper", sounds),
            max_wait_s=t.number("max_wait_s", 0.0, lo=0, unit=" s"),
            timeout_prompt=_prompt(r, t, "timeout_prompt", sounds),
            autopause_on_rna=t.flag("autopause_on_rna", False),
        )
        t.done()
        out[name] = q
    return out


def _read_action(r: _Reader, key: str, value: Any, sounds: Path) -> IvrAction | None:
    hint = '"queue:NAME", "menu:NAME", "hangup" or "prompt:SOUND"'
    if not isinstance(value, str):
        r.problem(key, f"must be a string, not {_describe(value)}", hint)
        return None
    action, _, target = value.partition(":")
    if action not in IVR_ACTIONS:
        r.problem(key, f"unknown action {action!r}", hint)
        return None
    if action == "hangup":
        if target:
            r.problem(key, "hangup takes no target", '"hangup"')
        return IvrAction("hangup")
    if not target:
        r.problem(key, f"{action} needs a target", hint)
        return None
    if action == "prompt":
        path = _prompt_file(r, key, target, sounds)
        return IvrAction("prompt", target, (path,) if path else ())
    return IvrAction(action, target)


def _read_ivr(root: _Table, sounds: Path) -> IvrConfig:
    r = root.r
    ivr = root.table("ivr", required=True)
    menus_t = ivr.table("menus", required=True)
    menus: dict[str, Menu] = {}
    for name, t in menus_t.subtables("[ivr.menus.<name>]"):
        _name_ok(r, t.key(""), name, "menu")
        choices_t = t.table("choices", required=True)
        choices: dict[str, IvrAction] = {}
        for digit, value in choices_t.data.items():
            choices_t.used.add(digit)
            if len(digit) != 1 or digit not in DTMF_KEYS:
                r.problem(
                    choices_t.key(digit),
                    f"{digit!r} is not a key",
                    'one of 0-9 * # A-D; quote it: "1"',
                )
                continue
            act = _read_action(r, choices_t.key(digit), value, sounds)
            if act:
                choices[digit] = act
        failure = _read_action(r, t.key("on_failure"), t.get("on_failure", str, "hangup"), sounds)
        menus[name] = Menu(
            name=name,
            prompt=_prompt(r, t, "prompt", sounds, required=True),
            choices=choices,
            timeout_s=t.number("timeout_s", 5.0, lo=0.5, hi=120, unit=" s"),
            retries=t.number("retries", 2, lo=0, hi=10, integer=True),
            invalid_prompt=_prompt(r, t, "invalid_prompt", sounds),
            timeout_prompt=_prompt(r, t, "timeout_prompt", sounds),
            on_failure=failure or IvrAction("hangup"),
            goodbye_prompt=_prompt(r, t, "goodbye_prompt", sounds),
        )
        t.done()
    ivr.done()
    return IvrConfig(menus=menus)


def _read_features(root: _Table, sounds: Path) -> FeatureCodes:
    r = root.r
    t = root.table("features")
    codes = {}
    for name, default in (
        ("login", "*11"),
        ("logout", "*12"),
        ("pause", "*13"),
        ("unpause", "*14"),
        ("wrapup_done", "*15"),
    ):
        code = t.text(name, default)
        if not _FEATURE_RE.match(code):
            r.problem(
                t.key(name), f"{code!r} is not a feature code", 'a star and 1-3 digits: "*11"'
            )
        codes[name] = code
    names = list(codes)
    for i, name in enumerate(names):
        code = codes[name]
        same = [o for o in names[:i] if codes[o] == code]
        longer = [o for o in names if codes[o] != code and codes[o].startswith(code)]
        if same:
            r.problem(t.key(name), f"{code!r} is the same as {same[0]}", "every code must differ")
        elif longer:
            what = ", ".join(f"{o} = {codes[o]!r}" for o in longer)
            r.problem(
                t.key(name),
                f"{code!r} is a prefix of {what}",
                "codes must not be prefixes of each other",
            )
    reasons_t = t.table("pause_reasons")
    reasons: dict[str, str] = {}
    for code, reason in reasons_t.data.items():
        reasons_t.used.add(code)
        if not code.isdigit():
            r.problem(reasons_t.key(code), f"reason code {code!r} must be digits", '"1" = "break"')
        elif not isinstance(reason, str) or not reason:
            r.problem(reasons_t.key(code), f"must be a reason name, not {_describe(reason)}")
        else:
            reasons[code] = reason
    f = FeatureCodes(
        **codes,
        digit_timeout_s=t.number("digit_timeout_s", 5.0, lo=1, hi=60, unit=" s"),
        pause_reasons=reasons,
        ok_prompt=_prompt_or(r, t, "ok_prompt", "beep", sounds),
        error_prompt=_prompt_or(r, t, "error_prompt", "beeperr", sounds),
        login_prompt=_prompt_or(r, t, "login_prompt", "agent-loginok", sounds),
        login_failed_prompt=_prompt_or(r, t, "login_failed_prompt", "agent-incorrect", sounds),
        logout_prompt=_prompt_or(r, t, "logout_prompt", "agent-loggedoff", sounds),
        offer_prompt=_prompt_or(r, t, "offer_prompt", "beep", sounds),
        hangup_prompt=_prompt_or(r, t, "hangup_prompt", "descending-2tone", sounds),
    )
    t.done()
    return f


def _prompt_or(r: _Reader, t: _Table, name: str, sound: str, sounds: Path) -> tuple[Path, ...]:
    """The prompt at `name`, or the default sound when the key is absent."""
    if t.has(name):
        return _prompt(r, t, name, sounds)
    path = _prompt_file(r, t.key(name) + " (default)", sound, sounds)
    return (path,) if path else ()


def _read_mqtt(root: _Table) -> MqttConfig:
    r = root.r
    t = root.table("mqtt")
    pw = t.get("password_file", str, None)
    pw_path = r.resolve(pw) if pw else None
    m = MqttConfig(
        enabled=t.flag("enabled", True),
        host=t.text("host", "localhost"),
        port=t.number("port", 1883, lo=1, hi=65535, integer=True),
        username=t.text("username", ""),
        password_file=pw_path,
        topic_prefix=t.text("topic_prefix", ""),
        keepalive_s=t.number("keepalive_s", 30, lo=5, hi=3600, integer=True),
        stats_expiry_s=t.number("stats_expiry_s", 60, lo=1, hi=86400, integer=True),
    )
    if m.enabled and pw_path is not None and not pw_path.is_file():
        r.problem(
            t.key("password_file"), f"{pw_path} not found", "a file holding the broker password"
        )
    if m.topic_prefix and (m.topic_prefix.endswith("/") or any(c in m.topic_prefix for c in "#+")):
        r.problem(
            t.key("topic_prefix"),
            f"{m.topic_prefix!r} is not a topic prefix",
            "no trailing /, no wildcards",
        )
    t.done()
    return m


def _read_records(root: _Table) -> RecordsConfig:
    t = root.table("records")
    rc = RecordsConfig(
        dir=root.r.resolve(t.text("dir", "/var/lib/callbox")),
        queue_log=t.text("queue_log", "queue_log"),
        master_csv=t.text("master_csv", "Master.csv"),
        database=t.text("database", "callbox.sqlite"),
    )
    t.done()
    return rc


_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)


def _read_console(root: _Table, records: RecordsConfig) -> ConsoleConfig:
    r = root.r
    t = root.table("console")
    port = t.text("port", "")
    baud = t.number("baud", 115200, lo=1, integer=True)
    if baud not in _BAUDS:
        r.problem(t.key("baud"), f"{baud} is not a serial speed", ", ".join(map(str, _BAUDS)))
        baud = 115200
    if port and not port.startswith("/"):
        r.problem(t.key("port"), f"{port!r} is not a device path", 'e.g. port = "/dev/ttyS0"')
    c = ConsoleConfig(
        port=port,
        baud=baud,
        password_file=r.resolve(t.text("password_file", str(records.dir / "console-password"))),
        max_failures=t.number("max_failures", 5, lo=1, hi=100, integer=True),
        lockout_s=t.number("lockout_s", 300.0, lo=1, hi=86400, unit=" s"),
        idle_timeout_s=t.number("idle_timeout_s", 600.0, lo=10, hi=86400, unit=" s"),
    )
    t.done()
    return c


def _read_recording(
    root: _Table, records: RecordsConfig, queues: Mapping[str, Queue]
) -> RecordingConfig:
    r = root.r
    t = root.table("recording")
    qs = t.get("queues", list, [])
    for q in qs:
        if q not in queues:
            r.problem(t.key("queues"), f"queue {q!r} is not defined", _did_you_mean(str(q), queues))
    rc = RecordingConfig(
        enabled=t.flag("enabled", False),
        dir=r.resolve(t.text("dir", str(records.dir / "recordings"))),
        queues=tuple(str(q) for q in qs),
    )
    t.done()
    return rc


def _read_sim(
    root: _Table, agents: Mapping[str, Agent], stations: Mapping[str, Station]
) -> SimConfig:
    r = root.r
    t = root.table("sim")
    weights_t = t.table("choice_weights")
    weights: dict[str, float] = {}
    for digit, w in weights_t.data.items():
        weights_t.used.add(digit)
        if len(digit) != 1 or digit not in DTMF_KEYS:
            r.problem(weights_t.key(digit), f"{digit!r} is not a key", 'quote it: "1" = 0.6')
        elif isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            r.problem(weights_t.key(digit), f"weight must be a number ≥ 0, not {_describe(w)}")
        else:
            weights[digit] = float(w)
    pins_t = t.table("agent_pins")
    pins: dict[str, str] = {}
    for aid, pin in pins_t.data.items():
        pins_t.used.add(aid)
        if aid not in agents:
            r.problem(pins_t.key(aid), f"agent {aid!r} is not defined", _did_you_mean(aid, agents))
        elif not isinstance(pin, str) or not pin.isdigit():
            r.problem(pins_t.key(aid), "a PIN must be a string of digits", '"1234"')
        elif _PIN_HASH_RE.match(agents[aid].pin_hash) and not _sim_pin_ok(
            pin, agents[aid].pin_hash
        ):
            r.problem(
                pins_t.key(aid), "does not match the agent's pin_hash", f"agents.{aid}.pin_hash"
            )
        else:
            pins[aid] = pin
    seats_t = t.table("seating")
    seats: dict[str, str] = {}
    for sid, aid in seats_t.data.items():
        seats_t.used.add(sid)
        if sid not in stations:
            r.problem(
                seats_t.key(sid), f"station {sid!r} is not defined", _did_you_mean(sid, stations)
            )
        elif not isinstance(aid, str) or aid not in agents:
            r.problem(
                seats_t.key(sid), f"agent {aid!r} is not defined", _did_you_mean(str(aid), agents)
            )
        else:
            seats[sid] = aid
    s = SimConfig(
        seed=t.number("seed", 1, lo=0, integer=True),
        calls_per_hour=t.number("calls_per_hour", 60.0, lo=0),
        aht_s=t.number("aht_s", 180.0, lo=1, unit=" s"),
        patience_s=t.number("patience_s", 120.0, lo=0, unit=" s"),
        hours=t.number("hours", 0.0, lo=0, hi=24 * 366, unit=" h"),
        choice_weights=weights,
        answer_delay_s=t.number("answer_delay_s", 3.0, lo=0, unit=" s"),
        wrapup_s=t.number("wrapup_s", 5.0, lo=0, unit=" s"),
        agent_pins=pins,
        seating=seats,
    )
    t.done()
    return s


def _cross_checks(r: _Reader, c: Config) -> None:
    owner: dict[int, str] = {}
    for g in c.trunks.values():
        for ch in g.channels:
            if ch in owner:
                r.problem(f"ports.trunks.{g.name}.channels", f"channel {ch} is also {owner[ch]}")
            owner[ch] = f"ports.trunks.{g.name}"
        if g.ivr_menu not in c.ivr.menus:
            r.problem(
                f"ports.trunks.{g.name}.ivr_menu",
                f"menu {g.ivr_menu!r} is not defined",
                _did_you_mean(g.ivr_menu, c.ivr.menus),
            )
    for s in c.stations.values():
        if s.channel and s.channel in owner:
            r.problem(f"stations.{s.id}.channel", f"channel {s.channel} is also {owner[s.channel]}")
        owner[s.channel] = f"stations.{s.id}"
    for sp in c.spans.values():
        if not sp.base_channel:
            continue
        for ch, ts in [(ch, ts) for ch, ts in sp.bchannels.items()] + [(sp.dchannel, 0)]:
            what = f"B-channel {ts}" if ts else "the D-channel"
            if ch in owner:
                r.problem(
                    f"spans.{sp.name}.base_channel",
                    f"{what} would be card channel {ch}, which is also {owner[ch]}",
                )
            owner[ch] = f"spans.{sp.name}"
        if sp.ivr_menu not in c.ivr.menus:
            r.problem(
                f"spans.{sp.name}.ivr_menu",
                f"menu {sp.ivr_menu!r} is not defined",
                _did_you_mean(sp.ivr_menu, c.ivr.menus),
            )
    for m in c.ivr.menus.values():
        acts = [(f"ivr.menus.{m.name}.choices.{d}", a) for d, a in m.choices.items()]
        acts.append((f"ivr.menus.{m.name}.on_failure", m.on_failure))
        for key, a in acts:
            if a.action == "queue" and a.target not in c.queues:
                r.problem(
                    key, f"queue {a.target!r} is not defined", _did_you_mean(a.target, c.queues)
                )
            if a.action == "menu" and a.target not in c.ivr.menus:
                r.problem(
                    key, f"menu {a.target!r} is not defined", _did_you_mean(a.target, c.ivr.menus)
                )
    for q in c.queues.values():
        if not q.members:
            r.problem(f"queues.{q.name}.members", "no agents", "a queue nobody serves")


def parse_config(text: str, path: str | Path = "<string>") -> Config:
    """Parse and check a config's text; `path` names it in messages and anchors relative paths."""
    path = Path(path)
    r = _Reader(path.resolve() if path.exists() else path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: TOML syntax: {exc}"]) from exc
    root = _Table(r, data, "")
    box = _read_box(root)
    board = _read_board(root)
    media = _read_media(root)
    trunks = _read_trunks(root)
    stations = _read_stations(root)
    agents = _read_agents(root)
    queues = _read_queues(root, media.sounds_dir, agents, media.moh)
    ivr = _read_ivr(root, media.sounds_dir)
    features = _read_features(root, media.sounds_dir)
    mqtt = _read_mqtt(root)
    records = _read_records(root)
    recording = _read_recording(root, records, queues)
    sim = _read_sim(root, agents, stations)
    spans = _read_spans(root)
    console = _read_console(root, records)
    root.done()
    config = Config(
        path=path,
        box=box,
        board=board,
        media=media,
        trunks=trunks,
        stations=stations,
        agents=agents,
        queues=queues,
        ivr=ivr,
        features=features,
        mqtt=mqtt,
        records=records,
        recording=recording,
        sim=sim,
        spans=spans,
        console=console,
    )
    _cross_checks(r, config)
    if r.problems:
        raise ConfigError(r.problems)
    return config


def load_config(path: str | Path) -> Config:
    """Read and check a config file; `ConfigError` lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc}"]) from exc
    return parse_config(text, path)


def summary(config: Config) -> str:
    """A few lines saying what the config sets up (for `callbox config check`)."""
    trunks = sum(len(g.channels) for g in config.trunks.values())
    modes = sorted({s.mode for s in config.stations.values()})
    lines = [
        f"{config.path}: OK",
        f"  box {config.box.site}/{config.box.box_id}, clock {config.box.clock}, "
        f"tick {config.box.tick_ms} ms, tones {config.box.tone_zone}",
        f"  card {config.board.card}",
        f"  {trunks} trunk lines in {len(config.trunks)} group(s), "
        f"{len(config.stations)} stations ({', '.join(modes) or 'none'})",
        f"  {len(config.agents)} agents, queues: "
        + (
            ", ".join(f"{q.name} ({len(q.members)} agents)" for q in config.queues.values())
            or "none"
        ),
        "  PRI spans: "
        + (
            ", ".join(
                f"{sp.name} ({sp.isdn.kind} {sp.isdn.switch} {sp.isdn.role}, "
                f"{len(sp.isdn.provisioned)} B-channels on card channels "
                f"{min(sp.bchannels)}-{max(sp.bchannels)}, D-channel {sp.dchannel})"
                for sp in config.spans.values()
            )
            or "none"
        ),
        f"  IVR menus: {', '.join(config.ivr.menus) or 'none'}",
        "  music on hold: "
        + ", ".join(f"{c} ({len(f)} files)" for c, f in config.media.moh.items()),
        f"  records in {config.records.dir}; MQTT "
        + (
            f"{config.mqtt.host}:{config.mqtt.port} {config.topic_prefix}"
            if config.mqtt.enabled
            else "off"
        ),
    ]
    return "\n".join(lines)


def default_path() -> Path:
    """The config file the programs read: $CALLBOX_CONFIG or /etc/callbox/callbox.toml."""
    return Path(os.environ.get("CALLBOX_CONFIG", str(DEFAULT_PATH)))


__all__ = [
    "Agent",
    "BoardConfig",
    "BoxConfig",
    "Config",
    "ConfigError",
    "FeatureCodes",
    "IvrAction",
    "IvrConfig",
    "MediaConfig",
    "Menu",
    "MqttConfig",
    "Queue",
    "RecordingConfig",
    "RecordsConfig",
    "SimConfig",
    "Span",
    "Station",
    "TrunkGroup",
    "default_path",
    "hash_pin",
    "load_config",
    "parse_config",
    "summary",
    "verify_pin",
]
