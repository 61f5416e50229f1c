/* loadreader.c — many Asterisk-like readers in one process, for
 * scripts/bench/load.py. Every pipe handed to it is read the way Asterisk's
 * res_musiconhold reads a custom class: 640 bytes every 40 ms on absolute
 * deadlines, non-blocking, a read returning less than 640 bytes counted as
 * short (Asterisk would drop it). One process and one timer for every call,
 * so that 1000 readers do not cost 1000 processes beside the generators
 * being measured: the deadlines sit on a wheel of 1 ms slots (each call's
 * phase is the millisecond its first byte arrived; Asterisk's own timing is
 * no finer than that) and a timerfd wakes the loop at the next busy slot.
 *
 * Control: a SOCK_SEQPACKET Unix socket (argv[1]); each message one command:
 *   ADD <id> <spawn_ns>      with one fd (SCM_RIGHTS): a generator's stdout
 *   ARM <id> <key_ns>        a key was sent at key_ns: report when the first
 *                            changed sample (|x[n]-x[n-1]| > threshold) is
 *                            read, placed within its frame
 *   RESET                    zero the counters of the measuring window
 *   STATS <path>             write the stats to path, answer "OK"
 *   QUIT                     exit
 * Times are CLOCK_MONOTONIC ns (Python's time.monotonic_ns()).
 * Stats file: "call <id> first_ns <ns|-1> reads <n> short <n> empty <n> eof <0|1>
 * gap_ms <n>" per call (gap: the longest audio missing at the reader in a row
 * since RESET, the bytes short of 640 at consecutive short reads / 16), "key <id> <latency_ns>" per key answered, and
 * "lead <ms> <count>" per lead value (audio queued before each read).
 * Build: cc -O2 -o loadreader loadreader.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FRAME 640
#define PERIOD_MS 40
#define MAXCALLS 8192
#define LEADMAX 2000 /* ms; above is counted at LEADMAX */
#define THRESH 3000  /* first difference that is the key's answer, not the music */
#define MAXKEYS 100000

typedef struct {
    int fd, id, active, first_seen, eof, armed;
    int64_t spawn_ns, first_ns, key_ns;
    long reads, shorts, empty;
    long missing, gap; /* bytes missing in the current run of short reads; the longest run */
    int16_t last;
} Call;

static Call calls[MAXCALLS];
static int ncalls;
/* The wheel: slot s holds the calls read at ms ≡ s (mod 40). */
static int *slot[PERIOD_MS];
static int slot_n[PERIOD_MS], slot_cap[PERIOD_MS];
static long lead_hist[LEADMAX + 1];
static int key_id[MAXKEYS];
static int64_t key_lat[MAXKEYS];
static int nkeys;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void slot_add(int s, int c) {
    if (slot_n[s] == slot_cap[s]) {
        slot_cap[s] = slot_cap[s] ? slot_cap[s] * 2 : 64;
        slot[s] = realloc(slot[s], sizeof(int) * (size_t)slot_cap[s]);
        if (!slot[s]) { perror("realloc"); exit(1); }
    }
    slot[s][slot_n[s]++] = c;
}

static void read_one(int c, int64_t t) {
    Call *k = &calls[c];
    static unsigned char buf[FRAME];
    int q = 0;
    if (ioctl(k->fd, FIONREAD, &q) == 0) {
        int ms = q / 16; /* bytes per ms of 8 kHz slin */
        lead_hist[ms > LEADMAX ? LEADMAX : ms]++;
    }
    ssize_t r;
    do r = read(k->fd, buf, FRAME); while (r < 0 && errno == EINTR);
    if (r == 0) { k->eof = 1; k->active = 0; close(k->fd); k->fd = -1; return; }
    k->reads++;
    if (r < 0) r = 0, k->empty++;
    if (r < FRAME) {
        k->shorts++;
        k->missing += FRAME - r;
        if (k->missing > k->gap) k->gap = k->missing;
    } else {
        k->missing = 0;
    }
    if (r == 0) return;
    if (k->armed && t >= k->key_ns) {
        for (ssize_t i = 0; i + 1 < r; i += 2) {
            int16_t x = (int16_t)(buf[i] | (buf[i + 1] << 8));
            int d = (int)x - (int)k->last;
            k->last = x;
            if (d > THRESH || d < -THRESH) {
                if (nkeys < MAXKEYS) {
                    key_id[nkeys] = k->id;
                    key_lat[nkeys++] = t + (int64_t)(i / 2) * 125000 - k->key_ns;
                }
                k->armed = 0;
                break;
            }
        }
    }
    if (r >= 2) k->last = (int16_t)(buf[r - 2] | (buf[r - 1] << 8));
}

static int find(int id) {
    for (int c = 0; c < ncalls; c++)
        if (calls[c].id == id) return c;
    return -1;
}

static void write_stats(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int c = 0; c < ncalls; c++) {
        Call *k = &calls[c];
        fprintf(f, "call %d first_ns %lld reads %ld short %ld empty %ld eof %d gap_ms %ld\n", k->id,
                k->first_seen ? (long long)(k->first_ns - k->spawn_ns) : -1LL, k->reads, k->shorts,
                k->empty, k->eof, k->gap / 16);
    }
    for (int i = 0; i < nkeys; i++) fprintf(f, "key %d %lld\n", key_id[i], (long long)key_lat[i]);
    for (int i = 0; i <= LEADMAX; i++)
        if (lead_hist[i]) fprintf(f, "lead %d %ld\n", i, lead_hist[i]);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: loadreader SOCKET\n"); return 2; }
    int ctl = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    unlink(argv[1]);
    if (ctl < 0 || bind(ctl, (struct sockaddr *)&a, sizeof a) || listen(ctl, 1)) { perror("control"); return 1; }
    int conn = accept4(ctl, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) { perror("accept"); return 1; }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)-1};
    epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev);
    ev.data.u64 = (uint64_t)-2;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    int64_t base = now_ns() / 1000000 * 1000000; /* ms grid */
    int64_t next_ms = (now_ns() - base) / 1000000 + 1; /* next slot to serve */
    for (;;) {
        /* Serve every slot whose time has come, then sleep to the next busy one. */
        int64_t t = now_ns();
        /* Late by more than a period (a stalled loop): each slot once, not twice. */
        if ((t - base) / 1000000 - next_ms >= PERIOD_MS) next_ms = (t - base) / 1000000 - PERIOD_MS + 1;
        while (base + next_ms * 1000000 <= t) {
            int s = (int)(next_ms % PERIOD_MS);
            int w = 0;
            for (int j = 0; j < slot_n[s]; j++) {
                int c = slot[s][j];
                if (!calls[c].active) continue;
                read_one(c, t);
                if (calls[c].active) slot[s][w++] = c;
            }
            slot_n[s] = w;
            next_ms++;
        }
        int64_t wake = -1;
        for (int d = 0; d < PERIOD_MS; d++)
            if (slot_n[(next_ms + d) % PERIOD_MS]) { wake = next_ms + d; break; }
        struct itimerspec its = {0};
        if (wake >= 0) {
            int64_t at = base + wake * 1000000;
            its.it_value.tv_sec = at / 1000000000LL;
            its.it_value.tv_nsec = at % 1000000000LL;
        }
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, wake >= 0 ? -1 : 1000);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        if (wake < 0) next_ms = (now_ns() - base) / 1000000 + 1;
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == (uint64_t)-2) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0) {}
                continue;
            }
            if (tag != (uint64_t)-1) {
                /* A new call's first byte: its phase from now on. */
                int c = (int)tag;
                int64_t t1 = now_ns();
                if (!(evs[i].events & EPOLLIN)) {
                    /* Closed before writing anything. */
                    epoll_ctl(ep, EPOLL_CTL_DEL, calls[c].fd, NULL);
                    close(calls[c].fd);
                    calls[c].fd = -1;
                    calls[c].active = 0;
                    calls[c].eof = 1;
                    continue;
                }
                calls[c].first_ns = t1;
                calls[c].first_seen = 1;
                epoll_ctl(ep, EPOLL_CTL_DEL, calls[c].fd, NULL);
                int64_t ms = (t1 - base) / 1000000 + 1;
                if (ms < next_ms) ms = next_ms;
                slot_add((int)(ms % PERIOD_MS), c);
                continue;
            }
            char msg[512];
            char cbuf[CMSG_SPACE(sizeof(int))];
            struct iovec iov = {msg, sizeof msg - 1};
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                .msg_controllen = sizeof cbuf};
            ssize_t r = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
            if (r <= 0) return 0; /* load.py went away */
            msg[r] = 0;
            int fd = -1;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
            int id;
            long long v;
            char path[400];
            if (sscanf(msg, "ADD %d %lld", &id, &v) == 2 && fd >= 0 && ncalls < MAXCALLS) {
                Call *k = &calls[ncalls];
                memset(k, 0, sizeof *k);
                k->fd = fd;
                k->id = id;
                k->active = 1;
                k->spawn_ns = v;
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)ncalls};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                ncalls++;
            } else if (sscanf(msg, "ARM %d %lld", &id, &v) == 2) {
                int c = find(id);
                if (c >= 0) { calls[c].armed = 1; calls[c].key_ns = v; }
            } else if (strncmp(msg, "RESET", 5) == 0) {
                memset(lead_hist, 0, sizeof lead_hist);
                nkeys = 0;
                for (int c = 0; c < ncalls; c++)
                    calls[c].reads = calls[c].shorts = calls[c].empty = calls[c].missing = calls[c].gap = 0;
            } else if (sscanf(msg, "STATS %399s", path) == 1) {
                write_stats(path);
                if (send(conn, "OK", 2, 0) < 0) return 1;
            } else if (strncmp(msg, "QUIT", 4) == 0) {
                return 0;
            } else if (fd >= 0) {
                close(fd);
            }
        }
    }
}
