#!/usr/bin/env python3
"""Measurements for scripts/bench.sh (see its header for what each one means).

Prints the Markdown table rows' data as a table on stdout. Every child
process it starts is tracked and ended (by its pid) on the way out.
"""
import os
import random
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
CPU_SECONDS = env("BENCH_CPU_SECONDS", 60.0)
MEM_AFTER = env("BENCH_MEM_AFTER", 5.0)
FIRST_RUNS = env("BENCH_FIRST_RUNS", 20)
EXIT_RUNS = env("BENCH_EXIT_RUNS", 10)
CPU_PAIRS = env("BENCH_CPU_PAIRS", 5)
CPU_ROUNDS = env("BENCH_CPU_ROUNDS", 3)


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


def paced(name, argv, reader, seconds, tmp):
    """Starts `argv` with its stdout read by reader.c like Asterisk does."""
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    w = spawn(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    stats = os.path.join(tmp, f"{name}.reader")
    r = spawn([reader, str(seconds), "640", "40", stats], stdin=w.stdout)
    w.stdout.close()
    log.close()
    return w, r, stats


def stop_paced(name, pair):
    w, r, stats = pair
    if w.poll() is not None:
        print(f"warning: {name} exited early ({w.returncode})", file=sys.stderr)
    hup_and_wait(w)
    try:
        r.wait(timeout=3)
    except subprocess.TimeoutExpired:
        r.kill()
        r.wait()
    try:
        with open(stats) as f:
            return dict(kv.split("=") for kv in f.read().split())
    except FileNotFoundError:
        return {}


def memory(hm_run, reader, tmp):
    """USS of a lone `run`, then of a second one started beside it."""
    first = paced("mem1", hm_run, reader, 2 * MEM_AFTER + 3, tmp)
    time.sleep(MEM_AFTER)
    mem = {"holdmix": mem_kib(first[0].pid)}
    second = paced("mem2", hm_run, reader, MEM_AFTER + 3, tmp)
    time.sleep(MEM_AFTER)
    mem["second"] = mem_kib(second[0].pid)
    stop_paced("mem1", first)
    stop_paced("mem2", second)
    return mem


def steady_state(hm_run, floor, reader, tmp):
    """CPU_ROUNDS rounds, each of CPU_PAIRS `run` processes and as many floor
    writers side by side, every one read by its own reader. On a VM one
    wake-up costs anything from 20 to 50 µs depending on what else woke in
    the same instant, so one process of each is noisy, and so is one set of
    start phases: each round starts fresh processes at new random phases,
    and CPU_SECONDS is split between the rounds."""
    seconds = CPU_SECONDS / CPU_ROUNDS
    per, rounds, hreads, freads, log, wall = {}, [], [], [], "", 0.0
    nthreads = 0
    for k in range(int(CPU_ROUNDS)):
        total = CPU_WARMUP + seconds + 3
        pairs = {}
        for i in range(CPU_PAIRS):
            pairs[f"holdmix{k}.{i}"] = paced(f"holdmix{k}.{i}", hm_run, reader, total, tmp)
            time.sleep(random.uniform(0.001, 0.039))
            pairs[f"floor{k}.{i}"] = paced(f"floor{k}.{i}", [floor], reader, total, tmp)
            time.sleep(random.uniform(0.001, 0.039))
        nthreads = max(nthreads, threads(pairs[f"holdmix{k}.0"][0].pid))
        time.sleep(CPU_WARMUP)
        t0 = time.perf_counter()
        a = {n: (cpu_ns(w.pid), ticks(w.pid)) for n, (w, _, _) in pairs.items()}
        time.sleep(seconds)
        t1 = time.perf_counter()
        b = {n: (cpu_ns(w.pid), ticks(w.pid)) for n, (w, _, _) in pairs.items()}
        wall += t1 - t0
        this = {n: (100.0 * (b[n][0] - a[n][0]) / 1e9 / (t1 - t0), 100.0 * (b[n][1] - a[n][1]) / HZ / (t1 - t0))
                for n in a}
        per.update(this)
        h = statistics.mean(v[0] for n, v in this.items() if n.startswith("holdmix"))
        f = statistics.mean(v[0] for n, v in this.items() if n.startswith("floor"))
        rounds.append(h / f if f > 0 else float("inf"))
        reader_stats = {n: stop_paced(n, pr) for n, pr in pairs.items()}
        hreads += [reader_stats[n] for n in pairs if n.startswith("holdmix")]
        freads += [reader_stats[n] for n in pairs if n.startswith("floor")]
        for i in range(CPU_PAIRS):
            with open(os.path.join(tmp, f"holdmix{k}.{i}.log")) as f:
                log += f.read()
    cpu = {}
    for group in ("holdmix", "floor"):
        names = [n for n in per if n.startswith(group)]
        cpu[group] = (statistics.mean(per[n][0] for n in names), statistics.mean(per[n][1] for n in names))
    pair_ratios = [per[n][0] / per[n.replace("holdmix", "floor")][0]
                   for n in per if n.startswith("holdmix") and per[n.replace("holdmix", "floor")][0] > 0]
    lines = [line for line in log.splitlines() if " WARN " in line or " ERROR " in line]
    return dict(cpu=cpu, pair_ratios=pair_ratios, rounds=rounds, threads=nthreads, reader=hreads,
                floor_reader=freads, wall=wall, warns=len(lines), first_warn=lines[0] if lines else "")


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


def realtime_latency(hm, playlist, tmp, conns=10, per_conn=500):
    """A hub answering realtime lookups; each lookup timed from sending
    the request to reading the whole answer, over keep-alive connections."""
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    env = dict(os.environ, HOLDMIX_AMI_SECRET="unused")
    hub = spawn([hm, "hub", "--ami", "127.0.0.1:1", "--socket", os.path.join(tmp, "rt.sock"),
                 "--realtime", f"127.0.0.1:{port}", "--playlist", playlist],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    try:
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.01)
        times = []
        for c in range(conns):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            f = s.makefile("rb")
            for i in range(per_conn):
                body = f"name=holdmix-17957{c:05d}.{i}".encode()
                req = (b"POST /moh/single HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: asterisk-libcurl-agent/1.0\r\n"
                       b"Accept: */*\r\nContent-Length: " + str(len(body)).encode() +
                       b"\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n" + body)
                t0 = time.perf_counter()
                s.sendall(req)
                length = 0
                while True:
                    line = f.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                row = f.read(length)
                times.append(time.perf_counter() - t0)
                if b"application=" not in row:
                    raise RuntimeError(f"no row: {row!r}")
            s.close()
        times.sort()
        return (times[len(times) // 2], times[int(len(times) * 0.99)], times[-1], len(times))
    finally:
        hub.terminate()
        hub.wait()


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


def memory_rows(mem):
    rows = []
    huss, hpss, hrss, hanon = mem["holdmix"]
    suss, spss, _, sanon = mem["second"]
    rows.append(("private memory (USS) of `run` after 5 s", f"{huss / 1024:.2f} MiB", "≤ 3 MB",
                 f"{fmt_ok(huss * 1024 <= 3_000_000)}; = {huss * 1024 / 1e6:.2f} MB; alone on the host, so its "
                 f"binary text and cache pages count as private; PSS {hpss / 1024:.2f} MiB, "
                 f"RSS {hrss / 1024:.2f} MiB, anonymous {hanon} KiB"))
    rows.append(("USS of a second concurrent `run` after 5 s", f"{suss / 1024:.2f} MiB", "≤ 3 MB",
                 f"{fmt_ok(suss * 1024 <= 3_000_000)}; the marginal cost of one more call; PSS {spss} KiB "
                 f"(the binary's text shared by two), anonymous {sanon} KiB"))
    return rows


def print_rows(rows):
    print("| metric | holdmix | target | notes |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main():
    hm, floor, reader, playlist, cache, mp3_playlist, tmp = sys.argv[1:8]
    run_argv = [hm, "run", "--playlist", playlist, "--cache-dir", cache]
    rows = []

    if os.environ.get("BENCH_ONLY") == "memory":
        # The memory rows alone (the PIE-versus-static comparison).
        fsync_files([hm, cache])
        print_rows(memory_rows(memory(run_argv, reader, tmp)))
        return
    for fmt in ("slin", "slin16", "ulaw"):
        x, best = render_speed(hm, playlist, cache, fmt)
        rows.append((f"render speed, `{fmt}` (× real time)", f"{x:,.0f}×", "≥ 5000×",
                     f"{fmt_ok(x >= 5000)}; 1 h of audio in {best * 1000:.0f} ms, best of 3"))

    fsync_files([hm, cache])
    mem = memory(run_argv, reader, tmp)
    s = steady_state(run_argv, floor, reader, tmp)
    hcpu, hcpu_t = s["cpu"]["holdmix"]
    fcpu, fcpu_t = s["cpu"]["floor"]
    ratio = hcpu / fcpu if fcpu > 0 else float("inf")
    pr = s["pair_ratios"]
    n = int(CPU_ROUNDS) * CPU_PAIRS
    rows.append(("steady CPU, `run` (% of one core)", f"{hcpu:.3f} %", "—",
                 f"mean of {n} processes ({int(CPU_ROUNDS)} rounds of {CPU_PAIRS}, {s['wall']:.0f} s measured "
                 f"in all, each round from {CPU_WARMUP:.0f} s), schedstat (utime+stime: {hcpu_t:.2f} %); "
                 f"{s['threads']} thread(s)"))
    rows.append(("steady CPU, floor writer", f"{fcpu:.3f} %", "—",
                 f"mean of {n}, side by side in the same rounds (utime+stime: {fcpu_t:.2f} %)"))
    rows.append(("CPU ratio run / floor", f"{ratio:.2f}×", "≤ 1.3×",
                 f"{fmt_ok(ratio <= 1.3)}; {hcpu * 400:.0f} µs vs {fcpu * 400:.0f} µs of CPU per 40 ms read; "
                 f"rounds {', '.join(f'{r:.2f}' for r in s['rounds'])}×; pairwise {min(pr):.2f}–{max(pr):.2f}×"))
    short = sum(int(r.get("short", 1)) for r in s["reader"])
    reads = sum(int(r.get("reads", 0)) for r in s["reader"])
    under = sum(int(r.get("underrun", 1)) for r in s["reader"])
    lead_med = max(int(r.get("lead_med_ms", -1)) for r in s["reader"])
    lead_max = max(int(r.get("lead_max_ms", -1)) for r in s["reader"])
    fmed = max(int(r.get("lead_med_ms", -1)) for r in s["floor_reader"])
    fmax = max(int(r.get("lead_max_ms", -1)) for r in s["floor_reader"])
    rows.append(("reader view of `run`", f"{short} short / {reads} reads",
                 "0 short", f"{fmt_ok(short == 0)}; underruns {under}, "
                 f"lead before each read median {lead_med} ms, max {lead_max} ms "
                 f"(floor: {fmed}/{fmax} ms); "
                 f"{s['warns']} WARN/ERROR log lines"
                 + (f" (first: `{s['first_warn'][-120:].replace('|', '/')}`)" if s["warns"] else "")))
    rows += memory_rows(mem)
    fl = paced("floormem", [floor], reader, MEM_AFTER + 3, tmp)
    time.sleep(MEM_AFTER)
    fuss, fpss, frss, _ = mem_kib(fl[0].pid)
    stop_paced("floormem", fl)
    rows.append(("private memory (USS) of floor writer", f"{fuss} KiB", "—", f"PSS {fpss} KiB, RSS {frss} KiB"))

    med, lo, hi = first_frame(run_argv, FIRST_RUNS)
    rows.append(("start → first frame, `run`, warm cache", f"{med * 1000:.1f} ms", "≤ 10 ms",
                 f"{fmt_ok(med <= 0.010)}; median of {FIRST_RUNS}, min {lo * 1000:.1f}, max {hi * 1000:.1f} ms"))
    # A respawn of a call (app_queue restarts hold music around each of its
    # announcements): the same --uniqueid, a checkpoint left by the last one.
    calls = os.path.join(tmp, "calls")
    respawn_argv = run_argv + ["--uniqueid", "1795734134.39", "--state-dir", calls]
    warm = paced("respawn", respawn_argv, reader, 2, tmp)
    time.sleep(1.0)
    stop_paced("respawn", warm)
    med, lo, hi = first_frame(respawn_argv, FIRST_RUNS)
    rows.append(("start → first frame, respawn of a call, warm cache", f"{med * 1000:.1f} ms", "≤ 10 ms",
                 f"{fmt_ok(med <= 0.010)}; reads the last process's checkpoint and resumes; median of "
                 f"{FIRST_RUNS}, min {lo * 1000:.1f}, max {hi * 1000:.1f} ms"))
    p50, p99, worst, n = realtime_latency(hm, playlist, tmp)
    rows.append(("realtime class lookup (res_config_curl → hub), p99", f"{p99 * 1000:.2f} ms", "milliseconds",
                 f"{n} lookups as Asterisk sends them, 10 keep-alive connections; p50 {p50 * 1000:.2f} ms, "
                 f"max {worst * 1000:.2f} ms (client in Python on the same host)"))
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

    print_rows(rows)


if __name__ == "__main__":
    try:
        main()
    finally:
        reap_all()
