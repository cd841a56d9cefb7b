"""Pure-Python reference twin of the line echo canceller (`_echo.pyx`), same class and methods.

Same algorithm, same constants and the same per-sample decisions as the compiled kernel; the
heavy linear algebra is vectorised with numpy per frame (float64 throughout), the light
per-sample logic (NLP, comfort noise, tone disabler) runs in a Python loop. See `echo.py` for the
design; the constants are documented there.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

FRAME = 64  # adaptation frame (samples); the filter's partition size
NFFT = 2 * FRAME
RMS_0DBM0 = 32767.0 * 10.0 ** (-3.14 / 20.0) / math.sqrt(2.0)  # as cython_ext.levels


def _dbm0_power(dbm0: float) -> float:
    return RMS_0DBM0 * RMS_0DBM0 * 10.0 ** (dbm0 / 10.0)


# --- constants shared with _echo.pyx (keep in step) ---
HPF_POLE = 0.985  # DC/high-pass: first order, -3 dB at about 19 Hz
HPF_GAIN = (1.0 + HPF_POLE) / 2.0
MU = 0.9  # background step size (normalised, per-bin whitened)
PROP_ALPHA = 0.75  # IPNLMS mix: -1 = NLMS, 0 = half uniform, 0.75 = one eighth uniform
VSS_KNEE = 0.15  # background error amplitude ratio below which the step shrinks (16.5 dB)...
VSS_MIN = 0.3  # ...down to this share of MU
GAIN_CAP = 4.0  # proportionate gain cap (a block update must not overshoot one tap)
DELTA_POWER = _dbm0_power(-72.0) * NFFT  # per-bin regulariser of the far-end spectrum...
NORM_FLOOR = 0.1  # ...plus this share (-10 dB) of the mean normaliser over the bins, so that
# bins where the far end is weak do not turn line noise (µ-law quantisation) into tap noise
FAR_ACTIVE_POWER = _dbm0_power(-42.0)  # far end "talking" above this frame power
STAT_SMOOTH = 0.5  # per-frame smoothing of the two-path error energies
COPY_RATIO = 0.6  # background copied to foreground when its error is this much smaller...
COPY_FRAMES = 2  # ...for this many frames in a row
RESET_RATIO = 4.0  # background reset from foreground when its error is this much larger...
RESET_FRAMES = 3  # ...for this many frames in a row
FG_FLOOR = 0.02  # foreground partitions whose taps all lie 34 dB below the peak are dropped
DT_STEP = 0.5  # step share in a frame where double talk was flagged
CHANGE_FRAMES = 8  # both filters worse than none for 64 ms: echo path change, restart
CHANGE_RATIO = 1.25  # ...with the foreground's error 1 dB above the near end (double talk alone
# hardly ever does that for 64 ms; an echo path change does)
NLP_RATIO = 0.25  # NLP engages when error power < NLP_RATIO * echo-estimate power
NLP_ATTACK = 1.0 / 48.0  # NLP gain fall per sample (6 ms to suppress)
NLP_RELEASE = 1.0 / 8.0  # NLP gain rise per sample (1 ms to release)
POWER_SMOOTH = 1.0 / 64.0  # per-sample smoothing of short-term powers (8 ms)
NOISE_RISE = 1.0046  # comfort-noise level estimate: +0.02 dB per frame
NOISE_FLOOR = _dbm0_power(-90.0)
NOISE_START = _dbm0_power(-30.0)  # the estimate starts high and falls to the first quiet frame
NOISE_BIAS = 1.4  # minima of 64-sample frame powers sit about 1.5 dB below the mean
ERLE_SMOOTH = 0.9
CONVERGED_ERLE = 10.0 ** (10.0 / 10.0)
TONE_BLOCK = 32  # tone disabler analysis block (4 ms)
TONE_LEVEL = _dbm0_power(-36.0) * TONE_BLOCK  # tone at least this loud (block energy)
TONE_PURITY = 0.5  # share of the block's energy at 2100 Hz
TONE_MIN_BLOCKS = 100  # 400 ms of tone before a reversal counts...
TONE_GAP_BLOCKS = 3  # ...bridging reversal dips up to 12 ms
RELEASE_LEVEL = _dbm0_power(-36.0) * TONE_BLOCK  # re-enable after both directions fall below...
RELEASE_BLOCKS = 63  # ...for 250 ms (G.165 3.4.2: 250 +/- 150 ms)
TONE_COS = tuple(math.cos(2.0 * math.pi * 2100.0 * i / 8000.0) for i in range(80))
TONE_SIN = tuple(math.sin(2.0 * math.pi * 2100.0 * i / 8000.0) for i in range(80))


class _ToneWatch:
    """2100 Hz with phase reversals on one direction (G.165 disabler), 4 ms blocks."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.re = self.im = self.energy = 0.0
        self.prev_re = [0.0, 0.0]
        self.prev_im = [0.0, 0.0]
        self.run = 0  # blocks of tone in the current run
        self.gap = 0
        self.reversal = False

    def block(self) -> tuple[bool, float]:
        """Close a block; return (tone with reversal heard, block energy)."""
        re, im, energy = self.re, self.im, self.energy
        mag = re * re + im * im
        tone = energy > TONE_LEVEL and mag > TONE_PURITY * energy * TONE_BLOCK / 2.0
        if tone:
            if self.run >= TONE_MIN_BLOCKS:
                pre, pim = self.prev_re[1], self.prev_im[1]
                # phase difference over 8 ms; a reversal turns it by ~180 degrees
                if re * pre + im * pim < -0.5 * math.sqrt(mag * (pre * pre + pim * pim)):
                    self.reversal = True
            self.run += 1
            self.gap = 0
        elif self.run:
            self.gap += 1
            if self.gap > TONE_GAP_BLOCKS:
                self.run = 0
                self.reversal = False
        self.prev_re[1], self.prev_im[1] = self.prev_re[0], self.prev_im[0]
        self.prev_re[0], self.prev_im[0] = re, im
        self.re = self.im = self.energy = 0.0
        return self.reversal and self.run > 0, energy


class EchoCanceller:
    """Line echo canceller: two-path partitioned-block adaptive filter, NLP, CNG, tone disabler."""

    def __init__(
        self, taps: int, nlp: bool, comfort_noise: bool, highpass: bool, tone_disable: bool
    ) -> None:
        if taps <= 0 or taps % FRAME:
            raise ValueError(f"taps must be a positive multiple of {FRAME}")
        self.taps = taps
        self.parts = taps // FRAME
        self.nlp = bool(nlp)
        self.comfort_noise = bool(comfort_noise)
        self.highpass = bool(highpass)
        self.tone_disable = bool(tone_disable)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        t, p = self.taps, self.parts
        self.w_fg = np.zeros(t)
        self.fg_span = (0, 0)  # partitions the foreground filter runs over
        self.w_bg = np.zeros(t)
        self.xhist = np.zeros(t + FRAME)  # high-passed far end, newest last
        self.spectra = np.zeros((p, NFFT // 2 + 1), dtype=np.complex128)  # newest first
        self.powers = np.zeros((p, NFFT // 2 + 1))  # |spectra|**2
        self.far_frames = np.zeros(p + 1)  # far-end frame powers, newest first
        self.hpf_x = np.zeros(1)
        self.hpf_d = np.zeros(1)
        self.fill = 0  # samples in the current frame
        self.e_frame = np.zeros(FRAME)
        self.x_frame_energy = self.d_energy = self.ef_energy = self.eb_energy = 0.0
        self.ds = self.efs = self.ebs = 0.0
        self.better = self.worse = self.changed = 0
        self.restarts = 0
        self.pe = self.py = 0.0
        self.nlp_gain = 1.0
        self.noise = NOISE_START
        self.seed = 22222
        self.erle = 1.0
        self.far_active = False
        self.dt = False
        self.dt_count = 0  # samples of the current frame flagged as double talk
        self.disabled_flag = False
        self.tone_pos = 0
        self.quiet_blocks = 0
        self.watch_far = _ToneWatch()
        self.watch_near = _ToneWatch()
        self.samples = 0
        self.copies = 0

    # ------------------------------------------------------------------ stats
    @property
    def disabled(self) -> bool:
        return self.disabled_flag

    @property
    def erle_db(self) -> float:
        return 10.0 * math.log10(self.erle)

    @property
    def converged(self) -> bool:
        return self.erle >= CONVERGED_ERLE

    @property
    def double_talk(self) -> bool:
        return self.dt

    @property
    def nlp_active(self) -> bool:
        return self.nlp_gain < 0.5

    @property
    def foreground_updates(self) -> int:
        return self.copies

    def weights(self) -> np.ndarray:
        return self.w_fg.copy()

    # ------------------------------------------------------------------ processing
    def process(self, far: np.ndarray, near: np.ndarray) -> np.ndarray:
        far = np.asarray(far, dtype=np.int16)
        near = np.asarray(near, dtype=np.int16)
        n = near.size
        out = np.empty(n, dtype=np.int16)
        pos = 0
        while pos < n:
            seg = min(n - pos, FRAME - self.fill)
            self._segment(far[pos : pos + seg], near[pos : pos + seg], out[pos : pos + seg])
            pos += seg
        return out

    def _segment(self, far: np.ndarray, near: np.ndarray, out: np.ndarray) -> None:
        xr = far.astype(np.float64)
        dr = near.astype(np.float64)
        if self.highpass:
            b, a = [HPF_GAIN, -HPF_GAIN], [1.0, -HPF_POLE]
            x, self.hpf_x = lfilter(b, a, xr, zi=self.hpf_x)
            d, self.hpf_d = lfilter(b, a, dr, zi=self.hpf_d)
        else:
            x, d = xr, dr
        seg = x.size
        self.xhist = np.concatenate([self.xhist[seg:], x])
        win = sliding_window_view(self.xhist[self.xhist.size - seg - self.taps + 1 :], self.taps)
        y_fg = (win * self.w_fg[::-1]).sum(axis=1)
        y_bg = (win * self.w_bg[::-1]).sum(axis=1)
        e_fg = d - y_fg
        e_bg = d - y_bg
        self.e_frame[self.fill : self.fill + seg] = e_bg
        self.x_frame_energy += float(np.dot(x, x))
        self.d_energy += float(np.dot(d, d))
        self.ef_energy += float(np.dot(e_fg, e_fg))
        self.eb_energy += float(np.dot(e_bg, e_bg))
        for i in range(seg):
            out[i] = self._sample(xr[i], dr[i], e_fg[i], y_fg[i], near[i])
        self.fill += seg
        if self.fill == FRAME:
            self._frame()
            self.fill = 0

    def _sample(self, xr: float, dr: float, e: float, y: float, raw: int) -> int:
        # short-term powers of the error and of the echo estimate
        self.pe += (e * e - self.pe) * POWER_SMOOTH
        self.py += (y * y - self.py) * POWER_SMOOTH
        # comfort noise source (32-bit LCG, uniform in [-1, 1))
        self.seed = (self.seed * 1664525 + 1013904223) & 0xFFFFFFFF
        if self.tone_disable:
            self._tone(xr, dr)
        self.samples += 1
        if self.disabled_flag:
            return raw
        residual = self.pe < NLP_RATIO * self.py
        self.dt = self.far_active and self.erle >= CONVERGED_ERLE and self.pe > self.py
        self.dt_count += self.dt
        if self.nlp and residual:
            self.nlp_gain = max(0.0, self.nlp_gain - NLP_ATTACK)
        else:
            self.nlp_gain = min(1.0, self.nlp_gain + NLP_RELEASE)
        v = e * self.nlp_gain
        if self.comfort_noise and self.nlp_gain < 1.0:
            u = ((self.seed >> 16) - 32768.0) * (1.0 / 32768.0)
            v += (1.0 - self.nlp_gain) * u * math.sqrt(3.0 * NOISE_BIAS * self.noise)
        v = round(v)  # half to even, like lrint
        return int(min(32767, max(-32768, v)))

    def _tone(self, x: float, d: float) -> None:
        c, s = TONE_COS[self.tone_pos], TONE_SIN[self.tone_pos]
        self.tone_pos = self.tone_pos + 1 if self.tone_pos < 79 else 0
        wf, wn = self.watch_far, self.watch_near
        wf.re += x * c
        wf.im -= x * s
        wf.energy += x * x
        wn.re += d * c
        wn.im -= d * s
        wn.energy += d * d
        if self.samples % TONE_BLOCK != TONE_BLOCK - 1:
            return
        hit_far, ef = wf.block()
        hit_near, en = wn.block()
        if not self.disabled_flag:
            if hit_far or hit_near:
                self.disabled_flag = True
                self.quiet_blocks = 0
        elif ef < RELEASE_LEVEL and en < RELEASE_LEVEL:
            self.quiet_blocks += 1
            if self.quiet_blocks >= RELEASE_BLOCKS:
                self.disabled_flag = False
                wf.reset()
                wn.reset()
        else:
            self.quiet_blocks = 0

    def _trim_foreground(self) -> None:
        """Keep the foreground's taps only from the first to the last partition holding a tap
        within FG_FLOOR of the largest: the output filter runs over the echo, not the tail."""
        peaks = np.abs(self.w_fg).reshape(self.parts, FRAME).max(axis=1)
        keep = np.flatnonzero(peaks >= FG_FLOOR * peaks.max()) if peaks.max() > 0 else []
        lo, hi = (int(keep[0]), int(keep[-1]) + 1) if len(keep) else (0, 0)
        self.w_fg[: lo * FRAME] = 0.0
        self.w_fg[hi * FRAME :] = 0.0
        self.fg_span = (lo, hi)

    def _step(self) -> float:
        """Variable step: full while the background removes less than VSS_KNEE of the echo,
        smaller as it converges (less misadjustment from line noise), never below VSS_MIN."""
        ratio = math.sqrt(self.ebs / self.ds) if self.ds > 0.0 else 1.0
        return MU * min(1.0, max(VSS_MIN, ratio / VSS_KNEE))

    def _frame(self) -> None:
        p = self.parts
        self.spectra[1:] = self.spectra[:-1]
        self.spectra[0] = np.fft.rfft(self.xhist[self.xhist.size - NFFT :])
        self.powers[1:] = self.powers[:-1]
        u0 = self.spectra[0]
        self.powers[0] = u0.real * u0.real + u0.imag * u0.imag
        self.far_frames[1:] = self.far_frames[:-1]
        self.far_frames[0] = self.x_frame_energy / FRAME
        self.far_active = bool(self.far_frames.max() > FAR_ACTIVE_POWER)
        d_e, ef_e, eb_e = self.d_energy, self.ef_energy, self.eb_energy
        self.x_frame_energy = self.d_energy = self.ef_energy = self.eb_energy = 0.0
        dt_count, self.dt_count = self.dt_count, 0
        # comfort-noise level: minimum statistics of the output error, slow rise
        pe_frame = ef_e / FRAME
        self.noise = max(NOISE_FLOOR, min(self.noise * NOISE_RISE, pe_frame))
        if not self.far_active or self.disabled_flag:
            return
        # two-path control (foreground = output filter, background = adapting filter)
        self.ds = STAT_SMOOTH * self.ds + (1.0 - STAT_SMOOTH) * d_e
        self.efs = STAT_SMOOTH * self.efs + (1.0 - STAT_SMOOTH) * ef_e
        self.ebs = STAT_SMOOTH * self.ebs + (1.0 - STAT_SMOOTH) * eb_e
        if self.ebs < COPY_RATIO * self.efs and self.ebs < self.ds:
            self.better += 1
            if self.better >= COPY_FRAMES:
                self.w_fg[:] = self.w_bg
                self._trim_foreground()
                self.efs = self.ebs
                self.better = 0
                self.copies += 1
        else:
            self.better = 0
        if self.ebs > RESET_RATIO * self.efs and self.ebs > self.ds:
            self.worse += 1
            if self.worse >= RESET_FRAMES:
                self.w_bg[:] = self.w_fg
                self.ebs = self.efs
                self.worse = 0
        else:
            self.worse = 0
        # echo path change: both filters do worse than no filter at all, the foreground by 1 dB
        # (double talk hardly ever does that for 64 ms); the background restarts from zero,
        # which converges faster than unlearning
        if self.efs > CHANGE_RATIO * self.ds and self.ebs > self.ds:
            self.changed += 1
            if self.changed >= CHANGE_FRAMES:
                self.w_bg[:] = 0.0
                self.ebs = self.ds
                self.changed = 0
                self.restarts += 1
        else:
            self.changed = 0
        if not self.dt and ef_e > 0.0:
            self.erle = ERLE_SMOOTH * self.erle + (1.0 - ERLE_SMOOTH) * max(1.0, d_e / ef_e)
        # background adaptation: proportionate (IPNLMS gains per tap, capped), normalised per bin
        # by the far-end power of every partition weighted by that partition's largest gain
        mag = np.abs(self.w_bg)
        total = float(mag.sum())
        gains = (1.0 - PROP_ALPHA) / 2.0 + (1.0 + PROP_ALPHA) * mag * (p * FRAME) / (
            2.0 * total + 1e-6
        )
        gains = np.minimum(gains, GAIN_CAP)
        part_gain = gains.reshape(p, FRAME).max(axis=1)
        norm = part_gain @ self.powers
        err = np.zeros(NFFT)
        err[FRAME:] = self.e_frame
        reg = DELTA_POWER + NORM_FLOOR * float(norm.mean())
        mu = self._step() * (DT_STEP if dt_count else 1.0)
        g = np.fft.rfft(err) * (mu * NFFT / FRAME) / (norm + reg)
        grads = np.fft.irfft(g[None, :] * np.conj(self.spectra), NFFT, axis=1)[:, :FRAME]
        self.w_bg += gains * grads.reshape(-1)
