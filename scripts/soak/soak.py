#!/usr/bin/env python3
"""Soak for holdmix (see scripts/soak.sh for how it is run).

Two parts:

1. Live calls: N real `holdmix run` processes, each read by reader.c the way
   Asterisk reads (640 bytes every 40 ms), each sent random events on its
   stdin (keys, queue positions, playlist reloads) for the given time. Every
   interval it prints one row: the calls alive, their private resident
   memory (RssAnon: median and max; the cache is mmap'ed and shared, shown
   apart as mapped), open fds and threads (max), and the readers' running
   totals of short reads, underruns and reads that had to wait for the
   generator (gaps a caller would hear).
2. Stream time: `holdmix render` of many hours of one call with random
   events, its resident memory sampled as it runs: memory must stay flat.

Every child it starts is tracked and ended on the way out. Exit status 1 if
anything looked wrong (a short read, a gap, a generator that died, memory or
fds that grew).
"""
import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time

# The bench's child tracking: every process started is ended on the way out.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from measure import reap_all, spawn  # noqa: E402

KEYS = "123456789*#0"


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except (FileNotFoundError, ProcessLookupError):
        return None


def last_stats(path):
    """The reader's last running-totals line, as a dict of numbers."""
    try:
        with open(path) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return {}
    lines = [l for l in lines if l.strip()]
    if not lines:
        return {}
    return {k: float(v) for k, v in (w.split("=") for w in lines[-1].split())}


def random_event(rng):
    r = rng.random()
    if r < 0.6:
        return f"dtmf {rng.choice(KEYS)}"
    if r < 0.95:
        return f"position {rng.randint(1, 30)}"
    return "reload"


def feed_events(p, rng, per_minute, stop):
    """Random events on the call's stdin, a Poisson process."""
    rate = per_minute / 60.0
    while not stop.is_set():
        if stop.wait(rng.expovariate(rate)):
            break
        try:
            p.stdin.write((random_event(rng) + "\n").encode())
            p.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            break


def live_calls(a):
    work = a.work
    os.makedirs(os.path.join(work, "state"), exist_ok=True)
    rng = random.Random(a.seed)
    stop = threading.Event()
    calls = []
    for i in range(a.calls):
        argv = [
            a.holdmix, "--cache-dir", a.cache, "--log", os.path.join(work, f"call{i}.log"),
            "run", "--playlist", a.playlist, "--events", "-",
            "--uniqueid", f"1795734400.{i}", "--state-dir", os.path.join(work, "state"),
        ]
        hm = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        stats = os.path.join(work, f"reader{i}.stats")
        rd = spawn([a.reader, "0", "640", "40", stats, str(a.interval)], stdin=hm.stdout)
        hm.stdout.close()  # the reader holds the pipe now
        t = threading.Thread(
            target=feed_events, args=(hm, random.Random(rng.random()), a.events_per_minute, stop), daemon=True
        )
        t.start()
        calls.append((hm, rd, stats))
        # Spread the starts, as calls arrive.
        time.sleep(rng.uniform(0, 0.2))

    print(f"## Live calls: {a.calls} × `holdmix run`, {a.seconds:.0f} s, "
          f"{a.events_per_minute:g} random events per call per minute\n")
    print("| t (s) | alive | private RSS median (KiB) | private RSS max (KiB) | mapped max (KiB) "
          "| fds max | threads max "
          "| short reads | underruns | waits > 10 ms | longest wait (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    first_rss, last_rss, first_fds, last_fds = {}, {}, {}, {}
    start = time.monotonic()
    nxt = start + a.interval
    bad = []
    while True:
        now = time.monotonic()
        if now < nxt:
            time.sleep(min(nxt - now, 1.0))
            continue
        t = now - start
        alive = [c for c in calls if c[0].poll() is None]
        # Private memory: the cache is mmap'ed, so VmRSS grows as the music's
        # pages are touched (shared page cache, one copy for all calls).
        rss = {c[0].pid: status_kib(c[0].pid, "RssAnon") for c in alive}
        mapped = [status_kib(c[0].pid, "RssFile") or 0 for c in alive]
        fd = {c[0].pid: fds(c[0].pid) for c in alive}
        th = [threads(c[0].pid) or 0 for c in alive]
        tot = {"short": 0, "underrun": 0, "blocked": 0, "max_block_ms": 0.0}
        for _, _, s in calls:
            st = last_stats(s)
            for k in ("short", "underrun", "blocked"):
                tot[k] += int(st.get(k, 0))
            tot["max_block_ms"] = max(tot["max_block_ms"], st.get("max_block_ms", 0.0))
        vals = [v for v in rss.values() if v]
        for pid, v in rss.items():
            if v and pid not in first_rss:
                first_rss[pid] = v
                first_fds[pid] = fd[pid]
            if v:
                last_rss[pid], last_fds[pid] = v, fd[pid]
        print(f"| {t:.0f} | {len(alive)} | {statistics.median(vals) if vals else 0:.0f} | "
              f"{max(vals) if vals else 0} | {max(mapped or [0])} | {max([v for v in fd.values() if v] or [0])} | "
              f"{max(th or [0])} | {tot['short']} | {tot['underrun']} | {tot['blocked']} | "
              f"{tot['max_block_ms']:.1f} |", flush=True)
        nxt += a.interval
        if t >= a.seconds:
            break
    stop.set()
    exits = []
    for hm, rd, _ in calls:
        if hm.poll() is None:
            hm.send_signal(signal.SIGHUP)
        try:
            exits.append(hm.wait(timeout=5))
        except subprocess.TimeoutExpired:
            exits.append(None)
        try:
            rd.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rd.kill()
    growth = [last_rss[p] - first_rss[p] for p in first_rss if p in last_rss]
    fd_growth = [last_fds[p] - first_fds[p] for p in first_fds if p in last_fds and first_fds[p]]
    print()
    print(f"- private RSS (RssAnon) growth per call from the first to the last sample: max {max(growth or [0])} KiB, "
          f"median {statistics.median(growth) if growth else 0:.0f} KiB")
    print(f"- fd growth per call: max {max(fd_growth or [0])}")
    print(f"- exit statuses after SIGHUP: {sorted(set(exits), key=str)}")
    if tot["short"]:
        bad.append(f"{tot['short']} short reads")
    if any(e != 0 for e in exits):
        bad.append(f"exit statuses {exits}")
    if len(alive) < len(calls):
        bad.append(f"{len(calls) - len(alive)} generators died")
    if max(fd_growth or [0]) > 0:
        bad.append("fds grew")
    if max(growth or [0]) > a.rss_slack_kib:
        bad.append(f"RSS grew by over {a.rss_slack_kib} KiB")
    return bad


def stream_time(a):
    rng = random.Random(a.seed + 1)
    secs = int(a.render_hours * 3600)
    events, t = [], 0.0
    while True:
        t += rng.expovariate(a.render_events_per_minute / 60.0)
        if t >= secs:
            break
        events += ["--event", f"{t:.2f}s:{random_event(rng).replace(' ', ':')}"]
    argv = [a.holdmix, "--cache-dir", a.cache, "render", a.playlist, "--duration", f"{secs}s",
            "-o", "/dev/null", "--seed", str(a.seed)] + events
    print(f"\n## Stream time: `holdmix render` of {a.render_hours:g} h with {len(events) // 2} random events\n")
    start = time.monotonic()
    p = spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    while p.poll() is None:
        v = status_kib(p.pid, "RssAnon")
        if v:
            samples.append((time.monotonic() - start, v))
        time.sleep(0.2)
    wall = time.monotonic() - start
    print(f"- exit status {p.returncode}, {wall:.1f} s of wall time ({secs / wall:.0f}× real time)")
    bad = []
    if p.returncode != 0:
        bad.append(f"render exited {p.returncode}")
    if len(samples) >= 10:
        n = len(samples)
        q = [samples[min(n - 1, int(n * f))][1] for f in (0.1, 0.25, 0.5, 0.75, 1.0)]
        print("- private RSS (KiB) at 10 / 25 / 50 / 75 / 100 % of the run: " + " / ".join(str(x) for x in q))
        grew = max(v for _, v in samples[n // 2:]) - max(v for _, v in samples[: n // 2])
        print(f"- second half's peak minus first half's: {grew} KiB")
        if grew > a.rss_slack_kib:
            bad.append(f"render RSS grew by {grew} KiB")
    else:
        print(f"- too short to sample ({len(samples)} samples)")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("holdmix")
    ap.add_argument("reader")
    ap.add_argument("playlist")
    ap.add_argument("cache")
    ap.add_argument("work")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--interval", type=float, default=30)
    ap.add_argument("--events-per-minute", type=float, default=6)
    ap.add_argument("--render-hours", type=float, default=24)
    ap.add_argument("--render-events-per-minute", type=float, default=2)
    ap.add_argument("--rss-slack-kib", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        bad = []
        if a.calls > 0 and a.seconds > 0:
            bad += live_calls(a)
        if a.render_hours > 0:
            bad += stream_time(a)
    finally:
        reap_all()
    print()
    print("verdict: " + ("ok" if not bad else "; ".join(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
