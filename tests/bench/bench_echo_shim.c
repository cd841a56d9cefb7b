/* Block loops around the anchors' echo cancellers for tests/bench/bench_echo.py, so that
 * speexdsp and spandsp are timed without a Python call per frame or per sample (which favours
 * them: callbox's kernel is timed through its Python API, one call per 20 ms block).
 * Built by bench_echo.py with: cc -O2 -shared -fPIC bench_echo_shim.c -lspandsp -lspeexdsp */
#include <stdint.h>
#include <spandsp.h>
#include <speex/speex_echo.h>

/* spandsp: one call per sample; tx = sent to the line (far), rx = received (near). */
void bench_spandsp(echo_can_state_t *ec, const int16_t *tx, const int16_t *rx, int16_t *out,
                   int n)
{
    for (int i = 0; i < n; i++)
        out[i] = echo_can_update(ec, tx[i], rx[i]);
}

/* speexdsp: one call per frame; rec = microphone (near), play = loudspeaker (far). */
void bench_speex(SpeexEchoState *st, const int16_t *rec, const int16_t *play, int16_t *out,
                 int n, int frame)
{
    for (int i = 0; i + frame <= n; i += frame)
        speex_echo_cancellation(st, rec + i, play + i, out + i);
}
