/* Times spandsp's dtmf_rx over a raw int16 file, block by block, in CPU seconds.
 * Built by bench_dtmf.py with gcc against Debian's libspandsp (libspandsp-dev).
 * usage: spandsp_dtmf_rx_bench FILE.raw BLOCK REPEATS  ->  "<cpu seconds> <digits per pass>" */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <spandsp.h>

static long digits_heard = 0;

static void count_digits(void *user_data, const char *digits, int len)
{
    (void) user_data;
    (void) digits;
    digits_heard += len;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE.raw BLOCK REPEATS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f) / 2;
    fseek(f, 0, SEEK_SET);
    int16_t *x = malloc(n * sizeof(int16_t));
    if (!x || fread(x, 2, n, f) != (size_t) n) {
        fprintf(stderr, "%s: short read\n", argv[1]);
        return 1;
    }
    fclose(f);
    int block = atoi(argv[2]), repeats = atoi(argv[3]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    for (int r = 0; r < repeats; r++) {
        dtmf_rx_state_t *s = dtmf_rx_init(NULL, count_digits, NULL);
        for (long i = 0; i < n; i += block) {
            int len = (n - i < block) ? (int) (n - i) : block;
            dtmf_rx(s, x + i, len);
        }
        dtmf_rx_free(s);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    printf("%.6f %ld\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9,
           digits_heard / repeats);
    free(x);
    return 0;
}
