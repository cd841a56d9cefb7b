"""The simulated people's voices, and WAV files in and out of the simulated card.

Every simulated caller and agent speaks short phrases rendered with espeak-ng (one of several
voice/pitch/speed variants per person), resampled to 8 kHz with sox and levelled to an active
speech level of -20 dBm0. The box's own prompts come from Asterisk's en_US_f_Allison recordings,
so nothing a simulated person says is ever the same recording as a prompt.

Renders are cached as 16-bit WAV files keyed by a hash of everything that shapes them (voice,
pitch, speed, text, level, this module's render version) in one directory: the card URL's
`voices=DIR`, else `$CALLBOX_SIM_CACHE`, else `$XDG_CACHE_HOME/callbox/sim-voices`
(`~/.cache/callbox/sim-voices`). Rendering all phrases takes a few seconds once; later runs read
the cache. WAV files are read and written with `cython_ext.wavfile` (the board package must not
import firmware.*).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cython_ext.levels import rms_for
from cython_ext.wavfile import WavError, read_wav, write_wav

log = logging.getLogger(__name__)

RATE = 8000
RENDER_VERSION = 1
SPEECH_LEVEL_DBM0 = -20.0
VARIANT_CACHE = 512


class VoiceError(RuntimeError):
    """Speech could not be rendered (espeak-ng or sox missing or failing)."""


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice variant: `name` (voice+variant), pitch 0–99, speed in words/minute."""

    name: str
    pitch: int
    speed: int


#: the voices simulated people are given (person i gets VOICES[f(seed, i)])
VOICES: tuple[Voice, ...] = (
    Voice("en-us+m3", 40, 165),
    Voice("en-us+f3", 65, 170),
    Voice("en-gb+m2", 35, 155),
    Voice("en-gb+f2", 60, 160),
    Voice("en-gb-scotland+m5", 45, 150),
    Voice("en-029+f4", 70, 165),
    Voice("en-us+m7", 30, 175),
    Voice("en-gb-x-rp+f5", 55, 150),
)

CALLER_PHRASES: tuple[str, ...] = (
    "Hello, yes, I am calling about my order from last week.",
    "It still has not arrived, and the tracking number does not work.",
    "Yes, that is right.",
    "My account number is four seven one, two nine, eight eight.",
    "Could you check that for me please?",
    "No, I already tried that twice.",
    "Okay. And how long will that take?",
    "I see. Thank you very much.",
    "Sorry, could you repeat that?",
    "The delivery address is twelve Station Road.",
)

AGENT_PHRASES: tuple[str, ...] = (
    "Thank you for calling, my name is Sam. How can I help you today?",
    "Let me look that up for you, one moment please.",
    "I can see your order here on my screen.",
    "Can you confirm the postcode for me?",
    "I have sent a replacement, it should arrive on Thursday.",
    "Is there anything else I can help you with?",
    "I understand, I am sorry about that.",
    "Thank you, have a nice day.",
)

PHRASES: dict[str, tuple[str, ...]] = {"caller": CALLER_PHRASES, "agent": AGENT_PHRASES}


def cache_dir(override: str | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("CALLBOX_SIM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "callbox" / "sim-voices"


def _level(samples: np.ndarray, dbm0: float) -> np.ndarray:
    """Scale to an active speech level: RMS over the 20 ms frames within 30 dB of the loudest."""
    x = samples.astype(np.float64)
    frames = x[: x.size // 160 * 160].reshape(-1, 160)
    if frames.size == 0:
        return samples
    power = np.mean(frames * frames, axis=1)
    active = power[power > power.max() * 1e-3]
    gain = rms_for(dbm0) / float(np.sqrt(np.mean(active)))
    return np.clip(np.rint(x * gain), -32768, 32767).astype(np.int16)


def _trim(samples: np.ndarray, floor: int = 64) -> np.ndarray:
    loud = np.nonzero(np.abs(samples) > floor)[0]
    if loud.size == 0:
        return samples
    return samples[max(0, loud[0] - 80) : loud[-1] + 80]


def render_speech(text: str, voice: Voice) -> np.ndarray:
    """Render `text` with espeak-ng, resampled to 8 kHz by sox, trimmed and levelled."""
    for tool, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
        if shutil.which(tool) is None:
            raise VoiceError(f"{tool} not found (Debian package {package})")
    speak = subprocess.run(
        [
            "espeak-ng",
            "-v",
            voice.name,
            "-p",
            str(voice.pitch),
            "-s",
            str(voice.speed),
            "--stdout",
            text,
        ],
        capture_output=True,
        check=False,
    )
    if speak.returncode != 0 or not speak.stdout:
        raise VoiceError(
            f"espeak-ng -v {voice.name} failed: {speak.stderr.decode(errors='replace')}"
        )
    resample = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-r",
            str(RATE),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-L",
            "-t",
            "raw",
            "-",
        ],
        input=speak.stdout,
        capture_output=True,
        check=False,
    )
    if resample.returncode != 0:
        raise VoiceError(f"sox resampling failed: {resample.stderr.decode(errors='replace')}")
    raw = resample.stdout
    samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
    return _level(_trim(samples), SPEECH_LEVEL_DBM0)


class VoiceLibrary:
    """Rendered phrases per (role, voice), from the disk cache or espeak-ng at first use."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = cache_dir(str(directory) if directory else None)
        self._phrases: dict[tuple[str, int], tuple[np.ndarray, ...]] = {}
        self._variants: dict[tuple[str, int, int, float], np.ndarray] = {}
        self._lock = threading.Lock()

    def _path(self, text: str, voice: Voice) -> Path:
        key = (
            f"{RENDER_VERSION}|{voice.name}|{voice.pitch}|{voice.speed}|{SPEECH_LEVEL_DBM0}|{text}"
        )
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.directory / f"{voice.name.replace('+', '_')}-{digest}.wav"

    def _load(self, text: str, voice: Voice) -> np.ndarray:
        path = self._path(text, voice)
        if path.exists():
            try:
                return read_wav(path)
            except WavError:
                log.warning("voice cache: %s unreadable; rendering again", path)
        samples = render_speech(text, voice)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        write_wav(tmp, samples)
        os.replace(tmp, path)
        return samples

    def phrases(self, role: str, voice: int) -> tuple[np.ndarray, ...]:
        """Every phrase of `role` ("caller" or "agent") in voice number `voice`."""
        key = (role, voice % len(VOICES))
        with self._lock:
            found = self._phrases.get(key)
        if found is not None:
            return found
        v = VOICES[key[1]]
        rendered = tuple(self._load(text, v) for text in PHRASES[role])
        for r in rendered:
            r.setflags(write=False)
        with self._lock:
            return self._phrases.setdefault(key, rendered)

    def phrase(self, role: str, voice: int, index: int, rate: float = 1.0) -> np.ndarray:
        """Phrase `index` of `role` in `voice`, played `rate` times faster (pitch and tempo:
        each person's own variant, so two people never say exactly the same samples)."""
        key = (role, voice % len(VOICES), index, round(rate, 5))
        with self._lock:
            cached = self._variants.get(key)
        if cached is not None:
            return cached
        base = self.phrases(role, voice)[index % len(PHRASES[role])]
        if abs(rate - 1.0) < 1e-6:
            out = base
        else:
            n = int(base.size / rate)
            pos = np.arange(n) * rate
            out = np.rint(np.interp(pos, np.arange(base.size), base)).astype(np.int16)
            out.setflags(write=False)
        with self._lock:
            self._variants[key] = out
            while len(self._variants) > VARIANT_CACHE:
                self._variants.pop(next(iter(self._variants)))
        return out

    def prepare(self) -> None:
        """Render (or load) every phrase of every voice now, so no tick waits for espeak-ng."""
        from concurrent.futures import ThreadPoolExecutor

        keys = [(role, v) for role in PHRASES for v in range(len(VOICES))]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda k: self.phrases(*k), keys))
