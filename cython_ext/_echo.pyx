# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3, initializedcheck=False
"""Compiled line echo canceller (see `echo.py` for the design, `_echo_ref.py` for the twin).

All state lives in `EchoCanceller`, in buffers allocated once when it is created. `process()`
takes a block of any length and runs a `noexcept nogil` loop: per sample one float32 dot product
(over the foreground's echo span only) gives the output; every 64-sample frame, while the far end
talks, the background filter's output is computed by overlap-save (one batched FFT of its taps,
eight 128-point transforms per call, two partitions per transform), its error spectrum drives
one batched inverse FFT of proportionate, per-bin normalised gradients, and one vectorised pass
updates the taps. The constants come from the twin module, so both implementations use the same
numbers.
"""

from libc.math cimport fabs, lrint, sqrt, log10, cos, sin
from libc.stdint cimport int16_t, uint32_t
from libc.string cimport memcpy, memset

import numpy as np

from cython_ext import _echo_ref as _ref

cdef extern from *:
    """
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11
    #define EC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define EC_CLONES
    #endif
    typedef float ec_v8 __attribute__((vector_size(32), aligned(4)));

    /* Eight 128-point complex FFTs at once in float32, one per lane (the background's
       gradients: two partitions per transform, eight transforms per call). Same radix-2
       butterflies as fft128() in the .pyx; sign -1 forward, +1 inverse, unscaled. */
    typedef float ec_v8fu __attribute__((vector_size(32), aligned(4)));
    EC_CLONES static void ec_fft128_x8(float *re_, float *im_, const double *tw_cos,
                                       const double *tw_sin, const int *bitrev, float sign)
    {
        ec_v8fu *re = (ec_v8fu *)re_, *im = (ec_v8fu *)im_, t, tr, ti;
        int i, j, k, m, size, half, step;
        float wr, wi;
        for (i = 0; i < 128; i++) {
            j = bitrev[i];
            if (j > i) {
                t = re[i]; re[i] = re[j]; re[j] = t;
                t = im[i]; im[i] = im[j]; im[j] = t;
            }
        }
        for (size = 2; size <= 128; size <<= 1) {
            half = size >> 1;
            step = 128 / size;
            for (i = 0; i < 128; i += size) {
                for (k = 0; k < half; k++) {
                    wr = (float)tw_cos[k * step];
                    wi = sign * (float)tw_sin[k * step];
                    m = i + k + half;
                    tr = re[m] * wr - im[m] * wi;
                    ti = re[m] * wi + im[m] * wr;
                    re[m] = re[i + k] - tr;
                    im[m] = im[i + k] - ti;
                    re[i + k] += tr;
                    im[i + k] += ti;
                }
            }
        }
    }

    /* Sum of |w| and each 64-tap partition's largest |w| (IPNLMS gains are computed from
       these). |w| is taken by clearing the sign bit; for non-negative floats the bit patterns
       order like the values, so the maxima are integer maxima. */
    typedef unsigned int ec_v8u __attribute__((vector_size(32), aligned(4)));
    typedef int ec_v8i __attribute__((vector_size(32)));
    typedef float ec_v8f __attribute__((vector_size(32)));
    EC_CLONES static double ec_abs_stats(const float *w, int t, float *part_max)
    {
        ec_v8f sum = {0};
        ec_v8u u, mx;
        ec_v8i gt;
        union { unsigned int u; float f; } cvt;
        unsigned int m;
        double total = 0.0;
        int q, v, j;
        for (q = 0; q < t / 64; q++) {
            mx = (ec_v8u){0};
            for (v = 0; v < 8; v++) {
                u = *(const ec_v8u *)(w + q * 64 + v * 8) & 0x7fffffffu;
                gt = (ec_v8i)(u > mx);
                mx = (u & (ec_v8u)gt) | (mx & ~(ec_v8u)gt);
                sum += (ec_v8f)u;
            }
            m = 0;
            for (j = 0; j < 8; j++)
                m = mx[j] > m ? mx[j] : m;
            cvt.u = m;
            part_max[q] = cvt.f;
        }
        for (j = 0; j < 8; j++)
            total += sum[j];
        return total;
    }

    /* Background update: w[k] += min(cap, base + |w[k]| * scale) * grad[k] (IPNLMS gain). */
    EC_CLONES static void ec_update(float *w, const float *grad, int t, float base, float scale,
                                    float cap)
    {
        int k;
        float g;
        for (k = 0; k < t; k++) {
            g = base + __builtin_fabsf(w[k]) * scale;
            g = g < cap ? g : cap;
            w[k] += g * grad[k];
        }
    }

    /* One dot product, n a multiple of 64 (possibly 0). Four accumulators of eight lanes, so
       the FMA latency does not serialise the loop. */
    EC_CLONES static double ec_dot(const float *x, const float *a, int n)
    {
        ec_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, s;
        int i;
        for (i = 0; i < n; i += 32) {
            a0 += *(const ec_v8 *)(a + i) * *(const ec_v8 *)(x + i);
            a1 += *(const ec_v8 *)(a + i + 8) * *(const ec_v8 *)(x + i + 8);
            a2 += *(const ec_v8 *)(a + i + 16) * *(const ec_v8 *)(x + i + 16);
            a3 += *(const ec_v8 *)(a + i + 24) * *(const ec_v8 *)(x + i + 24);
        }
        s = (a0 + a1) + (a2 + a3);
        return (double)(((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])));
    }
    """
    void ec_fft128_x8(float *re, float *im, const double *tw_cos, const double *tw_sin,
                      const int *bitrev, float sign) noexcept nogil
    double ec_abs_stats(const float *w, int t, float *part_max) noexcept nogil
    double ec_dot(const float *x, const float *a, int n) noexcept nogil
    void ec_update(float *w, const float *grad, int t, float base, float scale,
                   float cap) noexcept nogil

DEF FRAME = 64
DEF NFFT = 128
DEF NBIN = 65
DEF HALF = 64
DEF LOGN = 7
DEF MAXPARTS = 64
DEF TONE_PERIOD = 80

cdef double HPF_POLE = _ref.HPF_POLE
cdef double HPF_GAIN = _ref.HPF_GAIN
cdef double MU = _ref.MU
cdef double PROP_ALPHA = _ref.PROP_ALPHA
cdef double GAIN_CAP = _ref.GAIN_CAP
cdef double VSS_KNEE = _ref.VSS_KNEE
cdef double VSS_MIN = _ref.VSS_MIN
cdef double DELTA_POWER = _ref.DELTA_POWER
cdef double FAR_ACTIVE_POWER = _ref.FAR_ACTIVE_POWER
cdef double STAT_SMOOTH = _ref.STAT_SMOOTH
cdef double COPY_RATIO = _ref.COPY_RATIO
cdef int COPY_FRAMES = _ref.COPY_FRAMES
cdef double RESET_RATIO = _ref.RESET_RATIO
cdef int RESET_FRAMES = _ref.RESET_FRAMES
cdef int CHANGE_FRAMES = _ref.CHANGE_FRAMES
cdef double FG_FLOOR = _ref.FG_FLOOR
cdef double NLP_RATIO = _ref.NLP_RATIO
cdef double NLP_ATTACK = _ref.NLP_ATTACK
cdef double NLP_RELEASE = _ref.NLP_RELEASE
cdef double POWER_SMOOTH = _ref.POWER_SMOOTH
cdef double NOISE_RISE = _ref.NOISE_RISE
cdef double NOISE_FLOOR = _ref.NOISE_FLOOR
cdef double NOISE_START = _ref.NOISE_START
cdef double NOISE_BIAS = _ref.NOISE_BIAS
cdef double ERLE_SMOOTH = _ref.ERLE_SMOOTH
cdef double CONVERGED_ERLE = _ref.CONVERGED_ERLE
cdef int TONE_BLOCK = _ref.TONE_BLOCK
cdef double TONE_LEVEL = _ref.TONE_LEVEL
cdef double TONE_PURITY = _ref.TONE_PURITY
cdef int TONE_MIN_BLOCKS = _ref.TONE_MIN_BLOCKS
cdef int TONE_GAP_BLOCKS = _ref.TONE_GAP_BLOCKS
cdef double RELEASE_LEVEL = _ref.RELEASE_LEVEL
cdef int RELEASE_BLOCKS = _ref.RELEASE_BLOCKS
cdef double TONE_COS[TONE_PERIOD]
cdef double TONE_SIN[TONE_PERIOD]
TONE_COS[:] = _ref.TONE_COS
TONE_SIN[:] = _ref.TONE_SIN
assert _ref.FRAME == FRAME and _ref.NFFT == NFFT

# FFT tables (radix-2, 128 points)
cdef double TW_COS[HALF]
cdef double TW_SIN[HALF]
cdef int BITREV[NFFT]
cdef int _k, _b, _r
for _k in range(HALF):
    TW_COS[_k] = cos(2.0 * 3.141592653589793 * _k / NFFT)
    TW_SIN[_k] = sin(2.0 * 3.141592653589793 * _k / NFFT)
for _k in range(NFFT):
    _r = 0
    for _b in range(LOGN):
        if _k & (1 << _b):
            _r |= 1 << (LOGN - 1 - _b)
    BITREV[_k] = _r


cdef void fft128(double *re, double *im, double sign) noexcept nogil:
    """In-place complex FFT, sign -1 forward, +1 inverse (unscaled)."""
    cdef int i, j, size, half, step, k, m
    cdef double tr, ti, wr, wi, t
    for i in range(NFFT):
        j = BITREV[i]
        if j > i:
            t = re[i]; re[i] = re[j]; re[j] = t
            t = im[i]; im[i] = im[j]; im[j] = t
    size = 2
    while size <= NFFT:
        half = size >> 1
        step = NFFT // size
        i = 0
        while i < NFFT:
            for k in range(half):
                wr = TW_COS[k * step]
                wi = sign * TW_SIN[k * step]
                m = i + k + half
                tr = re[m] * wr - im[m] * wi
                ti = re[m] * wi + im[m] * wr
                re[m] = re[i + k] - tr
                im[m] = im[i + k] - ti
                re[i + k] += tr
                im[i + k] += ti
            i += size
        size <<= 1


cdef struct ToneWatch:
    double re, im, energy
    double prev_re0, prev_im0, prev_re1, prev_im1
    int run, gap, reversal


cdef void watch_reset(ToneWatch *w) noexcept nogil:
    memset(w, 0, sizeof(ToneWatch))


cdef int watch_block(ToneWatch *w, double *energy_out) noexcept nogil:
    cdef double re = w.re, im = w.im, energy = w.energy
    cdef double mag = re * re + im * im
    cdef double pre, pim
    cdef bint tone = energy > TONE_LEVEL and mag > TONE_PURITY * energy * TONE_BLOCK / 2.0
    if tone:
        if w.run >= TONE_MIN_BLOCKS:
            pre = w.prev_re1
            pim = w.prev_im1
            if re * pre + im * pim < -0.5 * sqrt(mag * (pre * pre + pim * pim)):
                w.reversal = 1
        w.run += 1
        w.gap = 0
    elif w.run:
        w.gap += 1
        if w.gap > TONE_GAP_BLOCKS:
            w.run = 0
            w.reversal = 0
    w.prev_re1 = w.prev_re0
    w.prev_im1 = w.prev_im0
    w.prev_re0 = re
    w.prev_im0 = im
    w.re = 0.0
    w.im = 0.0
    w.energy = 0.0
    energy_out[0] = energy
    return w.reversal and w.run > 0


cdef class EchoCanceller:
    """Line echo canceller: two-path partitioned-block adaptive filter, NLP, CNG, tone disabler."""

    cdef readonly int taps
    cdef readonly int parts
    cdef readonly bint nlp, comfort_noise, highpass, tone_disable
    cdef object _keep  # numpy arrays owning the buffers below
    cdef float *w_fg  # foreground (output) taps
    cdef float *w_bg  # background (adapting) taps
    cdef float *xbuf  # far end, newest first: ring of 2*taps, each sample written twice
    cdef int xpos
    cdef int fg_lo, fg_len  # the foreground filter's span (taps)
    cdef double *spec_re  # [parts][NBIN], ring, head = newest
    cdef double *spec_im
    cdef double *powers
    cdef int head
    cdef double *far_frames  # parts + 1, ring
    cdef int far_head
    cdef float *grad  # background gradient, natural tap order
    cdef double *part_gain
    cdef float *part_abs
    cdef double *norm
    cdef double *g_re
    cdef double *g_im
    cdef double zr[NFFT]
    cdef double zi[NFFT]
    cdef float br[NFFT * 8]  # eight transforms interleaved: br[8*k + lane]
    cdef float bi[NFFT * 8]
    cdef double e_frame[FRAME]
    cdef double d_frame[FRAME]
    cdef double y_re[NBIN]
    cdef double y_im[NBIN]
    cdef double hpf_x, hpf_d
    cdef int fill
    cdef double x_frame_energy, d_energy, ef_energy
    cdef double ds, efs, ebs
    cdef int better, worse, changed
    cdef readonly long long restarts
    cdef double pe, py, nlp_gain, noise
    cdef uint32_t seed
    cdef double erle
    cdef bint far_active, dt, disabled_flag
    cdef int tone_pos, tone_count, quiet_blocks
    cdef double cn_amplitude
    cdef ToneWatch watch_far, watch_near
    cdef long long samples
    cdef long long copies

    def __init__(self, int taps, bint nlp, bint comfort_noise, bint highpass, bint tone_disable):
        if taps < NFFT or taps % FRAME or taps // FRAME > MAXPARTS:
            raise ValueError(f"taps must be a multiple of {FRAME} from {NFFT} to {FRAME * MAXPARTS}")
        self.taps = taps
        self.parts = taps // FRAME
        self.nlp = nlp
        self.comfort_noise = comfort_noise
        self.highpass = highpass
        self.tone_disable = tone_disable
        cdef float[::1] f32
        cdef double[::1] f64
        arrays = {
            "w_fg": np.zeros(taps, np.float32),
            "w_bg": np.zeros(taps, np.float32),
            "xbuf": np.zeros(2 * taps, np.float32),
            "spec_re": np.zeros(self.parts * NBIN),
            "spec_im": np.zeros(self.parts * NBIN),
            "powers": np.zeros(self.parts * NBIN),
            "far_frames": np.zeros(self.parts + 1),
            "grad": np.zeros(taps, np.float32),
            "part_gain": np.zeros(self.parts),
            "part_abs": np.zeros(self.parts, np.float32),
            "norm": np.zeros(NBIN),
            "g_re": np.zeros(NBIN),
            "g_im": np.zeros(NBIN),
        }
        self._keep = arrays
        f32 = arrays["w_fg"]; self.w_fg = &f32[0]
        f32 = arrays["w_bg"]; self.w_bg = &f32[0]
        f32 = arrays["xbuf"]; self.xbuf = &f32[0]
        f64 = arrays["spec_re"]; self.spec_re = &f64[0]
        f64 = arrays["spec_im"]; self.spec_im = &f64[0]
        f64 = arrays["powers"]; self.powers = &f64[0]
        f64 = arrays["far_frames"]; self.far_frames = &f64[0]
        f32 = arrays["grad"]; self.grad = &f32[0]
        f64 = arrays["part_gain"]; self.part_gain = &f64[0]
        f32 = arrays["part_abs"]; self.part_abs = &f32[0]
        f64 = arrays["norm"]; self.norm = &f64[0]
        f64 = arrays["g_re"]; self.g_re = &f64[0]
        f64 = arrays["g_im"]; self.g_im = &f64[0]
        self.reset()

    def reset(self):
        for arr in self._keep.values():
            arr[:] = 0
        self.xpos = 0
        self.fg_lo = self.fg_len = 0
        self.head = 0
        self.far_head = 0
        self.hpf_x = self.hpf_d = 0.0
        self.fill = 0
        memset(self.e_frame, 0, sizeof(self.e_frame))
        memset(self.d_frame, 0, sizeof(self.d_frame))
        self.x_frame_energy = self.d_energy = self.ef_energy = 0.0
        self.ds = self.efs = self.ebs = 0.0
        self.better = self.worse = self.changed = 0
        self.restarts = 0
        self.pe = self.py = 0.0
        self.nlp_gain = 1.0
        self.noise = NOISE_START
        self.seed = 22222
        self.erle = 1.0
        self.far_active = self.dt = self.disabled_flag = False
        self.tone_pos = 0
        self.tone_count = 0
        self.quiet_blocks = 0
        self.cn_amplitude = sqrt(3.0 * NOISE_BIAS * NOISE_START)
        watch_reset(&self.watch_far)
        watch_reset(&self.watch_near)
        self.samples = 0
        self.copies = 0

    @property
    def disabled(self):
        return bool(self.disabled_flag)

    @property
    def erle_db(self):
        return 10.0 * log10(self.erle)

    @property
    def converged(self):
        return self.erle >= CONVERGED_ERLE

    @property
    def double_talk(self):
        return bool(self.dt)

    @property
    def nlp_active(self):
        return self.nlp_gain < 0.5

    @property
    def foreground_updates(self):
        return self.copies

    def weights(self):
        return np.asarray(self._keep["w_fg"], dtype=np.float64)

    def process(self, const int16_t[::1] far, const int16_t[::1] near):
        cdef Py_ssize_t n = near.shape[0]
        if far.shape[0] != n:
            raise ValueError("far and near blocks must have the same length")
        out = np.empty(n, dtype=np.int16)
        cdef int16_t[::1] o = out
        if n:
            with nogil:
                self._run(&far[0], &near[0], &o[0], n)
        return out

    cdef void _run(self, const int16_t *far, const int16_t *near, int16_t *out,
                   Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i
        cdef int t = self.taps
        cdef double xr, dr, x, d, y_fg, e_fg
        for i in range(n):
            xr = far[i]
            dr = near[i]
            if self.highpass:
                x = HPF_GAIN * xr + self.hpf_x
                self.hpf_x = -HPF_GAIN * xr + HPF_POLE * x
                d = HPF_GAIN * dr + self.hpf_d
                self.hpf_d = -HPF_GAIN * dr + HPF_POLE * d
            else:
                x = xr
                d = dr
            # xbuf[xpos + k] is x(n - k) for k < taps
            self.xpos = self.xpos - 1 if self.xpos > 0 else t - 1
            self.xbuf[self.xpos] = <float>x
            self.xbuf[self.xpos + t] = <float>x
            y_fg = ec_dot(&self.xbuf[self.xpos + self.fg_lo], &self.w_fg[self.fg_lo], self.fg_len)
            e_fg = d - y_fg
            self.d_frame[self.fill] = d  # the background's output is computed per frame
            self.x_frame_energy += x * x
            self.d_energy += d * d
            self.ef_energy += e_fg * e_fg
            out[i] = self._sample(xr, dr, e_fg, y_fg, near[i])
            self.fill += 1
            if self.fill == FRAME:
                self._frame()
                self.fill = 0

    cdef inline int16_t _sample(self, double xr, double dr, double e, double y,
                                int16_t raw) noexcept nogil:
        cdef double v, u
        cdef bint residual
        self.pe += (e * e - self.pe) * POWER_SMOOTH
        self.py += (y * y - self.py) * POWER_SMOOTH
        self.seed = self.seed * 1664525u + 1013904223u
        if self.tone_disable:
            self._tone(xr, dr)
        self.samples += 1
        if self.disabled_flag:
            return raw
        residual = self.pe < NLP_RATIO * self.py
        self.dt = self.far_active and self.erle >= CONVERGED_ERLE and self.pe > self.py
        if self.nlp and residual:
            self.nlp_gain = self.nlp_gain - NLP_ATTACK
            if self.nlp_gain < 0.0:
                self.nlp_gain = 0.0
        else:
            self.nlp_gain = self.nlp_gain + NLP_RELEASE
            if self.nlp_gain > 1.0:
                self.nlp_gain = 1.0
        v = e * self.nlp_gain
        if self.comfort_noise and self.nlp_gain < 1.0:
            u = (<double>(self.seed >> 16) - 32768.0) * (1.0 / 32768.0)
            v += (1.0 - self.nlp_gain) * u * self.cn_amplitude
        if v > 32767.0:
            v = 32767.0
        elif v < -32768.0:
            v = -32768.0
        return <int16_t>lrint(v)

    cdef inline void _tone(self, double x, double d) noexcept nogil:
        cdef double c = TONE_COS[self.tone_pos], s = TONE_SIN[self.tone_pos]
        cdef double ef, en
        cdef int hit_far, hit_near
        self.tone_pos = self.tone_pos + 1 if self.tone_pos < TONE_PERIOD - 1 else 0
        self.watch_far.re += x * c
        self.watch_far.im -= x * s
        self.watch_far.energy += x * x
        self.watch_near.re += d * c
        self.watch_near.im -= d * s
        self.watch_near.energy += d * d
        self.tone_count += 1
        if self.tone_count < TONE_BLOCK:
            return
        self.tone_count = 0
        hit_far = watch_block(&self.watch_far, &ef)
        hit_near = watch_block(&self.watch_near, &en)
        if not self.disabled_flag:
            if hit_far or hit_near:
                self.disabled_flag = True
                self.quiet_blocks = 0
        elif ef < RELEASE_LEVEL and en < RELEASE_LEVEL:
            self.quiet_blocks += 1
            if self.quiet_blocks >= RELEASE_BLOCKS:
                self.disabled_flag = False
                watch_reset(&self.watch_far)
                watch_reset(&self.watch_near)
        else:
            self.quiet_blocks = 0

    cdef void _trim_foreground(self) noexcept nogil:
        # keep the first to the last partition holding a tap within FG_FLOOR of the peak
        cdef int q, lo = -1, hi = -1, p = self.parts
        cdef float peak = 0.0
        ec_abs_stats(self.w_fg, self.taps, self.part_abs)
        for q in range(p):
            if self.part_abs[q] > peak:
                peak = self.part_abs[q]
        for q in range(p):
            if peak > 0.0 and self.part_abs[q] >= FG_FLOOR * peak:
                if lo < 0:
                    lo = q
                hi = q + 1
        if lo < 0:
            lo = hi = 0
        memset(self.w_fg, 0, lo * FRAME * sizeof(float))
        memset(&self.w_fg[hi * FRAME], 0, (p - hi) * FRAME * sizeof(float))
        self.fg_lo = lo * FRAME
        self.fg_len = (hi - lo) * FRAME

    cdef double _background_error(self) noexcept nogil:
        """The background filter's error over the frame (into e_frame and its spectrum into
        g_re/g_im), by overlap-save: Y = sum over partitions of U_q * W_q."""
        cdef int p = self.parts
        cdef int group, lane, q, i, k, nk, a, b, j
        cdef float *zr = self.br
        cdef float *zi = self.bi
        cdef double war, wai, wbr, wbi, y, e, energy = 0.0, r0, r1, i0, i1, acc_re, acc_im
        cdef double *yre = self.y_re
        cdef double *yim = self.y_im
        cdef double *ure
        cdef double *uim
        cdef double *vre = NULL
        cdef double *vim = NULL
        cdef float *wq
        for k in range(NBIN):
            yre[k] = 0.0
            yim[k] = 0.0
        group = 0
        while group < p:
            # the taps of partitions q and q + 1 as real and imaginary parts of one transform
            memset(zr, 0, NFFT * 8 * sizeof(float))
            memset(zi, 0, NFFT * 8 * sizeof(float))
            for lane in range(8):
                q = group + 2 * lane
                if q < p:
                    wq = self.w_bg + q * FRAME
                    for i in range(FRAME):
                        zr[8 * i + lane] = wq[i]
                if q + 1 < p:
                    wq = self.w_bg + (q + 1) * FRAME
                    for i in range(FRAME):
                        zi[8 * i + lane] = wq[i]
            ec_fft128_x8(zr, zi, TW_COS, TW_SIN, BITREV, -1.0)
            for lane in range(8):
                q = group + 2 * lane
                if q >= p:
                    break
                ure = self.spec_re + ((self.head + q) % p) * NBIN
                uim = self.spec_im + ((self.head + q) % p) * NBIN
                if q + 1 < p:
                    vre = self.spec_re + ((self.head + q + 1) % p) * NBIN
                    vim = self.spec_im + ((self.head + q + 1) % p) * NBIN
                for k in range(NBIN):
                    nk = (NFFT - k) & (NFFT - 1)
                    r0 = zr[8 * k + lane]
                    r1 = zr[8 * nk + lane]
                    i0 = zi[8 * k + lane]
                    i1 = zi[8 * nk + lane]
                    war = 0.5 * (r0 + r1)
                    wai = 0.5 * (i0 - i1)
                    acc_re = ure[k] * war - uim[k] * wai
                    acc_im = ure[k] * wai + uim[k] * war
                    if q + 1 < p:
                        wbr = 0.5 * (i0 + i1)
                        wbi = -0.5 * (r0 - r1)
                        acc_re += vre[k] * wbr - vim[k] * wbi
                        acc_im += vre[k] * wbi + vim[k] * wbr
                    yre[k] += acc_re
                    yim[k] += acc_im
            group += 16
        for k in range(NBIN):
            self.zr[k] = self.y_re[k]
            self.zi[k] = self.y_im[k]
            if 0 < k < HALF:
                self.zr[NFFT - k] = self.y_re[k]
                self.zi[NFFT - k] = -self.y_im[k]
        fft128(self.zr, self.zi, 1.0)
        for i in range(FRAME):
            y = self.zr[FRAME + i] * (1.0 / NFFT)
            e = self.d_frame[i] - y
            self.e_frame[i] = e
            energy += e * e
        # error spectrum (of [0, e]) for the update
        for i in range(NFFT):
            self.zr[i] = 0.0 if i < FRAME else self.e_frame[i - FRAME]
            self.zi[i] = 0.0
        fft128(self.zr, self.zi, -1.0)
        for k in range(NBIN):
            self.g_re[k] = self.zr[k]
            self.g_im[k] = self.zi[k]
        return energy

    cdef void _frame(self) noexcept nogil:
        cdef int p = self.parts, t = self.taps
        cdef int i, k, q, base, nk, a, b
        cdef double far_max, d_e, ef_e, eb_e, pe_frame, mag, total, gbase, scale, ur, ui
        cdef double ar, ai, br_, bi_, gr, gi, inv, mu, ratio, pg
        cdef double *nrm
        cdef double *pw
        cdef double *ure
        cdef double *uim
        cdef double *vre
        cdef double *vim
        cdef float *zr
        cdef float *zi
        # newest far-end window (last NFFT samples, oldest first)
        for i in range(NFFT):
            self.zr[i] = self.xbuf[self.xpos + NFFT - 1 - i]
            self.zi[i] = 0.0
        fft128(self.zr, self.zi, -1.0)
        self.head = self.head - 1 if self.head > 0 else p - 1
        base = self.head * NBIN
        for k in range(NBIN):
            ur = self.zr[k]
            ui = self.zi[k]
            self.spec_re[base + k] = ur
            self.spec_im[base + k] = ui
            self.powers[base + k] = ur * ur + ui * ui
        self.far_head = self.far_head - 1 if self.far_head > 0 else p
        self.far_frames[self.far_head] = self.x_frame_energy / FRAME
        far_max = 0.0
        for q in range(p + 1):
            if self.far_frames[q] > far_max:
                far_max = self.far_frames[q]
        self.far_active = far_max > FAR_ACTIVE_POWER
        d_e = self.d_energy
        ef_e = self.ef_energy
        self.x_frame_energy = self.d_energy = self.ef_energy = 0.0
        pe_frame = ef_e / FRAME
        self.noise = self.noise * NOISE_RISE
        if pe_frame < self.noise:
            self.noise = pe_frame
        if self.noise < NOISE_FLOOR:
            self.noise = NOISE_FLOOR
        self.cn_amplitude = sqrt(3.0 * NOISE_BIAS * self.noise)
        if not self.far_active or self.disabled_flag:
            return
        eb_e = self._background_error()
        # two-path control
        self.ds = STAT_SMOOTH * self.ds + (1.0 - STAT_SMOOTH) * d_e
        self.efs = STAT_SMOOTH * self.efs + (1.0 - STAT_SMOOTH) * ef_e
        self.ebs = STAT_SMOOTH * self.ebs + (1.0 - STAT_SMOOTH) * eb_e
        if self.ebs < COPY_RATIO * self.efs and self.ebs < self.ds:
            self.better += 1
            if self.better >= COPY_FRAMES:
                memcpy(self.w_fg, self.w_bg, t * sizeof(float))
                self._trim_foreground()
                self.efs = self.ebs
                self.better = 0
                self.copies += 1
        else:
            self.better = 0
        if self.ebs > RESET_RATIO * self.efs and self.ebs > self.ds:
            self.worse += 1
            if self.worse >= RESET_FRAMES:
                memcpy(self.w_bg, self.w_fg, t * sizeof(float))
                self.ebs = self.efs
                self.worse = 0
        else:
            self.worse = 0
        # echo path change: both filters do worse than no filter at all (double talk cannot do
        # that); the background restarts from zero, which converges faster than unlearning
        if self.efs > self.ds and self.ebs > self.ds:
            self.changed += 1
            if self.changed >= CHANGE_FRAMES:
                memset(self.w_bg, 0, t * sizeof(float))
                self.ebs = self.ds
                self.changed = 0
                self.restarts += 1
        else:
            self.changed = 0
        if not self.dt and ef_e > 0.0:
            self.erle = ERLE_SMOOTH * self.erle + (1.0 - ERLE_SMOOTH) * (
                d_e / ef_e if d_e > ef_e else 1.0)
        # proportionate (IPNLMS) gains, capped: g_k = min(cap, base + |w_k| * scale); each
        # partition's normaliser uses its largest gain
        total = ec_abs_stats(self.w_bg, t, self.part_abs)
        scale = (1.0 + PROP_ALPHA) * t / (2.0 * total + 1e-6)
        gbase = (1.0 - PROP_ALPHA) / 2.0
        for q in range(p):
            mag = gbase + self.part_abs[q] * scale
            self.part_gain[q] = mag if mag < GAIN_CAP else GAIN_CAP
        nrm = self.norm
        for k in range(NBIN):
            nrm[k] = 0.0
        for q in range(p):
            # partition q is the spectrum q frames old
            pw = self.powers + ((self.head + q) % p) * NBIN
            pg = self.part_gain[q]
            for k in range(NBIN):
                nrm[k] += pg * pw[k]
        # variable step: full until the background removes 12 dB, then down to VSS_MIN * MU
        mu = MU
        if self.ds > 0.0:
            ratio = sqrt(self.ebs / self.ds) / VSS_KNEE
            if ratio < 1.0:
                mu = MU * (ratio if ratio > VSS_MIN else VSS_MIN)
        for k in range(NBIN):
            inv = (mu * NFFT / FRAME) / (self.norm[k] + DELTA_POWER)
            self.g_re[k] *= inv
            self.g_im[k] *= inv
        # gradients of two partitions per inverse FFT (real part: partition q, imaginary part:
        # partition q + 1), eight transforms per batched FFT
        cdef int group, lane
        group = 0
        while group < p:
            for lane in range(8):
                q = group + 2 * lane
                # spectra of partitions q and q + 1 (missing ones read as zero)
                a = ((self.head + q) % p) * NBIN if q < p else -1
                b = ((self.head + q + 1) % p) * NBIN if q + 1 < p else -1
                ure = self.spec_re + (a if a >= 0 else 0)
                uim = self.spec_im + (a if a >= 0 else 0)
                vre = self.spec_re + (b if b >= 0 else 0)
                vim = self.spec_im + (b if b >= 0 else 0)
                zr = self.br
                zi = self.bi
                for k in range(NBIN):
                    gr = self.g_re[k]
                    gi = self.g_im[k]
                    ar = ai = br_ = bi_ = 0.0
                    if a >= 0:
                        # A = G * conj(U_q)
                        ar = gr * ure[k] + gi * uim[k]
                        ai = gi * ure[k] - gr * uim[k]
                    if b >= 0:
                        br_ = gr * vre[k] + gi * vim[k]
                        bi_ = gi * vre[k] - gr * vim[k]
                    # Z = A + jB (bins 0..64), Z[N-k] = conj(A) + j conj(B)
                    zr[8 * k + lane] = <float>(ar - bi_)
                    zi[8 * k + lane] = <float>(ai + br_)
                    if 0 < k < HALF:
                        zr[8 * (NFFT - k) + lane] = <float>(ar + bi_)
                        zi[8 * (NFFT - k) + lane] = <float>(-ai + br_)
            ec_fft128_x8(self.br, self.bi, TW_COS, TW_SIN, BITREV, 1.0)
            for lane in range(8):
                q = group + 2 * lane
                if q < p:
                    for i in range(FRAME):
                        self.grad[q * FRAME + i] = self.br[8 * i + lane] * <float>(1.0 / NFFT)
                if q + 1 < p:
                    for i in range(FRAME):
                        self.grad[(q + 1) * FRAME + i] = self.bi[8 * i + lane] * <float>(
                            1.0 / NFFT)
            group += 16
        ec_update(self.w_bg, self.grad, t, <float>gbase, <float>scale, <float>GAIN_CAP)
