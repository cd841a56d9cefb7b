# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3, initializedcheck=False
"""Compiled line echo canceller (see `echo.py` for the design, `_echo_ref.py` for the twin).

All state lives in `EchoCanceller`, in buffers allocated once when it is created. `process()`
takes a block of any length and runs a `noexcept nogil` loop: per sample one float32 dot product
(over the foreground's echo span only, on a linear far-end buffer, four samples per pass sharing
the tap loads, summed in the same order as one) gives the output; every 64-sample frame, while
the far end talks, the background filter's output is computed by overlap-save and its error
spectrum drives proportionate, per-bin normalised gradients. The background filter and the far-end spectra are
kept in a "lane layout" (see the C block) so that one vector operation works on eight 128-point
transforms, each carrying two partitions: per frame one eight-lane forward FFT of the taps and
one eight-lane inverse FFT of the gradients per 16 partitions (pruned: half the input of the one
and half the output of the other are not needed), three real 128-point FFTs (far end, output,
error; each a 64-point complex FFT), and contiguous vector loops in between; nothing is
bit-reversed in place, the bins are read and written through the bit-reversal table. The
constants come from the twin module, so both implementations use the same numbers.
"""

from libc.math cimport lrint, sqrt, log10
from libc.stdint cimport int16_t, uint32_t
from libc.string cimport memmove, memset

import numpy as np

from cython_ext import _echo_ref as _ref

cdef extern from *:
    """
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11
    #define EC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define EC_CLONES
    #endif
    #include <math.h>
    #include <string.h>

    /* Eight lanes of float32 (one AVX register); unaligned loads and stores. */
    typedef float ec_v8 __attribute__((vector_size(32), aligned(4)));
    typedef unsigned int ec_v8u __attribute__((vector_size(32), aligned(4)));
    typedef int ec_v8i __attribute__((vector_size(32)));
    typedef float ec_v8f __attribute__((vector_size(32)));
    typedef double ec_v4d __attribute__((vector_size(32), aligned(8)));

    /* The background filter lives in "lane layout": partitions are taken 16 at a time (a
       group); in group g, lane l holds partition 16g + 2l in plane a and 16g + 2l + 1 in plane
       b, tap (or bin) i at row i. One 128-point complex FFT per lane then transforms two
       partitions at once (plane a as the real part, plane b as the imaginary part), eight lanes
       per vector operation.
       Taps:    wl[g][plane][64 rows][8 lanes]      (EC_WGROUP floats per group)
       Spectra: xl[g][4][65 rows][8 lanes]          (a.re, a.im, b.re, b.im; EC_XGROUP floats) */
    #define EC_WGROUP (2 * 64 * 8)
    #define EC_XGROUP (4 * 65 * 8)

    static float ec_tw_re[64], ec_tw_im[64];  /* e^{-2 pi i k / 128} */
    static ec_v8 ec_twv_re[64], ec_twv_im[64];  /* the same in all eight lanes */
    static double ec_tw64s_re[64], ec_tw64s_im[64];  /* per stage, see ec_fft64 */
    static double ec_rot_re[65], ec_rot_im[65];  /* e^{-2 pi i k / 128}, double */
    static int ec_rev128[128], ec_rev64[64];

    static void ec_tables(void)
    {
        int k, b, r, s;
        for (k = 0; k < 64; k++) {
            ec_tw_re[k] = (float)cos(2.0 * M_PI * k / 128.0);
            ec_tw_im[k] = (float)-sin(2.0 * M_PI * k / 128.0);
            for (b = 0; b < 8; b++) {
                ec_twv_re[k][b] = ec_tw_re[k];
                ec_twv_im[k][b] = ec_tw_im[k];
            }
        }
        for (s = 64; s >= 2; s >>= 1)
            for (k = 0; k < s / 2; k++) {
                ec_tw64s_re[64 - s + k] = cos(2.0 * M_PI * k / s);
                ec_tw64s_im[64 - s + k] = -sin(2.0 * M_PI * k / s);
            }
        for (k = 0; k <= 64; k++) {
            ec_rot_re[k] = cos(2.0 * M_PI * k / 128.0);
            ec_rot_im[k] = -sin(2.0 * M_PI * k / 128.0);
        }
        for (k = 0; k < 128; k++) {
            for (r = 0, b = 0; b < 7; b++)
                if (k & (1 << b)) r |= 1 << (6 - b);
            ec_rev128[k] = r;
        }
        for (k = 0; k < 64; k++) {
            for (r = 0, b = 0; b < 6; b++)
                if (k & (1 << b)) r |= 1 << (5 - b);
            ec_rev64[k] = r;
        }
    }

    /* Forward 128-point FFTs of eight lanes whose rows 64..127 are zero (rows 0..63 given):
       decimation in frequency, natural order in, bit-reversed order out (row ec_rev128[k]
       holds bin k), unscaled. */
    EC_CLONES static void ec_fft_x8_fwd(ec_v8 *re, ec_v8 *im)
    {
        int s, h, i, k, step;
        ec_v8 ar, ai, br, bi, dr, di;
        ec_v8 wr, wi;
        /* first stage: b = 0, so top = a, bottom = a * w^k */
        for (k = 0; k < 64; k++) {
            wr = ec_twv_re[k];
            wi = ec_twv_im[k];
            ar = re[k];
            ai = im[k];
            re[k + 64] = ar * wr - ai * wi;
            im[k + 64] = ar * wi + ai * wr;
        }
        for (s = 64; s >= 8; s >>= 1) {
            h = s >> 1;
            step = 128 / s;
            for (k = 0; k < h; k++) {
                wr = ec_twv_re[k * step];
                wi = ec_twv_im[k * step];
                for (i = k; i < 128; i += s) {
                    ar = re[i]; ai = im[i];
                    br = re[i + h]; bi = im[i + h];
                    re[i] = ar + br;
                    im[i] = ai + bi;
                    dr = ar - br;
                    di = ai - bi;
                    re[i + h] = dr * wr - di * wi;
                    im[i + h] = dr * wi + di * wr;
                }
            }
        }
        for (i = 0; i < 128; i += 4) {
            /* span 4 (twiddles 1, -i), then span 2: no products */
            ar = re[i]; ai = im[i]; br = re[i + 2]; bi = im[i + 2];
            re[i] = ar + br; im[i] = ai + bi; re[i + 2] = ar - br; im[i + 2] = ai - bi;
            ar = re[i + 1]; ai = im[i + 1]; br = re[i + 3]; bi = im[i + 3];
            re[i + 1] = ar + br; im[i + 1] = ai + bi;
            re[i + 3] = ai - bi; im[i + 3] = br - ar;
            ar = re[i]; ai = im[i]; br = re[i + 1]; bi = im[i + 1];
            re[i] = ar + br; im[i] = ai + bi; re[i + 1] = ar - br; im[i + 1] = ai - bi;
            ar = re[i + 2]; ai = im[i + 2]; br = re[i + 3]; bi = im[i + 3];
            re[i + 2] = ar + br; im[i + 2] = ai + bi; re[i + 3] = ar - br; im[i + 3] = ai - bi;
        }
    }

    /* Inverse 128-point FFTs of eight lanes: bit-reversed order in (bin k in row
       ec_rev128[k]), decimation in time, natural order out; only rows 0..63 of the result are
       computed (the overlap-save gradient keeps those), unscaled. */
    EC_CLONES static void ec_fft_x8_inv_top(ec_v8 *re, ec_v8 *im)
    {
        int s, h, i, k, step;
        ec_v8 ar, ai, tr, ti, br, bi;
        ec_v8 wr, wi;
        for (i = 0; i < 128; i += 4) {
            /* span 2, then span 4 (twiddles 1, +i): no products */
            ar = re[i]; ai = im[i]; br = re[i + 1]; bi = im[i + 1];
            re[i] = ar + br; im[i] = ai + bi; re[i + 1] = ar - br; im[i + 1] = ai - bi;
            ar = re[i + 2]; ai = im[i + 2]; br = re[i + 3]; bi = im[i + 3];
            re[i + 2] = ar + br; im[i + 2] = ai + bi; re[i + 3] = ar - br; im[i + 3] = ai - bi;
            ar = re[i]; ai = im[i]; br = re[i + 2]; bi = im[i + 2];
            re[i] = ar + br; im[i] = ai + bi; re[i + 2] = ar - br; im[i + 2] = ai - bi;
            ar = re[i + 1]; ai = im[i + 1]; tr = -im[i + 3]; ti = re[i + 3];
            re[i + 1] = ar + tr; im[i + 1] = ai + ti;
            re[i + 3] = ar - tr; im[i + 3] = ai - ti;
        }
        for (s = 8; s <= 64; s <<= 1) {
            h = s >> 1;
            step = 128 / s;
            for (k = 0; k < h; k++) {
                wr = ec_twv_re[k * step];
                wi = -ec_twv_im[k * step];
                for (i = k; i < 128; i += s) {
                    tr = re[i + h] * wr - im[i + h] * wi;
                    ti = re[i + h] * wi + im[i + h] * wr;
                    ar = re[i]; ai = im[i];
                    re[i + h] = ar - tr;
                    im[i + h] = ai - ti;
                    re[i] = ar + tr;
                    im[i] = ai + ti;
                }
            }
        }
        for (k = 0; k < 64; k++) {
            wr = ec_twv_re[k];
            wi = -ec_twv_im[k];
            re[k] = re[k] + (re[k + 64] * wr - im[k + 64] * wi);
            im[k] = im[k] + (re[k + 64] * wi + im[k + 64] * wr);
        }
    }

    /* 64-point complex FFT in double, natural order in, bit-reversed out (dir -1), or
       bit-reversed in, natural out (dir +1, conjugate twiddles); unscaled. The twiddles of the
       stage of span s are contiguous (ec_tw64s_*[64 - s + k] = e^{-2 pi i k / s}), so the
       loops over k vectorise; the last two stages (twiddles 1 and -i) have no products. */
    EC_CLONES static void ec_fft64(double *re, double *im, int dir)
    {
        int s, h, j, k;
        double ar, ai, br, bi, tr, ti;
        const double *wr, *wi;
        if (dir < 0) {
            for (s = 64; s >= 8; s >>= 1) {
                h = s >> 1;
                wr = ec_tw64s_re + 64 - s;
                wi = ec_tw64s_im + 64 - s;
                for (j = 0; j < 64; j += s) {
                    for (k = 0; k < h; k += 4) {
                        ec_v4d *r0 = (ec_v4d *)(re + j + k), *i0 = (ec_v4d *)(im + j + k);
                        ec_v4d *r1 = (ec_v4d *)(re + j + h + k);
                        ec_v4d *i1 = (ec_v4d *)(im + j + h + k);
                        ec_v4d vwr = *(const ec_v4d *)(wr + k), vwi = *(const ec_v4d *)(wi + k);
                        ec_v4d var = *r0, vai = *i0, vbr = *r1, vbi = *i1, vdr, vdi;
                        *r0 = var + vbr;
                        *i0 = vai + vbi;
                        vdr = var - vbr;
                        vdi = vai - vbi;
                        *r1 = vdr * vwr - vdi * vwi;
                        *i1 = vdr * vwi + vdi * vwr;
                    }
                }
            }
            for (j = 0; j < 64; j += 4) {
                /* span 4: twiddles 1, -i */
                ar = re[j]; ai = im[j]; br = re[j + 2]; bi = im[j + 2];
                re[j] = ar + br; im[j] = ai + bi; re[j + 2] = ar - br; im[j + 2] = ai - bi;
                ar = re[j + 1]; ai = im[j + 1]; br = re[j + 3]; bi = im[j + 3];
                re[j + 1] = ar + br; im[j + 1] = ai + bi;
                re[j + 3] = ai - bi; im[j + 3] = br - ar;
                /* span 2 */
                ar = re[j]; ai = im[j]; br = re[j + 1]; bi = im[j + 1];
                re[j] = ar + br; im[j] = ai + bi; re[j + 1] = ar - br; im[j + 1] = ai - bi;
                ar = re[j + 2]; ai = im[j + 2]; br = re[j + 3]; bi = im[j + 3];
                re[j + 2] = ar + br; im[j + 2] = ai + bi; re[j + 3] = ar - br; im[j + 3] = ai - bi;
            }
        } else {
            for (j = 0; j < 64; j += 4) {
                /* span 2 */
                ar = re[j]; ai = im[j]; br = re[j + 1]; bi = im[j + 1];
                re[j] = ar + br; im[j] = ai + bi; re[j + 1] = ar - br; im[j + 1] = ai - bi;
                ar = re[j + 2]; ai = im[j + 2]; br = re[j + 3]; bi = im[j + 3];
                re[j + 2] = ar + br; im[j + 2] = ai + bi; re[j + 3] = ar - br; im[j + 3] = ai - bi;
                /* span 4: twiddles 1, +i */
                ar = re[j]; ai = im[j]; br = re[j + 2]; bi = im[j + 2];
                re[j] = ar + br; im[j] = ai + bi; re[j + 2] = ar - br; im[j + 2] = ai - bi;
                ar = re[j + 1]; ai = im[j + 1]; tr = -im[j + 3]; ti = re[j + 3];
                re[j + 1] = ar + tr; im[j + 1] = ai + ti;
                re[j + 3] = ar - tr; im[j + 3] = ai - ti;
            }
            for (s = 8; s <= 64; s <<= 1) {
                h = s >> 1;
                wr = ec_tw64s_re + 64 - s;
                wi = ec_tw64s_im + 64 - s;
                for (j = 0; j < 64; j += s) {
                    for (k = 0; k < h; k += 4) {
                        ec_v4d *r0 = (ec_v4d *)(re + j + k), *i0 = (ec_v4d *)(im + j + k);
                        ec_v4d *r1 = (ec_v4d *)(re + j + h + k);
                        ec_v4d *i1 = (ec_v4d *)(im + j + h + k);
                        ec_v4d vwr = *(const ec_v4d *)(wr + k), vwi = *(const ec_v4d *)(wi + k);
                        ec_v4d vtr = *r1 * vwr + *i1 * vwi;  /* conjugate twiddle */
                        ec_v4d vti = *i1 * vwr - *r1 * vwi;
                        ec_v4d var = *r0, vai = *i0;
                        *r1 = var - vtr;
                        *i1 = vai - vti;
                        *r0 = var + vtr;
                        *i0 = vai + vti;
                    }
                }
            }
        }
    }

    /* Spectrum (bins 0..64) of 128 real samples: one 64-point complex FFT of the even samples
       (real part) and odd samples (imaginary part), then the split. */
    static void ec_rfft128(const double *x, double *out_re, double *out_im)
    {
        double zr[64], zi[64], ar, ai, br, bi, er, ei, or_, oi;
        int n, k, a, b;
        for (n = 0; n < 64; n++) {
            zr[n] = x[2 * n];
            zi[n] = x[2 * n + 1];
        }
        ec_fft64(zr, zi, -1);
        for (k = 0; k <= 64; k++) {
            a = ec_rev64[k & 63];
            b = ec_rev64[(64 - k) & 63];
            ar = zr[a]; ai = zi[a];
            br = zr[b]; bi = -zi[b];  /* conj(Z[64 - k]) */
            er = 0.5 * (ar + br);
            ei = 0.5 * (ai + bi);
            /* O = (Z[k] - conj(Z[64-k])) / 2j */
            or_ = 0.5 * (ai - bi);
            oi = -0.5 * (ar - br);
            out_re[k] = er + ec_rot_re[k] * or_ - ec_rot_im[k] * oi;
            out_im[k] = ei + ec_rot_re[k] * oi + ec_rot_im[k] * or_;
        }
    }

    /* 128 real samples from their spectrum (bins 0..64), scaled by 1/128 (inverse of the
       above). */
    static void ec_irfft128(const double *in_re, const double *in_im, double *x)
    {
        double zr[64], zi[64], ar, ai, br, bi, er, ei, dr, di, or_, oi;
        int n, k, a;
        for (k = 0; k < 64; k++) {
            ar = in_re[k]; ai = in_im[k];
            br = in_re[64 - k]; bi = -in_im[64 - k];
            er = 0.5 * (ar + br);
            ei = 0.5 * (ai + bi);
            dr = 0.5 * (ar - br);
            di = 0.5 * (ai - bi);
            /* O = D * e^{+2 pi i k / 128} */
            or_ = dr * ec_rot_re[k] + di * ec_rot_im[k];
            oi = di * ec_rot_re[k] - dr * ec_rot_im[k];
            a = ec_rev64[k];
            zr[a] = er - oi;  /* Z = E + jO */
            zi[a] = ei + or_;
        }
        ec_fft64(zr, zi, 1);
        for (n = 0; n < 64; n++) {
            x[2 * n] = zr[n] * (1.0 / 64.0);
            x[2 * n + 1] = zi[n] * (1.0 / 64.0);
        }
    }

    static inline double ec_hsum(ec_v8 v)
    {
        return (double)(((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])));
    }

    /* New far-end spectrum in: every partition's spectrum moves one partition older (a -> b in
       the same lane, b -> a in the next lane, across groups), the newest enters partition 0,
       and the one pushed past the tail (partition `parts`) is cleared. */
    EC_CLONES static void ec_push_spectrum(float *xl, int groups, int parts, const double *nre,
                                           const double *nim)
    {
        int g, k, c, q, lane, plane;
        float carry;
        ec_v8 old;
        for (g = groups - 1; g >= 0; g--) {
            float *x = xl + g * EC_XGROUP;
            for (c = 0; c < 2; c++) {  /* re, im */
                float *pa = x + c * 65 * 8, *pb = x + (2 + c) * 65 * 8;
                for (k = 0; k < 65; k++) {
                    if (g > 0)
                        carry = xl[(g - 1) * EC_XGROUP + (2 + c) * 65 * 8 + k * 8 + 7];
                    else
                        carry = (float)(c ? nim[k] : nre[k]);
                    old = *(ec_v8 *)(pb + 8 * k);
                    *(ec_v8 *)(pb + 8 * k) = *(ec_v8 *)(pa + 8 * k);
                    pa[8 * k] = carry;
                    memcpy(pa + 8 * k + 1, &old, 7 * sizeof(float));
                }
            }
        }
        q = parts;
        if (q < groups * 16) {
            g = q / 16;
            lane = (q % 16) / 2;
            plane = (q & 1) ? 2 : 0;
            for (c = 0; c < 2; c++)
                for (k = 0; k < 65; k++)
                    xl[g * EC_XGROUP + (plane + c) * 65 * 8 + k * 8 + lane] = 0.0f;
        }
    }

    /* The background filter's output spectrum Y (bins 0..64) = sum over partitions of
       X_q * W_q; W from the taps by one eight-lane FFT per group (zr, zi: 128 * 8 scratch). */
    EC_CLONES static void ec_bg_spectrum(const float *wl, const float *xl, int groups,
                                         float *zr, float *zi, double *y_re, double *y_im)
    {
        ec_v8 acc_re[65], acc_im[65];
        ec_v8 *vr = (ec_v8 *)zr, *vi = (ec_v8 *)zi;
        ec_v8 r0, r1, i0, i1, war, wai, wbr, wbi;
        const ec_v8 *xar, *xai, *xbr, *xbi;
        int g, k, a, b;
        for (k = 0; k < 65; k++) {
            acc_re[k] = (ec_v8){0};
            acc_im[k] = (ec_v8){0};
        }
        for (g = 0; g < groups; g++) {
            memcpy(zr, wl + g * EC_WGROUP, 64 * 8 * sizeof(float));
            memcpy(zi, wl + g * EC_WGROUP + 64 * 8, 64 * 8 * sizeof(float));
            ec_fft_x8_fwd(vr, vi);
            xar = (const ec_v8 *)(xl + g * EC_XGROUP);
            xai = xar + 65;
            xbr = xar + 130;
            xbi = xar + 195;
            for (k = 0; k <= 64; k++) {
                a = ec_rev128[k];
                b = ec_rev128[(128 - k) & 127];
                r0 = vr[a]; r1 = vr[b];
                i0 = vi[a]; i1 = vi[b];
                /* partition a = real part, b = imaginary part of the transform */
                war = 0.5f * (r0 + r1);
                wai = 0.5f * (i0 - i1);
                wbr = 0.5f * (i0 + i1);
                wbi = 0.5f * (r1 - r0);
                acc_re[k] += xar[k] * war - xai[k] * wai + xbr[k] * wbr - xbi[k] * wbi;
                acc_im[k] += xar[k] * wai + xai[k] * war + xbr[k] * wbi + xbi[k] * wbr;
            }
        }
        for (k = 0; k < 65; k++) {
            y_re[k] = ec_hsum(acc_re[k]);
            y_im[k] = ec_hsum(acc_im[k]);
        }
    }

    /* Per-bin normaliser: sum over partitions of gain_q * |X_q|^2 (part_gain: `parts` values,
       zero-padded to groups * 16). */
    EC_CLONES static void ec_bg_norm(const float *xl, int groups, const float *part_gain,
                                     double *norm)
    {
        ec_v8 acc[65], ga = {0}, gb = {0};
        const ec_v8 *xar, *xai, *xbr, *xbi;
        int g, k, l;
        for (k = 0; k < 65; k++)
            acc[k] = (ec_v8){0};
        for (g = 0; g < groups; g++) {
            for (l = 0; l < 8; l++) {
                ga[l] = part_gain[16 * g + 2 * l];
                gb[l] = part_gain[16 * g + 2 * l + 1];
            }
            xar = (const ec_v8 *)(xl + g * EC_XGROUP);
            xai = xar + 65;
            xbr = xar + 130;
            xbi = xar + 195;
            for (k = 0; k < 65; k++)
                acc[k] += ga * (xar[k] * xar[k] + xai[k] * xai[k])
                          + gb * (xbr[k] * xbr[k] + xbi[k] * xbi[k]);
        }
        for (k = 0; k < 65; k++)
            norm[k] = ec_hsum(acc[k]);
    }

    /* Gradient of every partition (G * conj(X_q), overlap-save constrained: first 64 taps of
       its inverse FFT, two partitions per transform) and the proportionate update
       w += min(cap, base + |w| * scale) * grad / 128. g_re/g_im: the normalised error
       spectrum, bins 0..64. */
    EC_CLONES static void ec_bg_update(float *wl, const float *xl, int groups,
                                       const double *g_re, const double *g_im, float *zr,
                                       float *zi, float base, float scale, float cap)
    {
        ec_v8 *vr = (ec_v8 *)zr, *vi = (ec_v8 *)zi, *w, gain, ar, ai, br, bi;
        ec_v8i lt;
        const ec_v8 *xar, *xai, *xbr, *xbi;
        ec_v8 gr, gi, gv_re[65], gv_im[65];
        int g, k, i, plane;
        const float inv = 1.0f / 128.0f;
        ec_v8 capv = {cap, cap, cap, cap, cap, cap, cap, cap};
        for (k = 0; k <= 64; k++)
            for (i = 0; i < 8; i++) {
                gv_re[k][i] = (float)g_re[k];
                gv_im[k][i] = (float)g_im[k];
            }
        for (g = 0; g < groups; g++) {
            xar = (const ec_v8 *)(xl + g * EC_XGROUP);
            xai = xar + 65;
            xbr = xar + 130;
            xbi = xar + 195;
            for (k = 0; k <= 64; k++) {
                gr = gv_re[k];
                gi = gv_im[k];
                /* A = G conj(Xa), B = G conj(Xb); Z = A + jB, Z[N-k] = conj(A) + j conj(B) */
                ar = gr * xar[k] + gi * xai[k];
                ai = gi * xar[k] - gr * xai[k];
                br = gr * xbr[k] + gi * xbi[k];
                bi = gi * xbr[k] - gr * xbi[k];
                vr[ec_rev128[k]] = ar - bi;
                vi[ec_rev128[k]] = ai + br;
                if (k > 0 && k < 64) {
                    vr[ec_rev128[128 - k]] = ar + bi;
                    vi[ec_rev128[128 - k]] = br - ai;
                }
            }
            ec_fft_x8_inv_top(vr, vi);
            for (plane = 0; plane < 2; plane++) {
                w = (ec_v8 *)(wl + g * EC_WGROUP + plane * 64 * 8);
                for (i = 0; i < 64; i++) {
                    ec_v8 wv = w[i];
                    ec_v8u mag = (ec_v8u)wv & 0x7fffffffu;
                    gain = base + (ec_v8)mag * scale;
                    lt = (ec_v8i)(gain < capv);
                    gain = (ec_v8)((lt & (ec_v8i)gain) | (~lt & (ec_v8i)capv));
                    w[i] = wv + gain * ((plane ? vi[i] : vr[i]) * inv);
                }
            }
        }
    }

    /* Sum of |w| over the background taps, and each partition's largest |w| (part_max,
       groups * 16 values). |w| is taken by clearing the sign bit; for non-negative floats the
       bit patterns order like the values, so the maxima are integer maxima. */
    EC_CLONES static double ec_bg_abs_stats(const float *wl, int groups, float *part_max)
    {
        ec_v8f sum = {0};
        ec_v8u u, mx;
        ec_v8i gt;
        union { unsigned int u; float f; } cvt;
        double total = 0.0;
        int g, plane, i, l;
        for (g = 0; g < groups; g++) {
            for (plane = 0; plane < 2; plane++) {
                const float *w = wl + g * EC_WGROUP + plane * 64 * 8;
                mx = (ec_v8u){0};
                for (i = 0; i < 64; i++) {
                    u = *(const ec_v8u *)(w + 8 * i) & 0x7fffffffu;
                    gt = (ec_v8i)(u > mx);
                    mx = (u & (ec_v8u)gt) | (mx & ~(ec_v8u)gt);
                    sum += (ec_v8f)u;
                }
                for (l = 0; l < 8; l++) {
                    cvt.u = mx[l];
                    part_max[16 * g + 2 * l + plane] = cvt.f;
                }
            }
        }
        for (l = 0; l < 8; l++)
            total += sum[l];
        return total;
    }

    /* Lane layout <-> natural tap order (copies between the two filters). */
    static void ec_lanes_to_taps(const float *wl, int parts, float *w)
    {
        int q, i;
        for (q = 0; q < parts; q++) {
            const float *src = wl + (q / 16) * EC_WGROUP + (q & 1) * 64 * 8 + (q % 16) / 2;
            for (i = 0; i < 64; i++)
                w[q * 64 + i] = src[8 * i];
        }
    }

    static void ec_taps_to_lanes(const float *w, int parts, float *wl)
    {
        int q, i;
        for (q = 0; q < parts; q++) {
            float *dst = wl + (q / 16) * EC_WGROUP + (q & 1) * 64 * 8 + (q % 16) / 2;
            for (i = 0; i < 64; i++)
                dst[8 * i] = w[q * 64 + i];
        }
    }

    /* The foreground's output: dot products of the taps `a` (n, a multiple of 64, possibly 0)
       with the far end from x. ec_dot4 computes four consecutive outputs (x, x + 1, x + 2,
       x + 3) sharing the tap loads; ec_dot one. Both sum in exactly the same order (two
       accumulators of eight lanes each, then the same lane reduction), so an output does not
       depend on which of the two computed it, i.e. on how the signal was cut into blocks. */
    #define EC_REDUCE(s) ((double)(((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]))))
    EC_CLONES static double ec_dot(const float *x, const float *a, int n)
    {
        ec_v8 a0 = {0}, a1 = {0}, s;
        int i;
        for (i = 0; i < n; i += 16) {
            a0 += *(const ec_v8 *)(a + i) * *(const ec_v8 *)(x + i);
            a1 += *(const ec_v8 *)(a + i + 8) * *(const ec_v8 *)(x + i + 8);
        }
        s = a0 + a1;
        return EC_REDUCE(s);
    }

    EC_CLONES static void ec_dot4(const float *x, const float *a, int n, double *out)
    {
        ec_v8 p0 = {0}, p1 = {0}, q0 = {0}, q1 = {0}, r0 = {0}, r1 = {0}, t0 = {0}, t1 = {0};
        ec_v8 w0, w1, s;
        int i;
        for (i = 0; i < n; i += 16) {
            w0 = *(const ec_v8 *)(a + i);
            w1 = *(const ec_v8 *)(a + i + 8);
            p0 += w0 * *(const ec_v8 *)(x + i);
            p1 += w1 * *(const ec_v8 *)(x + i + 8);
            q0 += w0 * *(const ec_v8 *)(x + i + 1);
            q1 += w1 * *(const ec_v8 *)(x + i + 9);
            r0 += w0 * *(const ec_v8 *)(x + i + 2);
            r1 += w1 * *(const ec_v8 *)(x + i + 10);
            t0 += w0 * *(const ec_v8 *)(x + i + 3);
            t1 += w1 * *(const ec_v8 *)(x + i + 11);
        }
        s = p0 + p1; out[0] = EC_REDUCE(s);
        s = q0 + q1; out[1] = EC_REDUCE(s);
        s = r0 + r1; out[2] = EC_REDUCE(s);
        s = t0 + t1; out[3] = EC_REDUCE(s);
    }

    /* Taps in reverse order (the foreground runs over the far end oldest first). */
    static void ec_reverse(const float *w, int n, float *r)
    {
        int i;
        for (i = 0; i < n; i++)
            r[i] = w[n - 1 - i];
    }

    /* |w| maxima per 64-tap partition of the foreground (natural order, for its trim). */
    static void ec_part_max(const float *w, int parts, float *part_max)
    {
        int q, i;
        float m, a;
        for (q = 0; q < parts; q++) {
            m = 0.0f;
            for (i = 0; i < 64; i++) {
                a = fabsf(w[q * 64 + i]);
                m = a > m ? a : m;
            }
            part_max[q] = m;
        }
    }
    """
    void ec_tables() noexcept nogil
    void ec_rfft128(const double *x, double *out_re, double *out_im) noexcept nogil
    void ec_irfft128(const double *in_re, const double *in_im, double *x) noexcept nogil
    void ec_push_spectrum(float *xl, int groups, int parts, const double *nre,
                          const double *nim) noexcept nogil
    void ec_bg_spectrum(const float *wl, const float *xl, int groups, float *zr, float *zi,
                        double *y_re, double *y_im) noexcept nogil
    void ec_bg_norm(const float *xl, int groups, const float *part_gain,
                    double *norm) noexcept nogil
    void ec_bg_update(float *wl, const float *xl, int groups, const double *g_re,
                      const double *g_im, float *zr, float *zi, float base, float scale,
                      float cap) noexcept nogil
    double ec_bg_abs_stats(const float *wl, int groups, float *part_max) noexcept nogil
    void ec_lanes_to_taps(const float *wl, int parts, float *w) noexcept nogil
    void ec_taps_to_lanes(const float *w, int parts, float *wl) noexcept nogil
    double ec_dot(const float *x, const float *a, int n) noexcept nogil
    void ec_dot4(const float *x, const float *a, int n, double *out) noexcept nogil
    void ec_reverse(const float *w, int n, float *r) noexcept nogil
    void ec_part_max(const float *w, int parts, float *part_max) noexcept nogil

DEF FRAME = 64
DEF NFFT = 128
DEF NBIN = 65
DEF WGROUP = 1024  # EC_WGROUP
DEF XGROUP = 2080  # EC_XGROUP
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
cdef double NORM_FLOOR = _ref.NORM_FLOOR
cdef double FAR_ACTIVE_POWER = _ref.FAR_ACTIVE_POWER
cdef double STAT_SMOOTH = _ref.STAT_SMOOTH
cdef double COPY_RATIO = _ref.COPY_RATIO
cdef int COPY_FRAMES = _ref.COPY_FRAMES
cdef double RESET_RATIO = _ref.RESET_RATIO
cdef int RESET_FRAMES = _ref.RESET_FRAMES
cdef int CHANGE_FRAMES = _ref.CHANGE_FRAMES
cdef double CHANGE_RATIO = _ref.CHANGE_RATIO
cdef double DT_STEP = _ref.DT_STEP
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
ec_tables()


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
    cdef int groups  # partitions in groups of 16 (lane layout)
    cdef float *w_fg  # foreground (output) taps, natural order
    cdef float *wl  # background (adapting) taps, lane layout
    cdef float *xl  # far-end spectra of the last `parts` frames, lane layout
    cdef float *w_rev  # the foreground's taps reversed: w_rev[j] = w_fg[taps - 1 - j]
    cdef float *xlin  # far end, oldest first: taps + FRAME; the frame's sample f at taps + f
    cdef double y_seg[FRAME]  # the foreground's output over the current segment
    cdef int fg_lo, fg_len  # the foreground filter's span (taps)
    cdef double *far_frames  # parts + 1, ring
    cdef int far_head
    cdef float *part_gain  # groups * 16 (zero-padded)
    cdef float *part_abs  # groups * 16
    cdef float *br  # eight-lane transforms: [128 rows][8 lanes]
    cdef float *bi
    cdef double win[NFFT]
    cdef double x_re[NBIN]
    cdef double x_im[NBIN]
    cdef double y_re[NBIN]
    cdef double y_im[NBIN]
    cdef double g_re[NBIN]
    cdef double g_im[NBIN]
    cdef double norm[NBIN]
    cdef double e_frame[FRAME]
    cdef double d_frame[FRAME]
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
    cdef int dt_count  # samples of the current frame flagged as double talk
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
        self.groups = (self.parts + 15) // 16
        self.nlp = nlp
        self.comfort_noise = comfort_noise
        self.highpass = highpass
        self.tone_disable = tone_disable
        cdef float[::1] f32
        cdef double[::1] f64
        arrays = {
            "w_fg": np.zeros(taps, np.float32),
            "wl": np.zeros(self.groups * WGROUP, np.float32),
            "xl": np.zeros(self.groups * XGROUP, np.float32),
            "w_rev": np.zeros(taps, np.float32),
            "xlin": np.zeros(taps + FRAME, np.float32),
            "far_frames": np.zeros(self.parts + 1),
            "part_gain": np.zeros(self.groups * 16, np.float32),
            "part_abs": np.zeros(self.groups * 16, np.float32),
            "br": np.zeros(NFFT * 8, np.float32),
            "bi": np.zeros(NFFT * 8, np.float32),
        }
        self._keep = arrays
        f32 = arrays["w_fg"]; self.w_fg = &f32[0]
        f32 = arrays["wl"]; self.wl = &f32[0]
        f32 = arrays["xl"]; self.xl = &f32[0]
        f32 = arrays["w_rev"]; self.w_rev = &f32[0]
        f32 = arrays["xlin"]; self.xlin = &f32[0]
        f64 = arrays["far_frames"]; self.far_frames = &f64[0]
        f32 = arrays["part_gain"]; self.part_gain = &f32[0]
        f32 = arrays["part_abs"]; self.part_abs = &f32[0]
        f32 = arrays["br"]; self.br = &f32[0]
        f32 = arrays["bi"]; self.bi = &f32[0]
        self.reset()

    def reset(self):
        for arr in self._keep.values():
            arr[:] = 0
        self.fg_lo = self.fg_len = 0
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
        self.dt_count = 0
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
        cdef Py_ssize_t i = 0, seg, k
        cdef int t = self.taps, f0, j0
        cdef double xr, dr, x, d, e_fg
        cdef float *xs
        while i < n:
            # a segment: up to the end of the current frame (the foreground is fixed within it)
            seg = FRAME - self.fill
            if seg > n - i:
                seg = n - i
            f0 = self.fill
            for k in range(seg):
                xr = far[i + k]
                dr = near[i + k]
                if self.highpass:
                    x = HPF_GAIN * xr + self.hpf_x
                    self.hpf_x = -HPF_GAIN * xr + HPF_POLE * x
                    d = HPF_GAIN * dr + self.hpf_d
                    self.hpf_d = -HPF_GAIN * dr + HPF_POLE * d
                else:
                    x = xr
                    d = dr
                self.xlin[t + f0 + k] = <float>x
                self.d_frame[f0 + k] = d  # the background's output is computed per frame
                self.x_frame_energy += x * x
                self.d_energy += d * d
            # foreground output: y(f) = sum over j of w_rev[j] * xlin[f + 1 + j], over its span
            j0 = t - self.fg_lo - self.fg_len
            xs = self.xlin + f0 + 1 + j0
            k = 0
            while k + 4 <= seg:
                ec_dot4(xs + k, self.w_rev + j0, self.fg_len, &self.y_seg[k])
                k += 4
            while k < seg:
                self.y_seg[k] = ec_dot(xs + k, self.w_rev + j0, self.fg_len)
                k += 1
            for k in range(seg):
                e_fg = self.d_frame[f0 + k] - self.y_seg[k]
                self.ef_energy += e_fg * e_fg
                out[i + k] = self._sample(far[i + k], near[i + k], e_fg, self.y_seg[k],
                                          near[i + k])
            i += seg
            self.fill += seg
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
        self.dt_count += self.dt
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
        ec_part_max(self.w_fg, p, self.part_abs)
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
        """The background filter's error over the frame (into e_frame, its spectrum into
        g_re/g_im), by overlap-save: Y = sum over partitions of X_q * W_q."""
        cdef int i
        cdef double y, e, energy = 0.0
        ec_bg_spectrum(self.wl, self.xl, self.groups, self.br, self.bi, self.y_re, self.y_im)
        ec_irfft128(self.y_re, self.y_im, self.win)
        for i in range(FRAME):
            y = self.win[FRAME + i]
            e = self.d_frame[i] - y
            self.e_frame[i] = e
            energy += e * e
        # error spectrum (of [0, e]) for the update
        for i in range(FRAME):
            self.win[i] = 0.0
            self.win[FRAME + i] = self.e_frame[i]
        ec_rfft128(self.win, self.g_re, self.g_im)
        return energy

    cdef void _frame(self) noexcept nogil:
        cdef int p = self.parts, t = self.taps
        cdef int i, k, q, dt_count
        cdef double far_max, d_e, ef_e, eb_e, pe_frame, mag, total, gbase, scale
        cdef double inv, mu, ratio, reg
        # newest far-end window (last NFFT samples, oldest first)
        for i in range(NFFT):
            self.win[i] = self.xlin[t + FRAME - NFFT + i]
        memmove(self.xlin, self.xlin + FRAME, t * sizeof(float))
        ec_rfft128(self.win, self.x_re, self.x_im)
        ec_push_spectrum(self.xl, self.groups, p, self.x_re, self.x_im)
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
        dt_count = self.dt_count
        self.dt_count = 0
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
                ec_lanes_to_taps(self.wl, p, self.w_fg)
                self._trim_foreground()
                ec_reverse(self.w_fg, t, self.w_rev)
                self.efs = self.ebs
                self.better = 0
                self.copies += 1
        else:
            self.better = 0
        if self.ebs > RESET_RATIO * self.efs and self.ebs > self.ds:
            self.worse += 1
            if self.worse >= RESET_FRAMES:
                ec_taps_to_lanes(self.w_fg, p, self.wl)
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
                memset(self.wl, 0, self.groups * WGROUP * sizeof(float))
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
        total = ec_bg_abs_stats(self.wl, self.groups, self.part_abs)
        scale = (1.0 + PROP_ALPHA) * t / (2.0 * total + 1e-6)
        gbase = (1.0 - PROP_ALPHA) / 2.0
        for q in range(p):
            mag = gbase + self.part_abs[q] * scale
            self.part_gain[q] = <float>(mag if mag < GAIN_CAP else GAIN_CAP)
        ec_bg_norm(self.xl, self.groups, self.part_gain, self.norm)
        # variable step: full until the background removes 16.5 dB, then down to VSS_MIN * MU;
        # DT_STEP of that in a frame with double talk
        mu = MU
        if self.ds > 0.0:
            ratio = sqrt(self.ebs / self.ds) / VSS_KNEE
            if ratio < 1.0:
                mu = MU * (ratio if ratio > VSS_MIN else VSS_MIN)
        if dt_count:
            mu *= DT_STEP
        # regulariser: a fixed floor plus a share of the mean normaliser, so that bins where the
        # far end is weak do not amplify line noise into the taps
        reg = 0.0
        for k in range(NBIN):
            reg += self.norm[k]
        reg = DELTA_POWER + NORM_FLOOR * reg / NBIN
        for k in range(NBIN):
            inv = (mu * NFFT / FRAME) / (self.norm[k] + reg)
            self.g_re[k] *= inv
            self.g_im[k] *= inv
        ec_bg_update(self.wl, self.xl, self.groups, self.g_re, self.g_im, self.br, self.bi,
                     <float>gbase, <float>scale, <float>GAIN_CAP)
