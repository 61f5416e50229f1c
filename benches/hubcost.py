#!/usr/bin/env python3
"""Where `hub --audio` spends its CPU and memory per hosted call
(docs/hub-audio.md, "Cost").

One hub (the load harness's set-up: scripts/bench/load.py's replaying AMI
server, its reader taking 640 bytes every 40 ms from every pipe, its
playlist and its `holdmix-shim` clients), filled in steps (--calls
0,50,100: 50 calls, then 50 more, on the same hub). At each step, over a
window of --seconds:

- the hub's CPU by thread name (`/proc/PID/task/*/schedstat`, ns) and its
  threads' wakes (voluntary context switches, `/proc/PID/task/*/status`);
- the shims' CPU (for the whole call's cost);
- the hub's memory by kind, from `/proc/PID/smaps`: the main heap, the
  malloc arenas of other threads (64 MiB-aligned anonymous heaps), thread
  stacks (anonymous mappings just above a guard page), other anonymous
  mappings, the cache's files and the rest of the files (the binary);
- with --perf, a `perf record -g` of the hub over the last step's window
  (kept as perf.data in --out, summarised with `perf report`).

    benches/hubcost.py --bin target/release/holdmix [--calls 0,50,100]
        [--seconds 10] [--perf] [--hub-info] [--out DIR]

Run it as root (the load harness raises limits; perf needs it). Every
process it starts is ended by its pid.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
sys.dont_write_bytecode = True
import load  # noqa: E402  (the load harness: Step, make_playlist, ...)


def threads(pid):
    """{tid: (name, cpu_ns, voluntary switches)} of a process."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                cpu = int(f.read().split()[0])
            vol = 0
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol = int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[tid] = (name, cpu, vol)
    return out


def by_name(before, after, seconds):
    """CPU (% of a core) and wakes a second by thread name, over a window."""
    cpu, wakes, count = collections.Counter(), collections.Counter(), collections.Counter()
    for tid, (name, c1, v1) in after.items():
        c0, v0 = before.get(tid, (name, 0, 0))[1:]
        key = re.sub(r"\d+$", "#", name)
        cpu[key] += (c1 - c0) / 1e9 / seconds * 100
        wakes[key] += (v1 - v0) / seconds
        count[key] += 1
    return cpu, wakes, count


HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
ARENA = 64 << 20


def smaps(pid, cache_dir):
    """Pss (KiB) of a process by kind of mapping (see the module)."""
    kinds = collections.Counter()
    maps = []
    with open(f"/proc/{pid}/smaps") as f:
        cur = None
        for line in f:
            m = HEAD.match(line)
            if m:
                cur = dict(start=int(m.group(1), 16), end=int(m.group(2), 16), perms=m.group(3),
                           path=m.group(4), pss=0)
                maps.append(cur)
            elif line.startswith("Pss:") and cur is not None:
                cur["pss"] = int(line.split()[1])
    for i, m in enumerate(maps):
        path = m["path"]
        if path == "[heap]":
            kind = "heap (main arena)"
        elif path.startswith("["):
            kind = "kernel/stack " + path
        elif path.startswith(cache_dir):
            kind = "cache files (shared by the calls)"
        elif path.endswith(".state") or "/calls/" in path:
            kind = "checkpoint files"
        elif path:
            kind = "other files"
        elif m["start"] % ARENA == 0 or (i and maps[i - 1]["path"] == "" and maps[i - 1]["start"] % ARENA == 0
                                          and maps[i - 1]["end"] == m["start"] and "rw" not in maps[i - 1]["perms"]):
            kind = "malloc arenas"
        elif i and maps[i - 1]["end"] == m["start"] and maps[i - 1]["perms"].startswith("---") \
                and maps[i - 1]["end"] - maps[i - 1]["start"] <= 64 << 10 and m["perms"].startswith("rw"):
            kind = "thread stacks"
        else:
            kind = "other anonymous"
        kinds[kind] += m["pss"]
    return kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--calls", default="0,50,100", help="hosted calls at each step (rising)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--perf", action="store_true", help="perf record -g the hub over the last window")
    ap.add_argument("--out", help="keep the logs (and perf.data) here")
    ap.add_argument("--hub-info", action="store_true",
                    help="the hub logs at its default level (info, as in production) instead of -q")
    opts = ap.parse_args()
    steps = [int(x) for x in opts.calls.split(",") if x]
    tmp = os.path.abspath(opts.out or tempfile.mkdtemp(prefix="hubcost."))
    os.makedirs(tmp, exist_ok=True)
    reader = os.path.join(tmp, "loadreader")
    subprocess.run(["cc", "-O2", "-o", reader, os.path.join(ROOT, "scripts", "bench", "loadreader.c")], check=True)
    a = types.SimpleNamespace(bin=os.path.abspath(opts.bin), reader=reader, mode="hub", client="shim",
                              calls=steps, rate=opts.rate, hub_info=opts.hub_info, standby=False)
    a.shim = os.path.join(os.path.dirname(a.bin), "holdmix-shim")
    # The calls' checkpoints on tmpfs, as the load harness keeps them
    # (on a disk, a busy disk's file creation would be measured).
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tmp
    a.state = tempfile.mkdtemp(prefix="hubcost-state.", dir=shm)
    restore = load.raise_limits(max(steps))
    a.playlist = load.make_playlist(tmp)
    a.cache = os.path.join(tmp, "cache")
    subprocess.run([a.bin, "-q", "cache", "warm", a.playlist, "--cache-dir", a.cache], check=True,
                   stdout=subprocess.DEVNULL)
    s = None
    rows = []
    try:
        # Inside the `try`: a Step that fails half-way still has its hub
        # ended below (reap_all).
        s = load.Step(a, tmp, f"hub.{os.getpid()}", load.Templates())
        hub = s.hub.pid
        started = 0
        for n in steps:
            t0 = time.monotonic()
            for i in range(started, n):
                delay = t0 + (i - started) / a.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                s.start(i)
            started = max(started, n)
            time.sleep(opts.settle)
            s.stats()
            s.command("RESET")
            shims = s.pids()
            perf = None
            if opts.perf and n == steps[-1]:
                perf = load.spawn(["perf", "record", "-g", "-q", "-o", os.path.join(tmp, "perf.data"),
                                   "-p", str(hub)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t_before, shim0, w0 = threads(hub), sum(load.cpu_ns(p) for p in shims), time.monotonic()
            busy0 = load.busy_ns()
            time.sleep(opts.seconds)
            t_after, shim1, w1 = threads(hub), sum(load.cpu_ns(p) for p in shims), time.monotonic()
            busy1 = load.busy_ns()
            if perf:
                load.end(perf, sig=2, timeout=30)
            window = w1 - w0
            calls, _, lead = s.stats()
            cpu, wakes, count = by_name(t_before, t_after, window)
            mem = smaps(hub, a.cache)
            rows.append(dict(n=n, cpu=cpu, wakes=wakes, count=count, mem=mem,
                             shim_cpu=(shim1 - shim0) / 1e9 / window * 100,
                             busy=(busy1 - busy0) / 1e9 / window * 100,
                             load=open("/proc/loadavg").read().split()[0],
                             reads=sum(c["reads"] for c in calls.values()),
                             short=sum(c["short"] for c in calls.values()),
                             lead_p50=load.hist_pct(lead, 0.5), lead_p99=load.hist_pct(lead, 0.99)))
            report(rows[-1], rows[0])
    finally:
        if s:
            s.close()
        load.reap_all()
        shutil.rmtree(a.state, ignore_errors=True)
        # A directory of our own making goes too, unless it holds the
        # perf data asked for.
        if not opts.out and not opts.perf:
            shutil.rmtree(tmp, ignore_errors=True)
        for path, v in restore.items():
            with open(path, "w") as f:
                f.write(str(v))
    if opts.perf:
        print(f"\nperf data: {tmp}/perf.data (perf report -i {tmp}/perf.data --no-children --sort symbol)")


def report(r, base):
    n = r["n"]
    hub = sum(r["cpu"].values())
    print(f"\n== {n} hosted calls: hub {hub:.2f} % of a core"
          + (f" ({hub / n:.4f} % per call), shims {r['shim_cpu'] / n:.4f} % per call" if n else "")
          + f"; short reads {r['short']} / {r['reads']}, lead p50/p99 {r['lead_p50']}/{r['lead_p99']} ms"
          + f"; machine busy {r['busy']:.0f} %, load {r['load']}")
    print("thread | count | CPU % of a core | wakes/s")
    for name, c in r["cpu"].most_common():
        print(f"{name} | {r['count'][name]} | {c:.3f} | {r['wakes'][name]:.0f}")
    total = sum(r["mem"].values())
    grown = total - sum(base["mem"].values())
    print(f"PSS {total} KiB" + (f", grown {grown} KiB since {base['n']} calls: {grown / (n - base['n']):.1f} KiB per call"
                                if n > base["n"] else ""))
    print("kind | PSS KiB | growth per call KiB")
    for kind, kib in sorted(r["mem"].items(), key=lambda kv: -kv[1]):
        per = (kib - base["mem"].get(kind, 0)) / (n - base["n"]) if n > base["n"] else 0
        print(f"{kind} | {kib} | {per:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
