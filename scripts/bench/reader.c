/* reader.c — reads stdin the way Asterisk's res_musiconhold reads a custom
 * class: every 40 ms (absolute deadlines) one blocking read() of exactly
 * 640 bytes; a read returning fewer bytes would be discarded by Asterisk.
 * Usage: reader [seconds (0 = until EOF)] [bytes] [period_ms] [stats_file]
 * Writes one stats line at the end (to stats_file, else stderr):
 *   reads=N short=N underrun=N lead_med_ms=X lead_max_ms=X eof=0|1
 * underrun = reads that found less than one full read queued (FIONREAD);
 * lead = audio queued in the pipe just before each read, in ms of slin. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAXS 100000

static int cmp(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 0;
    int want = argc > 2 ? atoi(argv[2]) : 640;
    long period_ns = (argc > 3 ? atol(argv[3]) : 40) * 1000000L;
    const char *stats = argc > 4 ? argv[4] : NULL;
    static char buf[65536];
    static int queued[MAXS];
    if (want <= 0 || want > (int)sizeof buf) want = 640;
    long reads = 0, shorts = 0, underruns = 0, nq = 0;
    int eof = 0;
    struct timespec start, t;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long limit = secs > 0 ? (long)(secs * 1e9 / period_ns) : -1;
    for (long n = 1; limit < 0 || n <= limit; n++) {
        long long ns = (long long)start.tv_nsec + (long long)n * period_ns;
        t.tv_sec = start.tv_sec + (time_t)(ns / 1000000000LL);
        t.tv_nsec = (long)(ns % 1000000000LL);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
        int q = 0;
        if (ioctl(0, FIONREAD, &q) != 0) q = -1;
        ssize_t r;
        do r = read(0, buf, (size_t)want); while (r < 0 && errno == EINTR);
        if (r <= 0) { eof = 1; break; }
        reads++;
        if (r < want) shorts++;
        if (q >= 0) {
            if (q < want) underruns++;
            if (nq < MAXS) queued[nq++] = q;
        }
    }
    qsort(queued, (size_t)nq, sizeof queued[0], cmp);
    double per_ms = 16.0; /* bytes per ms of 8 kHz slin */
    FILE *f = stats ? fopen(stats, "w") : NULL;
    if (!f) f = stderr;
    fprintf(f, "reads=%ld short=%ld underrun=%ld lead_med_ms=%.0f lead_max_ms=%.0f eof=%d\n",
            reads, shorts, underruns, nq ? queued[nq / 2] / per_ms : 0.0,
            nq ? queued[nq - 1] / per_ms : 0.0, eof);
    if (f != stderr) fclose(f);
    return 0;
}
