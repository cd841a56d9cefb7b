"""The media engine's tick: channel state, the mixing graph, generators, detectors, recorders.

No socket I/O here: `Engine.apply(command)` changes state and returns the reply's fields (or
raises `CommandError`), `Engine.tick()` runs one block through the card and returns the events it
produced. The server (server.py) moves bytes; tests drive the engine directly.

One tick, for the card's N audio channels (rows of 2-D int16 blocks, shape (N, block)):

1. generators (prompt players, music on hold, tones, DTMF dialler, caller-ID FSK) produce their
   block, only on channels that have one;
2. mix: tx = saturate(links · rx_prev + generators), where `links` is a small matrix over only
   the channels that are linked (one float32 matmul), or a plain row copy when every listener
   hears exactly one source (two-party bridges);
3. `card.exchange(tx)` returns rx;
4. echo cancellers (trunks), then detectors and recorders on the channels that have them;
5. card events, detector events, generator endings, then a `clock` event every `clock_every`
   ticks.

Idle channels (no link, generator, detector, recorder or canceller) cost nothing beyond their row
in the numpy arrays. Bridged audio is one tick late (rx of tick k is heard in tick k+1).

Digital silence: a row whose rx and tx have both been exactly zero for `QUIET_SETTLE_MS` (longer
than any canceller tail and than the detectors' hang-overs: the canceller's estimate has drained
to zero, its tone disabler has re-enabled, a DTMF digit or FSK burst has ended) skips its echo
canceller, DTMF and caller-ID receivers (an on-hook trunk between calls, a silent station): on
zeros they would output zeros and report nothing. Their sample origins move on by the skipped
blocks, so detected times stay exact. Channels with a call-progress detector (it times silence)
or a recorder (it records silence) never skip.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import cython_ext
from board.card import (
    Card,
    ChannelInfo,
    ChannelKind,
    DFrame,
    HookFlash,
    LoopCurrentDrop,
    OffHook,
    OnHook,
    PolarityReversal,
    RingStart,
    RingStop,
    SpanAlarm,
)
from board.errors import BoardError
from cython_ext.wavfile import WavError, read_wav, write_wav
from firmware.media import protocol as p
from firmware.media.clock import Clock

log = logging.getLogger(__name__)

RATE = 8000
DEFAULT_SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
DEFAULT_MOH_DIR = Path("/usr/share/asterisk/moh")
QUIET_SETTLE_MS = 300  # digital silence after which a row skips canceller and detectors
KERNEL_MODULES = ("dtmf", "tones", "cpt", "callerid", "echo")
STAT_KEYS = (
    "commands",
    "errors",
    *p.ERROR_CODES,
    "events_sent",
    "events_dropped",
    "ticks",
    "overruns",
    "reanchors",
    "connections",
    "prompt_cache_files",
)


class CommandError(Exception):
    """A valid command the engine cannot carry out; `code` is a protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class EngineConfig:
    tick_ms: int = 20
    clock_every: int = 5  # ticks between `clock` events
    sounds_dir: Path = DEFAULT_SOUNDS_DIR
    moh_dir: Path = DEFAULT_MOH_DIR
    #: class -> files; None: class "default" = WAVs in moh_dir, other classes = its subfolders
    moh_classes: Mapping[str, tuple[Path, ...]] | None = None
    zone: str = "us"
    echo: bool = True  # echo canceller on trunks by default (when the kernel is available)
    echo_tail_ms: int = 64
    quiet_skip: bool = True  # skip canceller/detectors on rows in long digital silence
    callerid_standard: str = "bell202"  # FSK caller ID sent to stations
    callerid_delay_ms: int = 2500  # from ring start to the FSK burst (after the 1st ring)
    dtmf_level_dbm0: float = -10.0  # per tone, for `dial`
    record_dir: Path = Path(".")  # relative `record` files resolve here
    impl: str | None = None  # DSP implementation override (None: cython_ext default)

    @property
    def block_size(self) -> int:
        return RATE * self.tick_ms // 1000


# ---- DSP kernels, loaded once, availability reported ---------------------------------------------


class Kernels:
    """The optional DSP modules. A kernel that cannot load is reported, not silently replaced."""

    def __init__(self, impl: str | None) -> None:
        self.impl = impl
        self._modules: dict[str, ModuleType | None] = {}
        self.errors: dict[str, str] = {}

    def get(self, name: str) -> ModuleType | None:
        if name not in self._modules:
            try:
                self._modules[name] = importlib.import_module(f"cython_ext.{name}")
            except ImportError as exc:
                self._modules[name] = None
                self.errors[name] = str(exc)
                log.warning("DSP module cython_ext.%s unavailable: %s", name, exc)
        return self._modules[name]

    def need(self, name: str, what: str) -> ModuleType:
        mod = self.get(name)
        if mod is None:
            why = self.errors[name]
            raise CommandError("failed", f"{what}: DSP kernel {name} unavailable: {why}")
        return mod

    def available(self) -> dict[str, bool]:
        return {name: self.get(name) is not None for name in KERNEL_MODULES}


# ---- audio sources -------------------------------------------------------------------------------


class PromptCache:
    """Prompt files decoded once, kept in memory (prompts are few and short)."""

    def __init__(self, sounds_dir: Path) -> None:
        self.sounds_dir = sounds_dir
        self._cache: dict[Path, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def resolve(self, name: str) -> Path:
        path = Path(name)
        if not path.is_absolute():
            path = self.sounds_dir / path
        if not path.suffix:
            path = path.with_name(path.name + ".wav")
        return path

    def load(self, name: str | Path, what: str) -> np.ndarray:
        path = self.resolve(str(name))
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        if not path.is_file():
            raise CommandError("no_file", f"{what}: {name}: {path} does not exist")
        try:
            samples = read_wav(path)
        except WavError as exc:
            raise CommandError("no_file", f"{what}: {exc}") from exc
        samples = np.ascontiguousarray(samples, dtype=np.int16)
        samples.flags.writeable = False
        self._cache[path] = samples
        log.debug("decoded %s (%d samples)", path, len(samples))
        return samples


class SampleSequence:
    """A list of sample arrays read block by block, optionally looping."""

    def __init__(self, arrays: list[np.ndarray], loop: bool) -> None:
        self.arrays = arrays
        self.loop = loop and sum(len(a) for a in arrays) > 0
        self.index = 0
        self.position = 0
        self.finished = not any(len(a) for a in arrays)

    @property
    def total(self) -> int:
        return sum(len(a) for a in self.arrays)

    def read(self, n: int) -> np.ndarray:
        arr = self.arrays[self.index]
        if not self.finished and self.position + n <= len(arr):  # the common case: one slice
            block = arr[self.position : self.position + n]
            self.position += n
        else:
            block = np.zeros(n, dtype=np.int16)
            filled = 0
            while filled < n and not self.finished:
                arr = self.arrays[self.index]
                take = min(n - filled, len(arr) - self.position)
                if take > 0:
                    block[filled : filled + take] = arr[self.position : self.position + take]
                    filled += take
                    self.position += take
                else:
                    self._next()
        last = self.index == len(self.arrays) - 1
        if not self.loop and last and self.position >= len(self.arrays[self.index]):
            self.finished = True
        return block

    def _next(self) -> None:
        self.position = 0
        if self.index + 1 < len(self.arrays):
            self.index += 1
        elif self.loop:
            self.index = 0
        else:
            self.finished = True


class Generator:
    """What a channel plays on its own (at most one at a time)."""

    kind = ""

    def read(self, n: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind}


class PromptPlayer(Generator):
    kind = "play"

    def __init__(
        self,
        channel: int,
        files: tuple[str, ...],
        arrays: list[np.ndarray],
        loop: bool,
        play_id: Any,
    ) -> None:
        self.channel = channel
        self.files = files
        self.seq = SampleSequence(arrays, loop)
        self.play_id = play_id

    def read(self, n: int) -> np.ndarray:
        return self.seq.read(n)

    @property
    def finished(self) -> bool:
        return self.seq.finished

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "play_id": self.play_id,
            "files": list(self.files),
            "loop": self.seq.loop,
            "index": self.seq.index,
            "position": self.seq.position,
        }


class DtmfDialler(PromptPlayer):
    kind = "dial"

    def __init__(self, channel: int, digits: str, samples: np.ndarray, dial_id: Any) -> None:
        super().__init__(channel, (), [samples], False, dial_id)
        self.digits = digits

    def describe(self) -> dict[str, Any]:
        left = len(self.seq.arrays[0]) - self.seq.position
        return {
            "type": self.kind,
            "dial_id": self.play_id,
            "digits": self.digits,
            "remaining": left,
        }


class MohListener(Generator):
    """Hears its class's shared stream (mixed in by the engine, once per class per tick)."""

    kind = "moh"

    def __init__(self, moh_class: str) -> None:
        self.moh_class = moh_class

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "class": self.moh_class}


class TonePlayer(Generator):
    """A `cython_ext.tones.ToneGenerator`; a non-repeating tone (a beep) ends by itself."""

    kind = "tone"

    def __init__(self, channel: int, generator: Any, zone: str, name: str, play_id: Any) -> None:
        self.channel = channel
        self.generator = generator
        self.zone = zone
        self.name = name
        self.play_id = play_id

    def read(self, n: int) -> np.ndarray:
        return np.asarray(self.generator.generate(n), dtype=np.int16)

    @property
    def finished(self) -> bool:
        return bool(self.generator.done)

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "zone": self.zone, "name": self.name, "play_id": self.play_id}


# ---- recording -----------------------------------------------------------------------------------


class Recorder:
    """Streams a channel's audio to `<file>.part`; `finish()` writes the WAV durably."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self.part = path.with_name(path.name + ".part")
        self.samples = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.part, "wb")  # noqa: SIM115 - lives as long as the recording
        except OSError as exc:
            raise CommandError("failed", f"record: {path}: {exc.strerror or exc}") from exc

    def write(self, rx: np.ndarray, tx: np.ndarray) -> None:
        if self.what == "rx":
            block = rx
        elif self.what == "tx":
            block = tx
        else:
            both = rx.astype(np.int32)
            both += tx
            block = np.clip(both, -32768, 32767).astype(np.int16)
        self._file.write(block.astype("<i2", copy=False).tobytes())
        self.samples += len(block)

    def finish(self) -> int:
        """Write the WAV (temp file, fsync, rename, fsync dir); return its length in samples."""
        self._file.close()
        samples = np.fromfile(self.part, dtype="<i2")
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        write_wav(tmp, samples)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.part.unlink(missing_ok=True)
        return len(samples)


# ---- channels ------------------------------------------------------------------------------------


@dataclass(eq=False)
class ChannelState:
    info: ChannelInfo
    row: int | None  # row in the card's audio blocks; None for D-channels
    offhook: bool = False
    ringing: bool = False
    generator: Generator | None = None
    callerid_sender: Any = None
    callerid_start_tick: int = 0
    dtmf: Any = None
    dtmf_origin: int = 0  # global sample index of the detector's sample 0
    dtmf_current: str | None = None
    cpt: Any = None
    cpt_origin: int = 0
    callerid_rx: Any = None
    echo: Any = None
    recorder: Recorder | None = None
    hears: set[int] = field(default_factory=set)
    heard_by: set[int] = field(default_factory=set)

    @property
    def number(self) -> int:
        return self.info.number

    @property
    def busy(self) -> bool:
        """Has per-tick work beyond mixing."""
        return (
            self.generator is not None
            or self.callerid_sender is not None
            or self.dtmf is not None
            or self.cpt is not None
            or self.callerid_rx is not None
            or self.echo is not None
            or self.recorder is not None
        )


def _digit_name(value: Any) -> str | None:
    """A detector's current digit as a string, None when no key is down."""
    if value is None or value == "" or (isinstance(value, int) and value < 0):
        return None
    if isinstance(value, int):
        return "123A456B789C*0#D"[value]
    return str(value)


def _fields_of(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "fields") and callable(obj.fields):
        extra = asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else {}
        return {**extra, **obj.fields()}
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return dict(vars(obj))


# ---- the engine ----------------------------------------------------------------------------------


class Engine:
    """Channel state and the tick. `apply()` commands between ticks; `tick()` once per block."""

    def __init__(self, card: Card, clock: Clock, config: EngineConfig | None = None) -> None:
        self.card = card
        self.clock = clock
        self.config = config or EngineConfig()
        self.block_size = self.config.block_size
        if card.block_size != self.block_size:
            raise BoardError(
                0,
                f"card {card.url} uses {card.block_size}-sample blocks but the tick is "
                f"{self.config.tick_ms} ms ({self.block_size} samples)",
            )
        self.run_id = uuid.uuid4().hex  # identifies this engine run (calld's journal)
        self.started = time.time()
        self.kernels = Kernels(self.config.impl)
        self.dsp_implementation = self.config.impl or cython_ext.implementation()
        self.prompts = PromptCache(self.config.sounds_dir)
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self.channels: dict[int, ChannelState] = {}
        rows = {num: i for i, num in enumerate(card.audio_channels)}
        for info in card.channels:
            self.channels[info.number] = ChannelState(info, rows.get(info.number))
        self.rows = len(rows)
        self._row_channel = [self.channels[n] for n in card.audio_channels]
        self._rx = np.zeros((self.rows, self.block_size), dtype=np.int16)
        self._tx = np.zeros((self.rows, self.block_size), dtype=np.int16)
        self._busy: dict[int, ChannelState] = {}
        # consecutive ticks each row's rx and tx were all zeros (see the module docstring)
        self._quiet_ticks = np.zeros(self.rows, dtype=np.int64)
        self._quiet_settle = max(
            -(-QUIET_SETTLE_MS // self.config.tick_ms),
            -(-self.config.echo_tail_ms // self.config.tick_ms) + 2,
        )
        self._edges: set[tuple[int, int]] = set()  # (source, listener): listener hears source
        self._mix_dirty = False
        self._mix_dst = np.zeros(0, dtype=np.intp)
        self._mix_src = np.zeros(0, dtype=np.intp)
        self._mix_matrix: np.ndarray | None = None
        self._mix_pos: dict[int, int] = {}
        self._moh_streams: dict[str, SampleSequence] = {}
        self._moh_listeners: dict[str, int] = {}
        self._pending: list[p.Event] = []
        self._auto_ids = itertools.count(1)
        self._zones: dict[str, Any] = {}
        if self.config.echo and self.kernels.get("echo") is not None:
            for ch in self.channels.values():
                if ch.info.kind in (ChannelKind.FXO, ChannelKind.BCHAN):
                    try:
                        self._set_echo(ch, True, self.config.echo_tail_ms)
                    except CommandError as exc:
                        log.error("echo canceller on channel %d: %s", ch.number, exc)
        log.info(
            "media engine: card %s, %d channels (%d audio), tick %d ms, DSP %s, kernels %s",
            card.url,
            len(self.channels),
            self.rows,
            self.config.tick_ms,
            self.dsp_implementation,
            ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in self.kernels.available().items()),
        )

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clock.now

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def _channel(self, number: int, what: str, *kinds: ChannelKind) -> ChannelState:
        ch = self.channels.get(number)
        if ch is None:
            raise CommandError("bad_channel", f"{what}: no channel {number}")
        if kinds and ch.info.kind not in kinds:
            names = "/".join(k.value for k in kinds)
            raise CommandError(
                "bad_channel", f"{what}: channel {number} is {ch.info.kind.value}, not {names}"
            )
        return ch

    def _audio(self, number: int, what: str) -> ChannelState:
        return self._channel(number, what, ChannelKind.FXO, ChannelKind.FXS, ChannelKind.BCHAN)

    def _touch(self, ch: ChannelState) -> None:
        if ch.busy:
            self._busy[ch.number] = ch
        else:
            self._busy.pop(ch.number, None)

    def _emit(self, ev: p.Event) -> None:
        self._pending.append(ev)

    def take_events(self) -> list[p.Event]:
        events, self._pending = self._pending, []
        return events

    def _zone(self, name: str, what: str) -> Any:
        if name not in self._zones:
            tones = self.kernels.need("tones", what)
            try:
                self._zones[name] = tones.zone(name)
            except (KeyError, ValueError, LookupError) as exc:
                why = f"{what}: unknown tone zone {name!r}: {exc}"
                raise CommandError("bad_args", why) from exc
        return self._zones[name]

    # ---- commands ---------------------------------------------------------------------------

    def apply(self, cmd: p.Command) -> dict[str, Any]:
        """Carry out one command; return the reply's fields or raise CommandError."""
        handler = getattr(self, f"_cmd_{cmd.name}")
        try:
            result: dict[str, Any] = handler(cmd)
        except BoardError as exc:
            raise CommandError("failed", f"{cmd.name}: card: {exc}") from exc
        return result

    def _cmd_hello(self, cmd: p.Hello) -> dict[str, Any]:
        return self.snapshot()

    def _cmd_snapshot(self, cmd: p.Snapshot) -> dict[str, Any]:
        return self.snapshot()

    def _cmd_clock_ack(self, cmd: p.ClockAck) -> dict[str, Any]:
        return {}

    def _cmd_hook(self, cmd: p.Hook) -> dict[str, Any]:
        ch = self._channel(cmd.channel, "hook", ChannelKind.FXO)
        self.card.set_hook(ch.number, cmd.offhook)
        ch.offhook = cmd.offhook
        return {}

    def _cmd_ring(self, cmd: p.Ring) -> dict[str, Any]:
        ch = self._channel(cmd.channel, "ring", ChannelKind.FXS)
        sender = None
        if cmd.on and cmd.callerid is not None:
            if ch.offhook:
                raise CommandError("failed", f"ring: station {ch.number} is off hook")
            callerid = self.kernels.need("callerid", "ring")
            cid = cmd.callerid
            dt = cid.datetime or time.strftime("%m%d%H%M", time.localtime(self.now))
            try:
                message = callerid.CallerIdMessage(number=cid.number, name=cid.name, datetime=dt)
                sender = callerid.CallerIdSender(message, self.config.callerid_standard, "onhook")
            except ValueError as exc:
                raise CommandError("bad_args", f"ring: callerid: {exc}") from exc
        self.card.ring(ch.number, cmd.on)
        ch.ringing = cmd.on
        ch.callerid_sender = sender
        delay_ticks = self.config.callerid_delay_ms // self.config.tick_ms
        ch.callerid_start_tick = self.clock.ticks + delay_ticks
        self._touch(ch)
        return {}

    def _cmd_flash(self, cmd: p.Flash) -> dict[str, Any]:
        ch = self._channel(cmd.channel, "flash", ChannelKind.FXO)
        self.card.flash(ch.number)
        return {}

    def _cmd_connect(self, cmd: p.Connect) -> dict[str, Any]:
        a = self._audio(cmd.a, "connect")
        b = self._audio(cmd.b, "connect")
        self._add_edge(a, b)
        if cmd.mode == "duplex":
            self._add_edge(b, a)
        return {"hears": sorted(b.hears)}

    def _add_edge(self, src: ChannelState, dst: ChannelState) -> None:
        if (src.number, dst.number) not in self._edges:
            self._edges.add((src.number, dst.number))
            dst.hears.add(src.number)
            src.heard_by.add(dst.number)
            self._mix_dirty = True

    def _remove_edge(self, src: int, dst: int) -> int:
        if (src, dst) not in self._edges:
            return 0
        self._edges.discard((src, dst))
        self.channels[dst].hears.discard(src)
        self.channels[src].heard_by.discard(dst)
        self._mix_dirty = True
        return 1

    def _cmd_disconnect(self, cmd: p.Disconnect) -> dict[str, Any]:
        removed = 0
        if cmd.channel is not None:
            ch = self._audio(cmd.channel, "disconnect")
            for other in list(ch.hears):
                removed += self._remove_edge(other, ch.number)
            for other in list(ch.heard_by):
                removed += self._remove_edge(ch.number, other)
        else:
            assert cmd.a is not None and cmd.b is not None
            a = self._audio(cmd.a, "disconnect")
            b = self._audio(cmd.b, "disconnect")
            removed = self._remove_edge(a.number, b.number) + self._remove_edge(b.number, a.number)
        return {"removed": removed}

    def _set_generator(self, ch: ChannelState, gen: Generator | None, reason: str) -> None:
        old = ch.generator
        if isinstance(old, PromptPlayer | TonePlayer):
            self._emit(self._ended(old, self.now, reason))
        elif isinstance(old, MohListener):
            self._moh_listeners[old.moh_class] -= 1
        ch.generator = gen
        if isinstance(gen, MohListener):
            self._moh_listeners[gen.moh_class] = self._moh_listeners.get(gen.moh_class, 0) + 1
        self._touch(ch)

    @staticmethod
    def _ended(player: PromptPlayer | TonePlayer, t: float, reason: str) -> p.Event:
        channel = player.channel
        if isinstance(player, DtmfDialler):
            return p.DialDoneEvent(t=t, channel=channel, dial_id=player.play_id, reason=reason)
        return p.PlayDoneEvent(t=t, channel=channel, play_id=player.play_id, reason=reason)

    def _new_id(self, given: int | str | None) -> int | str:
        return given if given is not None else f"m{next(self._auto_ids)}"

    def _cmd_play(self, cmd: p.Play) -> dict[str, Any]:
        ch = self._audio(cmd.channel, "play")
        arrays = [self.prompts.load(name, "play: prompt") for name in cmd.files]
        play_id = self._new_id(cmd.play_id)
        player = PromptPlayer(ch.number, cmd.files, arrays, cmd.loop, play_id)
        self._set_generator(ch, player, "replaced")
        return {"play_id": play_id, "samples": player.seq.total}

    def moh_files(self, moh_class: str) -> tuple[Path, ...]:
        if self.config.moh_classes is not None:
            files = self.config.moh_classes.get(moh_class)
            if not files:
                known = ", ".join(sorted(self.config.moh_classes))
                raise CommandError("no_file", f"moh: no music class {moh_class!r} (known: {known})")
            return tuple(files)
        folder = self.config.moh_dir if moh_class == "default" else self.config.moh_dir / moh_class
        files = tuple(sorted(folder.glob("*.wav"))) if folder.is_dir() else ()
        if not files:
            raise CommandError("no_file", f"moh: class {moh_class!r}: no .wav files in {folder}")
        return files

    def load_moh(self, moh_class: str) -> SampleSequence:
        stream = self._moh_streams.get(moh_class)
        if stream is None:
            arrays = [self.prompts.load(f, f"moh {moh_class}") for f in self.moh_files(moh_class)]
            stream = SampleSequence(arrays, loop=True)
            if stream.finished:
                raise CommandError("no_file", f"moh: class {moh_class!r}: the files are empty")
            self._moh_streams[moh_class] = stream
        return stream

    def _cmd_moh(self, cmd: p.Moh) -> dict[str, Any]:
        ch = self._audio(cmd.channel, "moh")
        if cmd.on:
            self.load_moh(cmd.moh_class)
            self._set_generator(ch, MohListener(cmd.moh_class), "replaced")
        elif isinstance(ch.generator, MohListener):
            self._set_generator(ch, None, "stopped")
        return {}

    def _cmd_tone(self, cmd: p.Tone) -> dict[str, Any]:
        ch = self._audio(cmd.channel, "tone")
        if cmd.off:
            if isinstance(ch.generator, TonePlayer):
                self._set_generator(ch, None, "stopped")
            return {}
        assert cmd.tone is not None
        zone_name = cmd.zone or self.config.zone
        tones = self.kernels.need("tones", "tone")
        try:
            if cmd.tone == "beep":
                spec = tones.beep()
            else:
                spec = self._zone(zone_name, "tone").tone(cmd.tone)
        except ValueError as exc:  # ToneError
            raise CommandError("bad_args", f"tone: {exc} (or beep)") from exc
        gen = tones.ToneGenerator(spec, impl=self.config.impl)
        play_id = self._new_id(cmd.play_id)
        self._set_generator(
            ch, TonePlayer(ch.number, gen, zone_name, cmd.tone, play_id), "replaced"
        )
        return {"play_id": play_id}

    def _cmd_stop(self, cmd: p.Stop) -> dict[str, Any]:
        ch = self._audio(cmd.channel, "stop")
        self._set_generator(ch, None, "stopped")
        return {}

    def _cmd_dial(self, cmd: p.Dial) -> dict[str, Any]:
        ch = self._audio(cmd.channel, "dial")
        dtmf = self.kernels.need("dtmf", "dial")
        parts: list[np.ndarray] = []
        for i, group in enumerate(cmd.digits.upper().split(",")):
            if i:
                parts.append(np.zeros(RATE // 2, dtype=np.int16))
            if group:
                parts.append(
                    np.asarray(
                        dtmf.dtmf_signal(
                            group,
                            level_dbm0=self.config.dtmf_level_dbm0,
                            on_ms=cmd.on_ms,
                            off_ms=cmd.off_ms,
                        ),
                        dtype=np.int16,
                    )
                )
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        dial_id = self._new_id(cmd.dial_id)
        self._set_generator(ch, DtmfDialler(ch.number, cmd.digits, samples, dial_id), "replaced")
        return {"dial_id": dial_id, "samples": len(samples)}

    def _cmd_detect(self, cmd: p.Detect) -> dict[str, Any]:
        ch = self._audio(cmd.channel, "detect")
        origin = self.clock.ticks * self.block_size  # the next block's first sample
        impl = self.config.impl
        if cmd.dtmf is not None:
            if cmd.dtmf:
                dtmf = self.kernels.need("dtmf", "detect dtmf")
                ch.dtmf = dtmf.DtmfDetector(impl=impl)
                ch.dtmf_origin = origin
            else:
                ch.dtmf = None
            ch.dtmf_current = None
        if cmd.cpt is not None:
            if cmd.cpt:
                cpt = self.kernels.need("cpt", "detect cpt")
                zone_name = cmd.zone or self.config.zone
                try:
                    ch.cpt = cpt.CallProgressDetector(zone_name, impl=impl)
                except (KeyError, ValueError, LookupError) as exc:
                    why = f"detect cpt: zone {zone_name!r}: {exc}"
                    raise CommandError("bad_args", why) from exc
                ch.cpt_origin = origin
            else:
                ch.cpt = None
        if cmd.callerid is not None:
            if cmd.callerid:
                callerid = self.kernels.need("callerid", "detect callerid")
                ch.callerid_rx = callerid.CallerIdReceiver(impl=impl)
            else:
                ch.callerid_rx = None
        self._touch(ch)
        return {"detect": self._detect_state(ch)}

    @staticmethod
    def _detect_state(ch: ChannelState) -> dict[str, bool]:
        return {
            "dtmf": ch.dtmf is not None,
            "cpt": ch.cpt is not None,
            "callerid": ch.callerid_rx is not None,
        }

    def _cmd_record(self, cmd: p.Record) -> dict[str, Any]:
        ch = self._audio(cmd.channel, "record")
        result: dict[str, Any] = {}
        if ch.recorder is not None:
            result = self._finish_recording(ch)
        if cmd.on:
            assert cmd.file is not None
            path = Path(cmd.file)
            if not path.is_absolute():
                path = self.config.record_dir / path
            ch.recorder = Recorder(path, cmd.what)
            result = {"file": str(path)}
        self._touch(ch)
        return result

    def _finish_recording(self, ch: ChannelState) -> dict[str, Any]:
        rec, ch.recorder = ch.recorder, None
        assert rec is not None
        try:
            samples = rec.finish()
        except (OSError, WavError) as exc:
            raise CommandError("failed", f"record: {rec.path}: {exc}") from exc
        log.info("recording %s: %d samples", rec.path, samples)
        return {"file": str(rec.path), "samples": samples}

    def _cmd_echo(self, cmd: p.Echo) -> dict[str, Any]:
        ch = self._channel(cmd.channel, "echo", ChannelKind.FXO, ChannelKind.BCHAN)
        self._set_echo(ch, cmd.on, cmd.tail_ms or self.config.echo_tail_ms)
        return {}

    def _set_echo(self, ch: ChannelState, on: bool, tail_ms: int) -> None:
        if on:
            echo = self.kernels.need("echo", "echo")
            try:
                ch.echo = echo.EchoCanceller(tail_ms, impl=self.config.impl)
            except (TypeError, ValueError) as exc:
                raise CommandError("failed", f"echo: channel {ch.number}: {exc}") from exc
        else:
            ch.echo = None
        self._touch(ch)

    def _cmd_send_frame(self, cmd: p.SendFrame) -> dict[str, Any]:
        ch = self._channel(cmd.channel, "send_frame", ChannelKind.DCHAN)
        self.card.send_frame(ch.number, cmd.frame)
        return {}

    # ---- snapshot ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        channels = []
        for ch in self.channels.values():
            info: dict[str, Any] = {
                "number": ch.number,
                "kind": ch.info.kind.value,
                "name": ch.info.name,
                "span": ch.info.span,
            }
            if ch.row is not None:
                info.update(
                    hook="offhook" if ch.offhook else "onhook",
                    ringing=ch.ringing,
                    hears=sorted(ch.hears),
                    heard_by=sorted(ch.heard_by),
                    player=ch.generator.describe() if ch.generator else None,
                    detect=self._detect_state(ch),
                    echo=ch.echo is not None,
                    recording=str(ch.recorder.path) if ch.recorder else None,
                )
            channels.append(info)
        stats = dict(self.stats)
        stats["ticks"] = self.clock.ticks
        stats["overruns"] = getattr(self.clock, "overruns", 0)
        stats["reanchors"] = getattr(self.clock, "reanchors", 0)
        stats["prompt_cache_files"] = len(self.prompts)
        return {
            "protocol": p.PROTOCOL_VERSION,
            "run_id": self.run_id,
            "started": self.started,
            "clock": self.clock.mode,
            "tick_ms": self.config.tick_ms,
            "block_size": self.block_size,
            "clock_every": self.config.clock_every,
            "now": self.now,
            "tick": self.clock.ticks,
            "card": self.card.url,
            "dsp": {"implementation": self.dsp_implementation, "kernels": self.kernels.available()},
            "echo_default": self.config.echo,
            "zone": self.config.zone,
            "channels": channels,
            "links": [{"from": s, "to": d} for s, d in sorted(self._edges)],
            "stats": stats,
        }

    # ---- the tick ---------------------------------------------------------------------------

    def _row(self, number: int) -> int:
        row = self.channels[number].row
        assert row is not None  # connect only links audio channels
        return row

    def _rebuild_mix(self) -> None:
        self._mix_dirty = False
        dsts = sorted({self._row(d) for _, d in self._edges})
        srcs = sorted({self._row(s) for s, _ in self._edges})
        self._mix_dst = np.asarray(dsts, dtype=np.intp)
        self._mix_pos = {row: i for i, row in enumerate(dsts)}
        if all(len(self._row_channel[r].hears) == 1 for r in dsts):
            # every listener hears one source: a row copy, no arithmetic
            self._mix_matrix = None
            self._mix_src = np.asarray(
                [self._row(next(iter(self._row_channel[r].hears))) for r in dsts], dtype=np.intp
            )
            return
        spos = {row: i for i, row in enumerate(srcs)}
        matrix = np.zeros((len(dsts), len(srcs)), dtype=np.float32)
        for s, d in self._edges:
            matrix[self._mix_pos[self._row(d)], spos[self._row(s)]] = 1.0
        self._mix_src = np.asarray(srcs, dtype=np.intp)
        self._mix_matrix = matrix

    def _generate(self, ended: list[p.Event]) -> dict[int, np.ndarray]:
        """Each busy channel's own output block (generator + caller ID), by row."""
        n = self.block_size
        moh_blocks = {
            cls: self._moh_streams[cls].read(n)
            for cls, listeners in self._moh_listeners.items()
            if listeners > 0
        }
        out: dict[int, np.ndarray] = {}
        for ch in list(self._busy.values()):
            gen = ch.generator
            block: np.ndarray | None = None
            if gen is not None:
                if isinstance(gen, MohListener):
                    block = moh_blocks[gen.moh_class]
                else:
                    block = gen.read(n)
                    if gen.finished:
                        ch.generator = None
                        if isinstance(gen, PromptPlayer | TonePlayer):
                            t_end = self.clock.time_of_tick(self.clock.ticks + 1)
                            ended.append(self._ended(gen, t_end, "finished"))
                        self._touch(ch)
            sender = ch.callerid_sender
            if sender is not None and self.clock.ticks >= ch.callerid_start_tick:
                cid = np.asarray(sender.generate(n), dtype=np.int16)
                if sender.done:
                    ch.callerid_sender = None
                    self._touch(ch)
                if block is None:
                    block = cid
                else:
                    block = np.clip(block.astype(np.int32) + cid, -32768, 32767).astype(np.int16)
            if block is not None:
                assert ch.row is not None
                out[ch.row] = block
        return out

    def _mix(self, generated: dict[int, np.ndarray]) -> np.ndarray:
        if self._mix_dirty:
            self._rebuild_mix()
        tx = self._tx
        tx.fill(0)
        pos = self._mix_pos
        if pos:
            if self._mix_matrix is None and not any(r in pos for r in generated):
                tx[self._mix_dst] = self._rx[self._mix_src]
            else:
                if self._mix_matrix is None:
                    mixed = self._rx[self._mix_src].astype(np.float32)
                else:
                    mixed = self._mix_matrix @ self._rx[self._mix_src].astype(np.float32)
                for row, block in generated.items():
                    if row in pos:
                        mixed[pos[row]] += block
                np.clip(mixed, -32768.0, 32767.0, out=mixed)
                tx[self._mix_dst] = mixed
        for row, block in generated.items():
            if row not in pos:
                tx[row] = block
        return tx

    def tick(self) -> list[p.Event]:
        """Run one block through the card; return the events, oldest first."""
        ended: list[p.Event] = []
        generated = self._generate(ended)
        tx = self._mix(generated)
        rx = self.card.exchange(tx)
        if rx.dtype != np.int16 or not rx.flags.c_contiguous or not rx.flags.writeable:
            rx = np.array(rx, dtype=np.int16, order="C")
        if rx.shape != (self.rows, self.block_size):
            raise BoardError(0, f"card {self.card.url}: exchange returned shape {rx.shape}")
        self.clock.advance()
        now = self.clock.now
        events = self.take_events()
        for bev in self.card.events():
            self._board_event(bev, now, events)
        detected: list[p.Event] = []
        quiet = self._quiet_ticks
        if self.config.quiet_skip and self.rows:
            silent = ~(rx.any(axis=1) | tx.any(axis=1))
            quiet += 1
            quiet[~silent] = 0
        settle = self._quiet_settle
        for ch in self._busy.values():
            row = ch.row
            assert row is not None
            if quiet[row] > settle and ch.cpt is None and ch.recorder is None:
                ch.dtmf_origin += self.block_size  # the detector did not see this block
                continue
            if ch.echo is not None:
                rx[row] = ch.echo.process(tx[row], rx[row])
            if ch.dtmf is not None:
                self._run_dtmf(ch, rx[row], now, detected)
            if ch.cpt is not None:
                for cev in ch.cpt.process(rx[row]):
                    start = self.clock.time_of_sample(ch.cpt_origin + float(cev.start))
                    tone = str(getattr(cev.tone, "value", cev.tone))
                    detected.append(
                        p.ToneEvent(
                            t=now,
                            channel=ch.number,
                            tone=tone,
                            start_t=start,
                            sit_kind=getattr(cev, "sit_kind", None),
                            sit_code=getattr(cev, "sit_code", None),
                        )
                    )
            if ch.callerid_rx is not None:
                for msg in ch.callerid_rx.process(rx[row]):
                    fields = _fields_of(msg)
                    extra = {
                        k: v
                        for k, v in fields.items()
                        if k not in ("number", "name", "datetime") and v is not None
                    }
                    detected.append(
                        p.CallerIdEvent(
                            t=now,
                            channel=ch.number,
                            number=fields.get("number"),
                            caller_name=fields.get("name"),
                            datetime=fields.get("datetime"),
                            extra=extra,
                        )
                    )
            if ch.recorder is not None:
                ch.recorder.write(rx[row], tx[row])
        self._rx = rx
        events += detected
        events += ended
        if self.clock.ticks % self.config.clock_every == 0:
            events.append(p.ClockEvent(t=now))
        return events

    def _run_dtmf(
        self, ch: ChannelState, block: np.ndarray, now: float, out: list[p.Event]
    ) -> None:
        for d in ch.dtmf.process(block):
            digit = _digit_name(d.digit)
            if digit is None:
                continue
            out.append(
                p.DigitEvent(
                    t=now,
                    channel=ch.number,
                    digit=digit,
                    start_t=self.clock.time_of_sample(ch.dtmf_origin + float(d.start)),
                    end_t=self.clock.time_of_sample(ch.dtmf_origin + float(d.end)),
                )
            )
        current = _digit_name(ch.dtmf.current)
        if current != ch.dtmf_current:
            ch.dtmf_current = current
            if current is not None:
                out.append(p.DigitDownEvent(t=now, channel=ch.number, digit=current))

    def _board_event(self, bev: Any, now: float, out: list[p.Event]) -> None:
        if isinstance(bev, SpanAlarm):
            out.append(p.AlarmEvent(t=now, span=bev.span, alarm=str(bev.alarm.value)))
            return
        ch = self.channels.get(bev.channel)
        if isinstance(bev, RingStart):
            if ch:
                ch.ringing = True
            out.append(p.RingStartEvent(t=now, channel=bev.channel))
        elif isinstance(bev, RingStop):
            if ch:
                ch.ringing = False
            out.append(p.RingStopEvent(t=now, channel=bev.channel))
        elif isinstance(bev, OffHook):
            if ch:
                ch.offhook = True
                if ch.ringing or ch.callerid_sender is not None:
                    ch.ringing = False
                    ch.callerid_sender = None
                    self._touch(ch)
            out.append(p.OffHookEvent(t=now, channel=bev.channel))
        elif isinstance(bev, OnHook):
            if ch:
                ch.offhook = False
            out.append(p.OnHookEvent(t=now, channel=bev.channel))
        elif isinstance(bev, HookFlash):
            out.append(p.FlashEvent(t=now, channel=bev.channel))
        elif isinstance(bev, PolarityReversal):
            out.append(p.PolarityEvent(t=now, channel=bev.channel))
        elif isinstance(bev, LoopCurrentDrop):
            out.append(p.LoopDropEvent(t=now, channel=bev.channel))
        elif isinstance(bev, DFrame):
            out.append(p.DFrameEvent(t=now, channel=bev.channel, frame_hex=bev.frame.hex()))
        else:
            log.warning("unknown board event %r", bev)

    def close(self) -> None:
        """Finish every recording (durably) and release the card."""
        for ch in self.channels.values():
            if ch.recorder is not None:
                try:
                    self._finish_recording(ch)
                except CommandError as exc:
                    log.error("%s", exc)
        self.card.close()
