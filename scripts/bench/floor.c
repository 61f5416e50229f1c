/* floor.c — the cheapest possible paced generator, the yardstick for
 * holdmix's per-call cost: keeps one 40 ms frame (640 bytes of 8 kHz slin)
 * queued, then sleeps to absolute deadlines start + n*40 ms and writes 640
 * bytes of zeros to stdout at each. Dies on SIGHUP/SIGPIPE (default actions).
 * Build: cc -O2 -o floor floor.c */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FRAME 640
#define PERIOD_NS 40000000L

static int write_all(const char *b, size_t n) {
    while (n > 0) {
        ssize_t r = write(1, b, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

int main(void) {
    static char zeros[FRAME];
    struct timespec start, t;
    memset(zeros, 0, sizeof zeros);
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (write_all(zeros, FRAME) != 0) return 1; /* one read's worth of lead */
    for (unsigned long n = 1;; n++) {
        long long ns = (long long)start.tv_nsec + (long long)n * PERIOD_NS;
        t.tv_sec = start.tv_sec + (time_t)(ns / 1000000000LL);
        t.tv_nsec = (long)(ns % 1000000000LL);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
        if (write_all(zeros, FRAME) != 0) return 1;
    }
}
