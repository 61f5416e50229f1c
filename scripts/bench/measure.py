#!/usr/bin/env python3
"""Measurements for scripts/bench.sh (see its header for what each one means).

Prints the Markdown table rows' data as a table on stdout. Every child
process it starts is tracked and ended (by its pid) on the way out.
"""
import os
import signal
import statistics
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
CHILDREN = []


def env(name, default):
    return type(default)(os.environ.get(name, default))


CPU_WARMUP = env("BENCH_CPU_WARMUP", 2.0)
CPU_SECONDS = env("BENCH_CPU_SECONDS", 30.0)
MEM_AFTER = env("BENCH_MEM_AFTER", 5.0)
FIRST_RUNS = env("BENCH_FIRST_RUNS", 20)
EXIT_RUNS = env("BENCH_EXIT_RUNS", 10)


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    CHILDREN.append(p)
    return p


def reap_all():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


def cpu_ns(pid):
    """On-CPU time of all the process's live threads, in ns (schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def ticks(pid):
    """utime + stime from /proc/PID/stat, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def mem_kib(pid):
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                vals[parts[0][:-1]] = int(parts[1])
    uss = vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)
    return uss, vals.get("Pss", 0), vals.get("Rss", 0), vals.get("Anonymous", 0)


def fsync_files(paths):
    """Freshly written files (the cache, a just-built binary) sit dirty in the
    page cache and would show as Private_Dirty in every process mapping them."""
    for p in paths:
        if os.path.isdir(p):
            fsync_files(os.path.join(p, n) for n in os.listdir(p))
        elif os.path.isfile(p):
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def hup_and_wait(p, timeout=2.0):
    if p.poll() is None:
        p.send_signal(signal.SIGHUP)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def render_speed(hm, playlist, cache, fmt, seconds=3600, tries=3):
    best = None
    for _ in range(tries):
        t0 = time.perf_counter()
        subprocess.run(
            [hm, "render", playlist, "--duration", f"{seconds}s", "-o", "/dev/null",
             "--format", fmt, "--cache-dir", cache, "-q"],
            check=True, stdin=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return seconds / best, best


def steady_state(hm_run, floor, reader, tmp):
    """holdmix run and the floor writer side by side, each read by reader."""
    total = max(CPU_WARMUP, MEM_AFTER) + CPU_SECONDS + 3
    pairs = {}

    def start(name, argv, seconds):
        log = open(os.path.join(tmp, f"{name}.log"), "w")
        w = spawn(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        stats = os.path.join(tmp, f"{name}.reader")
        r = spawn([reader, str(seconds), "640", "40", stats], stdin=w.stdout)
        w.stdout.close()
        log.close()
        pairs[name] = (w, r, stats)

    start("holdmix", hm_run, total + MEM_AFTER)
    start("floor", [floor], total + MEM_AFTER)
    t_start = time.perf_counter()
    time.sleep(MEM_AFTER)
    mem = {n: mem_kib(w.pid) for n, (w, _, _) in pairs.items()}
    nthreads = {n: threads(w.pid) for n, (w, _, _) in pairs.items()}
    time.sleep(max(0.0, CPU_WARMUP - MEM_AFTER))  # window starts after both
    t0 = time.perf_counter()
    a = {n: (cpu_ns(w.pid), ticks(w.pid)) for n, (w, _, _) in pairs.items()}
    time.sleep(CPU_SECONDS)
    t1 = time.perf_counter()
    b = {n: (cpu_ns(w.pid), ticks(w.pid)) for n, (w, _, _) in pairs.items()}
    wall = t1 - t0
    # A second call beside the first: its USS is what one more call costs
    # (the binary's text and the cache pages both touch become shared).
    start("second", hm_run, MEM_AFTER + 3)
    time.sleep(MEM_AFTER)
    mem["second"] = mem_kib(pairs["second"][0].pid)
    cpu = {}
    for n in a:
        ns = b[n][0] - a[n][0]
        tk = b[n][1] - a[n][1]
        cpu[n] = (100.0 * ns / 1e9 / wall, 100.0 * tk / HZ / wall)
    for n, (w, r, _) in pairs.items():
        if w.poll() is not None:
            print(f"warning: {n} exited early ({w.returncode})", file=sys.stderr)
        hup_and_wait(w)
        try:
            r.wait(timeout=3)
        except subprocess.TimeoutExpired:
            r.kill()
            r.wait()
    reader_stats = {}
    for n, (_, _, stats) in pairs.items():
        try:
            with open(stats) as f:
                reader_stats[n] = dict(kv.split("=") for kv in f.read().split())
        except FileNotFoundError:
            reader_stats[n] = {}
    with open(os.path.join(tmp, "holdmix.log")) as f:
        log = f.read()
    warns = sum(1 for line in log.splitlines() if " WARN " in line or " ERROR " in line)
    first_warn = next((line for line in log.splitlines() if " WARN " in line or " ERROR " in line), "")
    return dict(cpu=cpu, mem=mem, threads=nthreads, reader=reader_stats, wall=wall,
                warns=warns, first_warn=first_warn, elapsed=time.perf_counter() - t_start)


def first_frame(argv, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        b = os.read(p.stdout.fileno(), 1)
        t1 = time.perf_counter()
        hup_and_wait(p)
        p.stdout.close()
        if not b:
            raise RuntimeError(f"{argv[0]}: no output")
        times.append(t1 - t0)
    return statistics.median(times), min(times), max(times)


def exit_latency(argv, reader, runs, run_for=0.5):
    times, codes = [], set()
    for _ in range(runs):
        p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        r = spawn([reader, "0"], stdin=p.stdout, stderr=subprocess.DEVNULL)
        p.stdout.close()
        time.sleep(run_for)
        if p.poll() is not None:
            raise RuntimeError(f"exited before SIGHUP: {p.returncode}")
        t0 = time.perf_counter()
        p.send_signal(signal.SIGHUP)
        try:
            codes.add(p.wait(timeout=2))
            times.append(time.perf_counter() - t0)
        except subprocess.TimeoutExpired:
            p.kill()
            codes.add(p.wait())
            times.append(float("inf"))
        r.wait(timeout=3)
    return statistics.median(times), max(times), codes


def mp3_warm(hm, playlist, tmp, tries=3):
    best = None
    for i in range(tries):
        cache = os.path.join(tmp, f"mp3cache{i}")
        t0 = time.perf_counter()
        subprocess.run([hm, "cache", "warm", playlist, "--cache-dir", cache, "-q"],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
        subprocess.run(["rm", "-rf", "--", cache], check=True)
    return best


def fmt_ok(ok):
    return "ok" if ok else "**MISSED**"


def main():
    hm, floor, reader, playlist, cache, mp3_playlist, tmp = sys.argv[1:8]
    run_argv = [hm, "run", "--playlist", playlist, "--cache-dir", cache]
    rows = []

    for fmt in ("slin", "slin16", "ulaw"):
        x, best = render_speed(hm, playlist, cache, fmt)
        rows.append((f"render speed, `{fmt}` (× real time)", f"{x:,.0f}×", "≥ 5000×",
                     f"{fmt_ok(x >= 5000)}; 1 h of audio in {best * 1000:.0f} ms, best of 3"))

    fsync_files([hm, cache])
    s = steady_state(run_argv, floor, reader, tmp)
    hcpu, hcpu_t = s["cpu"]["holdmix"]
    fcpu, fcpu_t = s["cpu"]["floor"]
    ratio = hcpu / fcpu if fcpu > 0 else float("inf")
    rs = s["reader"]["holdmix"]
    fr = s["reader"]["floor"]
    rows.append(("steady CPU, `run` (% of one core)", f"{hcpu:.3f} %", "—",
                 f"{s['wall']:.0f} s window from {max(CPU_WARMUP, MEM_AFTER):.0f} s, schedstat "
                 f"(utime+stime: {hcpu_t:.2f} %); {s['threads']['holdmix']} thread(s)"))
    rows.append(("steady CPU, floor writer", f"{fcpu:.3f} %", "—",
                 f"same window (utime+stime: {fcpu_t:.2f} %)"))
    rows.append(("CPU ratio run / floor", f"{ratio:.2f}×", "≤ 1.3×",
                 f"{fmt_ok(ratio <= 1.3)}; {hcpu * 400:.0f} µs vs {fcpu * 400:.0f} µs of CPU per 40 ms read"))
    rows.append(("reader view of `run`", f"{rs.get('short', '?')} short / {rs.get('reads', '?')} reads",
                 "0 short", f"{fmt_ok(rs.get('short') == '0')}; underruns {rs.get('underrun', '?')}, "
                 f"lead before each read median {rs.get('lead_med_ms', '?')} ms, max {rs.get('lead_max_ms', '?')} ms "
                 f"(floor: {fr.get('lead_med_ms', '?')}/{fr.get('lead_max_ms', '?')} ms); "
                 f"{s['warns']} WARN/ERROR log lines"
                 + (f" (first: `{s['first_warn'][-120:].replace('|', '/')}`)" if s["warns"] else "")))
    huss, hpss, hrss, hanon = s["mem"]["holdmix"]
    suss, _, _, sanon = s["mem"]["second"]
    fuss, fpss, frss, _ = s["mem"]["floor"]
    rows.append(("private memory (USS) of `run` after 5 s", f"{huss / 1024:.2f} MiB", "≤ 3 MB",
                 f"{fmt_ok(huss * 1024 <= 3_000_000)}; = {huss * 1024 / 1e6:.2f} MB; alone on the host, so its "
                 f"binary text and cache pages count as private; PSS {hpss / 1024:.2f} MiB, "
                 f"RSS {hrss / 1024:.2f} MiB, anonymous {hanon} KiB"))
    rows.append(("USS of a second concurrent `run` after 5 s", f"{suss / 1024:.2f} MiB", "≤ 3 MB",
                 f"{fmt_ok(suss * 1024 <= 3_000_000)}; the marginal cost of one more call; anonymous {sanon} KiB"))
    rows.append(("private memory (USS) of floor writer", f"{fuss} KiB", "—", f"PSS {fpss} KiB, RSS {frss} KiB"))

    med, lo, hi = first_frame(run_argv, FIRST_RUNS)
    rows.append(("start → first frame, `run`, warm cache", f"{med * 1000:.1f} ms", "≤ 10 ms",
                 f"{fmt_ok(med <= 0.010)}; median of {FIRST_RUNS}, min {lo * 1000:.1f}, max {hi * 1000:.1f} ms"))
    med, lo, hi = first_frame([floor], FIRST_RUNS)
    rows.append(("start → first frame, floor writer", f"{med * 1000:.1f} ms", "—",
                 f"spawn+exec baseline; min {lo * 1000:.1f}, max {hi * 1000:.1f} ms"))

    best = mp3_warm(hm, mp3_playlist, tmp)
    rows.append(("decode+resample 3 min 44.1 kHz stereo MP3 (`cache warm`)", f"{best * 1000:.0f} ms",
                 "≤ 0.3 s", f"{fmt_ok(best <= 0.3)}; 128 kb/s, empty cache, whole process, best of 3"))

    med, hi, codes = exit_latency(run_argv, reader, EXIT_RUNS)
    rows.append(("SIGHUP → exit, `run`", f"{med * 1000:.1f} ms", "≤ 50 ms",
                 f"{fmt_ok(med <= 0.050)}; median of {EXIT_RUNS}, max {hi * 1000:.1f} ms, "
                 f"exit status {sorted(codes)}"))

    print("| metric | holdmix | target | notes |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    try:
        main()
    finally:
        reap_all()
