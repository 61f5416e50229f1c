/* reader.c (soak) — reads stdin the way Asterisk's res_musiconhold reads a
 * custom class: every 40 ms (absolute deadlines) one blocking read() of
 * exactly 640 bytes, a short read being one Asterisk throws away. Unlike
 * scripts/bench/reader.c it reports as it goes, for hours.
 * Usage: reader seconds(0 = until EOF) bytes period_ms stats_file interval_s
 * Every interval it appends one line of running totals to stats_file:
 *   t=S reads=N short=N underrun=N blocked=N max_block_ms=X eof=0|1
 * underrun = reads that found less than one full read queued (FIONREAD);
 * blocked = reads that waited over 10 ms for the generator (a gap the caller
 * would hear); max_block_ms = the longest such wait. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double since(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: reader seconds bytes period_ms stats_file interval_s\n");
        return 2;
    }
    double secs = atof(argv[1]);
    int want = atoi(argv[2]);
    long period_ns = atol(argv[3]) * 1000000L;
    const char *stats = argv[4];
    double interval_s = atof(argv[5]);
    static char buf[65536];
    if (want <= 0 || want > (int)sizeof buf) want = 640;
    if (period_ns <= 0) period_ns = 40000000L;
    if (interval_s <= 0) interval_s = 10;
    long reads = 0, shorts = 0, underruns = 0, blocked = 0;
    double max_block = 0, next_report = interval_s;
    int eof = 0;
    struct timespec start, t, before, after;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long limit = secs > 0 ? (long)(secs * 1e9 / period_ns) : -1;
    for (long n = 1; limit < 0 || n <= limit; n++) {
        long long ns = (long long)start.tv_nsec + (long long)n * period_ns;
        t.tv_sec = start.tv_sec + (time_t)(ns / 1000000000LL);
        t.tv_nsec = (long)(ns % 1000000000LL);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
        int q = 0;
        if (ioctl(0, FIONREAD, &q) != 0) q = -1;
        clock_gettime(CLOCK_MONOTONIC, &before);
        ssize_t r;
        do r = read(0, buf, (size_t)want); while (r < 0 && errno == EINTR);
        clock_gettime(CLOCK_MONOTONIC, &after);
        if (r <= 0) { eof = 1; break; }
        reads++;
        if (r < want) shorts++;
        if (q >= 0 && q < want) underruns++;
        double waited = since(&before, &after);
        if (waited > 10.0) blocked++;
        if (waited > max_block) max_block = waited;
        double elapsed = since(&start, &after) / 1e3;
        if (elapsed >= next_report) {
            FILE *f = fopen(stats, "a");
            if (f) {
                fprintf(f, "t=%.0f reads=%ld short=%ld underrun=%ld blocked=%ld max_block_ms=%.1f eof=0\n",
                        elapsed, reads, shorts, underruns, blocked, max_block);
                fclose(f);
            }
            next_report += interval_s;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &after);
    FILE *f = fopen(stats, "a");
    if (f) {
        fprintf(f, "t=%.0f reads=%ld short=%ld underrun=%ld blocked=%ld max_block_ms=%.1f eof=%d\n",
                since(&start, &after) / 1e3, reads, shorts, underruns, blocked, max_block, eof);
        fclose(f);
    }
    return 0;
}
