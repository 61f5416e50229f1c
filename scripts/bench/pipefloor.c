/* pipefloor.c — what any hub must spend per held call, whatever else it
 * does: one process writes 640 bytes (40 ms of 8 kHz slin) into each of N
 * pipes every 40 ms, as a hub keeping every call's lead does, while a
 * forked reader takes 640 bytes from each pipe every 40 ms, as Asterisk
 * does. No rendering, no bookkeeping: the writes alone. It prints the
 * writer process's CPU (user + system, its io_uring workers included) per
 * write and per call, in % of one core, against the 0.005 %.
 *
 * Usage: pipefloor MODE [PIPES] [SECONDS]
 *   MODE: write     one write(2) per pipe (what the hub does)
 *         fionread  FIONREAD then write(2) (the hub measures its pipe so)
 *         uring     one io_uring submission of every pipe's write a tick
 * Build: cc -O2 -o pipefloor pipefloor.c (Linux headers only; no liburing:
 * the rings are set up with the raw system calls, below). docs/hub-audio.md
 * ("The floor") has the figures and how they were taken. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME 640
#define PERIOD_NS 40000000LL
#define WARMUP_TICKS 50

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_until(long long ns) {
    struct timespec t = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
    }
}

static long long cpu_ns(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return ((long long)r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000000LL +
           ((long long)r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1000LL;
}

/* The reader: every 40 ms, 640 bytes from each pipe, non-blocking; short
 * reads counted and printed at SIGTERM. */
static volatile sig_atomic_t done;
static void on_term(int s) { (void)s; done = 1; }

static void reader(int *rd, int n, long long start) {
    static char buf[FRAME];
    long long short_reads = 0, reads = 0;
    signal(SIGTERM, on_term);
    for (long long k = 1; !done; k++) {
        sleep_until(start + k * PERIOD_NS + PERIOD_NS / 2);
        for (int i = 0; i < n; i++) {
            ssize_t r = read(rd[i], buf, FRAME);
            reads++;
            if (r != FRAME) short_reads++;
        }
    }
    fprintf(stderr, "reader: %lld short reads of %lld\n", short_reads, reads);
    _exit(0);
}

/* io_uring, with the raw system calls: one ring, every pipe's write as one
 * submission a tick, every completion reaped before the next. */
struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

static int ring_init(struct ring *r, unsigned entries) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    r->fd = (int)syscall(SYS_io_uring_setup, entries, &p);
    if (r->fd < 0) return -1;
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) return -1;
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

/* Writes `buf` to each of `n` fds in one submission; the number of writes
 * that did not write it whole. */
static int ring_write_all(struct ring *r, const int *fds, int n, const char *buf) {
    unsigned tail = *r->sq_tail;
    for (int i = 0; i < n; i++) {
        unsigned at = tail & *r->sq_mask;
        struct io_uring_sqe *e = &r->sqes[at];
        memset(e, 0, sizeof *e);
        e->opcode = IORING_OP_WRITE;
        e->fd = fds[i];
        e->addr = (unsigned long long)(uintptr_t)buf;
        e->len = FRAME;
        e->off = (unsigned long long)-1; /* the file's position: a pipe has none */
        e->user_data = (unsigned long long)i;
        r->sq_array[at] = at;
        tail++;
    }
    __atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
    int left = n, bad = 0;
    while (left > 0) {
        int k = (int)syscall(SYS_io_uring_enter, r->fd, tail - *r->sq_head, left, IORING_ENTER_GETEVENTS, NULL, 0);
        if (k < 0 && errno != EINTR) return n;
        unsigned head = *r->cq_head;
        unsigned ctail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
        for (; head != ctail; head++, left--) {
            if (r->cqes[head & *r->cq_mask].res != FRAME) bad++;
        }
        __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    }
    return bad;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "write";
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    int seconds = argc > 3 ? atoi(argv[3]) : 20;
    int use_ring = !strcmp(mode, "uring"), fionread = !strcmp(mode, "fionread");
    if ((!use_ring && !fionread && strcmp(mode, "write")) || n < 1 || seconds < 1) {
        fprintf(stderr, "usage: pipefloor write|fionread|uring [PIPES] [SECONDS]\n");
        return 2;
    }
    struct rlimit lim = {.rlim_cur = 2 * (rlim_t)n + 64, .rlim_max = 2 * (rlim_t)n + 64};
    setrlimit(RLIMIT_NOFILE, &lim);
    int *rd = calloc((size_t)n, sizeof(int)), *wr = calloc((size_t)n, sizeof(int));
    static char frame[FRAME];
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
            perror("pipe2");
            return 1;
        }
        rd[i] = p[0];
        wr[i] = p[1];
        /* The lead a hub keeps at its deadline: 60 ms, then 40 ms a tick. */
        for (int k = 0; k < 3; k++) (void)!write(wr[i], frame, FRAME / 2);
    }
    long long start = now_ns();
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < n; i++) close(wr[i]);
        reader(rd, n, start);
    }
    for (int i = 0; i < n; i++) close(rd[i]);
    struct ring ring = {0};
    if (use_ring && ring_init(&ring, (unsigned)n) != 0) {
        perror("io_uring_setup");
        return 1;
    }
    long long cpu0 = 0, t0 = 0, failed = 0;
    int ticks = seconds * 25;
    for (int k = 1; k <= WARMUP_TICKS + ticks; k++) {
        if (k == WARMUP_TICKS + 1) {
            cpu0 = cpu_ns();
            t0 = now_ns();
        }
        sleep_until(start + k * PERIOD_NS);
        if (use_ring) {
            failed += ring_write_all(&ring, wr, n, frame);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (fionread) {
                int queued = 0;
                ioctl(wr[i], FIONREAD, &queued);
            }
            if (write(wr[i], frame, FRAME) != FRAME) failed++;
        }
    }
    long long cpu = cpu_ns() - cpu0, wall = now_ns() - t0;
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    double per_write_us = (double)cpu / 1000.0 / ((double)ticks * n);
    double pct_call = 100.0 * (double)cpu / (double)wall / n;
    printf("%s: %d pipes, %d s: %.2f us a write, %.4f %% of a core a call (writes not whole: %lld)\n", mode, n,
           seconds, per_write_us, pct_call, failed);
    return 0;
}
