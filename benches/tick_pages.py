#!/usr/bin/env python3
"""How many pages the steady-state tick of `holdmix run` touches (issue 17:
should the write-only tick get a loop of its own, to keep its code and
state on few pages?).

Runs a release `holdmix run` of playlists/demo.toml read like Asterisk
reads it (640 bytes every 40 ms: one tick per read). Once start-up is over
it clears the process's page-table "accessed" bits (/proc/PID/clear_refs,
which also flushes its TLB), waits, and reads back which pages were
touched since (/proc/PID/smaps, "Referenced"), per mapping: the binary's
code, libc's code, the vDSO, and the data (stack, heap, the binary's data
and the cache entries mapped). A wait of 20 ms covers no tick or one
(the ticks are 40 ms apart), 45 ms one or two, 1 s 25 (one renders the
next second ahead). Needs root (clear_refs of another process) and a C
compiler for the reader.

(Why not valgrind: rustix reads the real auxv with prctl(PR_GET_AUXV) and
faults on the vDSO valgrind hides; nor perf: this VM has no PMU.)

Usage: sudo benches/tick_pages.py HOLDMIX_BIN [SAMPLES]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kinds(pid, binary):
    """Referenced kB per kind of mapping."""
    out, kind = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                perms = parts[1]
                path = parts[5] if len(parts) > 5 else ""
                if "x" in perms:
                    if os.path.basename(path) == os.path.basename(binary):
                        kind = "code: holdmix"
                    elif "/ld-linux" in path:
                        kind = "code: ld.so"
                    elif "libc" in path:
                        kind = "code: libc"
                    elif path == "[vdso]":
                        kind = "code: vdso"
                    else:
                        kind = "code: other"
                elif path.endswith(".f32"):
                    kind = "data: cache entries"
                elif path == "[stack]":
                    kind = "data: stack"
                else:
                    kind = "data: other"
            elif parts[0] == "Referenced:" and kind:
                out[kind] = out.get(kind, 0) + int(parts[1])
    return out


def sample(pid, binary, wait):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("1")
    time.sleep(wait)
    return kinds(pid, binary)


def main():
    hm = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    tmp = tempfile.mkdtemp(prefix="tickpages-")
    reader = os.path.join(tmp, "reader")
    subprocess.run(["cc", "-O2", "-o", reader, os.path.join(ROOT, "scripts/bench/reader.c")], check=True)
    demo = os.path.join(ROOT, "playlists/demo.toml")
    cache = os.path.join(tmp, "cache")
    subprocess.run([hm, "cache", "warm", demo, "--cache-dir", cache, "-q"], check=True)
    gen = subprocess.Popen([hm, "run", "--playlist", demo, "--cache-dir", cache, "--store", "none"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           env=dict(os.environ, XDG_RUNTIME_DIR=tmp))
    rd = subprocess.Popen([reader, "0", "640", "40"], stdin=gen.stdout, stderr=subprocess.DEVNULL)
    gen.stdout.close()
    try:
        time.sleep(3)
        for wait in (0.020, 0.045, 1.0):
            runs = [sample(gen.pid, hm, wait) for _ in range(n if wait < 0.5 else max(n // 20, 5))]
            keys = sorted({k for r in runs for k in r})
            print(f"wait {wait * 1000:.0f} ms, {len(runs)} samples: pages touched (4 KiB), "
                  "median of the non-empty samples / max")
            for k in keys:
                pages = [r.get(k, 0) // 4 for r in runs]
                nonzero = [p for p in pages if p] or [0]
                print(f"  {k:22} {statistics.median(nonzero):5.0f} / {max(pages):4}"
                      f"   (empty in {pages.count(0)} of {len(pages)})")
    finally:
        gen.send_signal(1)
        gen.wait(timeout=10)
        rd.wait(timeout=10)


if __name__ == "__main__":
    main()
