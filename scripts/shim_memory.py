#!/usr/bin/env python3
"""Memory and CPU of waiting `holdmix-shim`s (docs/shim.md's table).

A stand-in hub on a Unix socket takes each shim's hand-over (the stdout
pipe as SCM_RIGHTS), answers OK and fills the pipe once (nobody reads it,
so it never runs dry); N shims wait; their PSS, USS and RSS come from
/proc/PID/smaps_rollup and their CPU from /proc/PID/schedstat over
--seconds, and their wakes from /proc/PID/status (voluntary context
switches). With --watched the stand-in hub says `WATCHED` after `OK`, as a
hub with a watchdog does (docs/hub-audio.md): the shims look at their
pipes once a second instead of every 40 ms. With --full BINARY it measures that binary instead, idle in
`holdmix ctl --hub SOCKET list` against a hub that never answers (the
full binary's floor for any waiting state: loaded, relocated, arguments
parsed, logging set up, no work; --seconds must stay under ctl's 15 s).

    scripts/shim_memory.py SHIM [-n 1 100] [--seconds 30] [--watched] [--full HOLDMIX]
"""
import argparse, array, os, socket, subprocess, sys, tempfile, threading, time


def hub(listener, stop, held, answer):
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.settimeout(5)
        data, fds = b"", []
        try:
            while b"\n" not in data:
                msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * 4))
                if not msg:
                    break
                data += msg
                for level, kind, raw in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds += array.array("i", raw[: len(raw) - len(raw) % 4]).tolist()
            head, _, body = data.partition(b"\n")
            need = int(head.split()[1])
            while len(body) < need:
                body += conn.recv(need - len(body))
        except (OSError, ValueError, IndexError):
            conn.close()
            continue
        if fds:
            os.write(fds[0], b"\x00" * 8192)  # a full pipe never looks dry
        conn.sendall(answer)
        held.append((conn, fds))


def rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def cpu_ns(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def wakes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def measure(cmd, n, seconds, sock_path):
    procs, pipes = [], []
    for _ in range(n):
        r, w = os.pipe()
        procs.append(subprocess.Popen(cmd, stdout=w, stdin=subprocess.DEVNULL))
        os.close(w)
        pipes.append(r)
    time.sleep(1.5 + n * 0.01)
    alive = [p for p in procs if p.poll() is None]
    if len(alive) != n:
        sys.exit(f"{n - len(alive)} of {n} exited early")
    mem = [rollup(p.pid) for p in procs]
    c0 = [cpu_ns(p.pid) for p in procs]
    w0 = [wakes(p.pid) for p in procs]
    time.sleep(seconds)
    c1 = [cpu_ns(p.pid) for p in procs]
    w1 = [wakes(p.pid) for p in procs]
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    for r in pipes:
        os.close(r)
    avg = lambda key: sum(m.get(key, 0) for m in mem) / n
    uss = sum(m.get("Private_Clean", 0) + m.get("Private_Dirty", 0) for m in mem) / n
    cpu = sum(b - a for a, b in zip(c0, c1)) / n / (seconds * 1e9) * 100
    woke = sum(b - a for a, b in zip(w0, w1)) / n / seconds
    return avg("Pss"), uss, avg("Rss"), cpu, woke


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shim")
    ap.add_argument("-n", type=int, nargs="+", default=[1, 100])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--full", help="measure this holdmix binary idle instead")
    ap.add_argument("--watched", action="store_true", help="the stand-in hub says WATCHED after OK")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "hub.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1024)
        stop, held = threading.Event(), []
        if a.full:
            cmd = [a.full, "ctl", "--hub", path, "list"]  # never answered
        else:
            answer = b"OK\nWATCHED\n" if a.watched else b"OK\n"
            threading.Thread(target=hub, args=(listener, stop, held, answer), daemon=True).start()
            cmd = [a.shim, "--hub", path, "--playlist", "/nonexistent.toml"]
        print("| processes | PSS KiB | USS KiB | RSS KiB | CPU % of a core | wakes/s |")
        print("|---|---|---|---|---|---|")
        for n in a.n:
            pss, uss, rss, cpu, woke = measure(cmd, n, a.seconds, path)
            print(f"| {n} | {pss:.0f} | {uss:.0f} | {rss:.0f} | {cpu:.4f} | {woke:.1f} |", flush=True)
            for conn, fds in held:
                conn.close()
                for fd in fds:
                    os.close(fd)
            held.clear()
        stop.set()
        listener.close()


if __name__ == "__main__":
    main()
