#!/usr/bin/env python3
"""The load harness (scripts/load.sh; docs/load.md says what each figure means).

For each N of --calls: a fresh `holdmix hub` on a replaying AMI server (the
events of tests/ami/session-queue-dtmf.raw, byte for byte but for each
call's channel, Uniqueid, number and place in the queue), then N generators
started at a steady rate, each announced to the hub by its call's events
before it starts (as app_queue does), each read by an Asterisk-like reader
(scripts/bench/loadreader.c: 640 bytes every 40 ms on absolute deadlines,
non-blocking). Over a window of --seconds it measures CPU (schedstat of every
thread of every generator and of the hub), memory (smaps_rollup), what the
readers saw (short reads, the lead queued before each read, spawn to first
byte), and keys: a DTMFEnd for key 6 sent by the AMI server at a known time,
to the first sample of the answer (a 2 kHz tone over a music bed of low
tones, told apart by the first difference of the samples) as the reader
takes it. Then bursts of --burst calls spawned together, with a warm page
cache and a cold one (`echo 3 > /proc/sys/vm/drop_caches`, root only).

Modes: `standalone` (each `holdmix run --hub` streams itself, the hub only
relays events: today's default) and `hub` (the hub started with `--audio`;
generators `holdmix-shim` or `holdmix run --hub`, hand their pipe over).

Every child is tracked and ended by its pid on the way out. Prints a
Markdown table; --json and --png write the figures and a chart.
"""
import argparse
import hashlib
import hmac
import json
import math
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loadplot  # noqa: E402  (beside this file)
from loadami import KEY, SECRET, AmiServer, Templates, uid  # noqa: E402

CHILDREN = []


def log(*a):
    print("load:", *a, file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------

def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    CHILDREN.append(p)
    return p


def end(p, sig=signal.SIGTERM, timeout=5.0):
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def reap_all():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
    for p in CHILDREN:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def cpu_ns(pid):
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def mem_kib(pid):
    """(USS, PSS) in KiB from smaps_rollup."""
    vals = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    vals[parts[0][:-1]] = int(parts[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0), vals.get("Pss", 0)


def with_children(pid):
    """pid and its children (the hub's audio watchdog is one: its cost is the hub's)."""
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return [pid] + kids


def group_mem_kib(pids):
    """(USS, PSS) summed over pids, None when the first is gone."""
    mems = [mem_kib(p) for p in pids]
    if not mems or mems[0] is None:
        return None
    return tuple(sum(m[i] for m in mems if m) for i in (0, 1))


def busy_ns():
    """CPU time the whole machine spent busy (not idle, not iowait), in ns."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - v[3] - v[4]) * 1e9 / hz


def raise_limits(n):
    """Descriptors and processes for n calls, bounded; returns what to restore."""
    want = min(1 << 20, 4 * n + 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want and os.geteuid() == 0:
        hard = want
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, want), hard), hard))
    if min(max(soft, want), hard) < want:
        log(f"warning: only {hard} descriptors allowed; {n} calls need about {want}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and soft < 8 * n + 1024:
        resource.setrlimit(resource.RLIMIT_NPROC, (min(hard, 8 * n + 1024) if hard != resource.RLIM_INFINITY
                                                   else 8 * n + 1024, hard))
    restore = {}
    for path, need in (("/proc/sys/kernel/pid_max", 32768 + 8 * n), ("/proc/sys/kernel/threads-max", 16 * n + 4096)):
        try:
            with open(path) as f:
                cur = int(f.read())
            if cur < need and os.geteuid() == 0:
                with open(path, "w") as f:
                    f.write(str(min(need, 4194304)))
                restore[path] = cur
        except OSError:
            pass
    return restore


# --- inputs ---------------------------------------------------------------------

def make_playlist(tmp, welcome=False):
    """A music bed of two low tones (60 s, looping) and key 6's answer, a
    0.3 s 2 kHz tone: the answer's first difference is ten times the bed's,
    so the reader tells it from the music by the samples alone. With
    `welcome`, a 0.6 s 400 Hz welcome (the kill step counts how often each
    call heard it, from the calls' own timelines)."""
    def wav(path, secs, fn):
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"".join(struct.pack("<h", int(fn(i / 8000))) for i in range(int(8000 * secs))))
    wav(os.path.join(tmp, "bed.wav"), 60,
        lambda t: 6000 * math.sin(2 * math.pi * 150 * t) + 4000 * math.sin(2 * math.pi * 220 * t + 1))
    wav(os.path.join(tmp, "answer.wav"), 0.3, lambda t: 12000 * math.sin(2 * math.pi * 2000 * t))
    pl = os.path.join(tmp, "load-welcome.toml" if welcome else "load.toml")
    extra = ""
    if welcome:
        wav(os.path.join(tmp, "hello.wav"), 0.6, lambda t: 6000 * math.sin(2 * math.pi * 400 * t))
        extra = 'hello = "hello.wav"\n\n[welcome]\nsay = ["hello"]\n'
    with open(pl, "w") as f:
        f.write('[music]\ntracks = ["bed.wav"]\n\n[prompts]\nanswer = "answer.wav"\n' + extra + '\n'
                f'[keys]\n{KEY} = {{ action = "say", say = ["answer"] }}\n')
    return pl


def hub_key(tmp):
    path = os.path.join(tmp, "hub.key")
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (key.hex() + "\n").encode())
    os.close(fd)
    return path, key


def token(key, uniqueid):
    # As src/hub/token.rs: HMAC-SHA256(key, context || Uniqueid), 128 bits, hex.
    return hmac.new(key, b"holdmix hub subscription\0" + uniqueid.encode(), hashlib.sha256).digest()[:16].hex()


def has_hub_audio(hm):
    out = subprocess.run([hm, "hub", "--help"], capture_output=True, text=True).stdout
    return "--audio" in out


# --- one step -------------------------------------------------------------------

class Step:
    """A hub, an AMI server and a reader process, for one step."""

    def __init__(self, a, tmp, name, templates, playlist=None, timelines=None):
        self.a, self.name = a, name
        self.playlist = playlist or a.playlist
        # Each call's timeline (`--timeline-dir`), for the kill step.
        self.timelines = timelines
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.ami = AmiServer(templates)
        self.keyfile, self.key = hub_key(self.dir)
        self.socket = os.path.join(self.dir, "hub.sock")
        self.genlog = open(os.path.join(self.dir, "generators.log"), "ab")
        # -q (warnings and errors only) unless --hub-info: production's
        # default level, where each call's span is live at every tick.
        quiet = [] if getattr(a, "hub_info", False) else ["-q"]
        hub_argv = [a.bin, *quiet, "--log", os.path.join(self.dir, "hub.log"), "hub",
                    "--ami", f"127.0.0.1:{self.ami.port}", "--socket", self.socket,
                    "--key-file", self.keyfile, "--playlist", a.playlist, "--cache-dir", a.cache,
                    "--state-dir", "none"]
        if a.mode == "hub":
            hub_argv += ["--audio", "--audio-max", str(max(2000, 2 * max(a.calls)))]
        self.hub = spawn(hub_argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.genlog,
                         env=dict(os.environ, HOLDMIX_AMI_SECRET=SECRET))
        if not self.ami.logged_in.wait(10):
            raise RuntimeError(f"the hub did not log in (see {self.dir}/hub.log)")
        # --standby: a second hub with audio, the same key and AMI server,
        # that the clients hand their call to when the first fails (`-S`).
        self.standby, self.standby_socket = None, os.path.join(self.dir, "standby.sock")
        if a.mode == "hub" and a.standby:
            argv = [self.standby_socket if w == self.socket else w for w in hub_argv]
            argv[argv.index("--log") + 1] = os.path.join(self.dir, "standby.log")
            self.standby = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.genlog,
                                 env=dict(os.environ, HOLDMIX_AMI_SECRET=SECRET))
        # The hub greets nobody before its channel list (answered at once)
        # and its first QueueStatus.
        t0 = time.monotonic()
        for path in [self.socket] + ([self.standby_socket] if self.standby else []):
            while not os.path.exists(path) and time.monotonic() - t0 < 10:
                time.sleep(0.01)
        time.sleep(1.0)
        ctl_path = os.path.join(self.dir, "reader.sock")
        self.reader = spawn([a.reader, ctl_path], stdin=subprocess.DEVNULL)
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for _ in range(500):
            try:
                self.ctl.connect(ctl_path)
                break
            except OSError:
                time.sleep(0.01)
        self.gens = {}
        self.env = {k: v for k, v in os.environ.items() if k not in ("UNIQUEID", "PHONE", "CHANNEL")}
        # The calls' runtime state (checkpoints) on tmpfs, as by default in
        # production ($XDG_RUNTIME_DIR, else /dev/shm): on a disk, a busy
        # disk's file creation would be measured, not holdmix.
        self.state = os.path.join(a.state, name)
        os.makedirs(self.state)
        self.env.update(XDG_RUNTIME_DIR=os.path.join(self.state, "run"), XDG_STATE_HOME=os.path.join(self.dir, "state"))

    def argv(self, i):
        a = self.a
        words = ["--hub", self.socket, "--uniqueid", uid(i), "--hub-token", token(self.key, uid(i)),
                 "--playlist", self.playlist, "--cache-dir", a.cache, "--store", "none",
                 "--state-dir", os.path.join(self.state, "calls")]
        if self.timelines:
            words += ["--timeline-dir", self.timelines]
        if self.standby:
            words += ["--standby-hub", self.standby_socket]
        if a.mode == "hub" and a.client == "shim":
            return [a.shim] + words
        return [a.bin, "-q", "run"] + words

    def start(self, i):
        """Asterisk's order: the call's events (QueueCallerJoin,
        MusicOnHoldStart), then the generator."""
        self.ami.arrive(i)
        r, w = os.pipe()
        t0 = time.monotonic_ns()
        p = spawn(self.argv(i), stdin=subprocess.DEVNULL, stdout=w, stderr=self.genlog, env=self.env)
        os.close(w)
        self.ctl.sendmsg([f"ADD {i} {t0}".encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
        os.close(r)
        self.gens[i] = p

    def ramp(self, n):
        """Steady arrivals (call i at t0 + i / --rate), then --settle."""
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / self.a.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.start(i)
        time.sleep(self.a.settle)

    def command(self, text):
        self.ctl.send(text.encode())

    def stats(self):
        path = os.path.join(self.dir, f"stats.{time.monotonic_ns()}")
        self.command(f"STATS {path}")
        self.ctl.recv(16)
        calls, keys, lead = {}, [], {}
        with open(path) as f:
            for line in f:
                w = line.split()
                if w[0] == "call":
                    calls[int(w[1])] = dict(first_ns=int(w[3]), reads=int(w[5]), short=int(w[7]),
                                            empty=int(w[9]), eof=int(w[11]), gap_ms=int(w[13]))
                elif w[0] == "key":
                    keys.append(int(w[2]) / 1e6)
                elif w[0] == "lead":
                    lead[int(w[1])] = int(w[2])
        return calls, keys, lead

    def hub_pids(self):
        """The hub and its watchdog; the standby hub's (idle, with no call)
        count as the hub's."""
        return with_children(self.hub.pid) + (with_children(self.standby.pid) if self.standby else [])

    def pids(self):
        return [p.pid for p in self.gens.values() if p.poll() is None]

    def close(self):
        # As Asterisk ends a held call: SIGHUP, then the channel's events.
        for p in self.gens.values():
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGHUP)
                except ProcessLookupError:
                    pass
        for i in self.gens:
            self.ami.leave(i)
        deadline = time.monotonic() + 10
        for p in self.gens.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        try:
            self.command("QUIT")
        except OSError:
            pass
        self.ctl.close()
        end(self.reader)
        end(self.hub)
        if self.standby:
            end(self.standby)
        self.ami.close()
        self.genlog.close()


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))]


def hist_pct(h, p):
    total = sum(h.values())
    if total == 0:
        return float("nan")
    acc = 0
    for ms in sorted(h):
        acc += h[ms]
        if acc >= p * total:
            return ms
    return max(h)


def steady(a, tmp, n, templates):
    s = Step(a, tmp, f"n{n}", templates)
    try:
        hub_before = group_mem_kib(s.hub_pids())
        ramp = max(1.0, n / a.rate)
        log(f"{n} call(s): starting them over {ramp:.0f} s")
        s.ramp(n)
        ramp_calls, _, _ = s.stats()
        s.command("RESET")
        pids = s.pids()
        dead = sorted({p.returncode for p in s.gens.values() if p.poll() is not None})
        hub_group = s.hub_pids()
        cpu0 = {p: cpu_ns(p) for p in pids + hub_group}
        reader0, busy0, w0 = cpu_ns(s.reader.pid), busy_ns(), time.monotonic()
        # Keys: spread over the window, each to a random call, a call at
        # most once (its answer takes 0.3 s and the window is short).
        presses = min(n, a.keys)
        order = random.sample(range(n), presses)
        for k, i in enumerate(order):
            at = w0 + (k + 0.5) * a.seconds / presses
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = s.ami.press(i)
            s.command(f"ARM {i} {t}")
        delay = w0 + a.seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        w1 = time.monotonic()
        cpu1 = {p: cpu_ns(p) for p in cpu0}
        reader1, busy1 = cpu_ns(s.reader.pid), busy_ns()
        mems = [m for m in (mem_kib(p) for p in pids) if m]
        hub_after = group_mem_kib(hub_group)
        # Key answers still on their way at the window's end.
        time.sleep(0.5)
        calls, keys, lead = s.stats()
        window = w1 - w0
        gen_cpu = sum(cpu1[p] - cpu0[p] for p in pids)
        hub_cpu = sum(cpu1[p] - cpu0[p] for p in hub_group)
        ours = gen_cpu + hub_cpu + (reader1 - reader0)
        others = max(0.0, (busy1 - busy0) - ours)
        firsts = [c["first_ns"] / 1e6 for c in ramp_calls.values() if c["first_ns"] >= 0]
        hub_growth_pss = (hub_after[1] - hub_before[1]) if a.mode == "hub" and hub_after and hub_before else 0
        hub_growth_uss = (hub_after[0] - hub_before[0]) if a.mode == "hub" and hub_after and hub_before else 0
        row = dict(
            kind="steady", mode=a.mode, calls=n, seconds=round(window, 1), alive=len(pids), died=n - len(pids), died_codes=dead,
            cpu_per_call=100.0 * (gen_cpu + hub_cpu) / 1e9 / window / n,
            hub_cpu_per_call=100.0 * hub_cpu / 1e9 / window / n,
            hub_cpu=100.0 * hub_cpu / 1e9 / window,
            reader_cpu=100.0 * (reader1 - reader0) / 1e9 / window,
            others_cpu=100.0 * others / 1e9 / window,
            pss_per_call=(statistics.mean(m[1] for m in mems) if mems else float("nan")) + hub_growth_pss / n,
            uss_per_call=(statistics.mean(m[0] for m in mems) if mems else float("nan")) + hub_growth_uss / n,
            hub_pss=hub_after[1] if hub_after else float("nan"),
            reads=sum(c["reads"] for c in calls.values()),
            short=sum(c["short"] for c in calls.values()),
            empty=sum(c["empty"] for c in calls.values()),
            lead_p50=hist_pct(lead, 0.5), lead_p99=hist_pct(lead, 0.99), lead_max=max(lead) if lead else float("nan"),
            first_p50=pct(firsts, 0.5), first_p95=pct(firsts, 0.95), first_max=max(firsts, default=float("nan")),
            first_n=len(firsts),
            key_p50=pct(keys, 0.5), key_p99=pct(keys, 0.99), key_max=max(keys, default=float("nan")),
            keys=len(keys), presses=presses,
            load=open("/proc/loadavg").read().split()[0],
        )
        return row
    finally:
        s.close()


def drop_caches():
    try:
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError as e:
        log(f"cold burst skipped: cannot drop the page cache ({e}); run as root")
        return False


def burst(a, tmp, cold, templates):
    s = Step(a, tmp, f"burst-{'cold' if cold else 'warm'}", templates)
    try:
        n = a.burst
        if cold and not drop_caches():
            return None
        log(f"burst of {n}, {'cold' if cold else 'warm'} cache")
        t0 = time.monotonic_ns()
        for i in range(n):
            s.start(i)
        spawned = (time.monotonic_ns() - t0) / 1e6
        time.sleep(3)
        calls, _, _ = s.stats()
        firsts = [c["first_ns"] / 1e6 for c in calls.values() if c["first_ns"] >= 0]
        return dict(kind="burst", mode=a.mode, calls=n, cache="cold" if cold else "warm",
                    first_p50=pct(firsts, 0.5), first_p95=pct(firsts, 0.95),
                    first_max=max(firsts, default=float("nan")), first_n=len(firsts), spawn_ms=spawned,
                    short=sum(c["short"] for c in calls.values()), reads=sum(c["reads"] for c in calls.values()))
    finally:
        s.close()


def kill_hub(a, tmp, n, templates, stop=False):
    """n calls held in hub mode, then the hub SIGKILLed (with `stop`:
    SIGSTOPped, hung, for its watchdog to kill): how long each call's
    audio stopped at its reader (the longest run of missing bytes),
    whether any stream ended, and how often each call heard its welcome
    (its own timeline, through `holdmix report`: a call taken over from
    its checkpoint does not hear it again)."""
    name = "stop" if stop else "kill"
    timelines = os.path.join(tmp, f"{name}{n}-timelines")
    s = Step(a, tmp, f"{name}{n}", templates, playlist=a.playlist_welcome, timelines=timelines)
    try:
        log(f"{n} call(s) held, then the hub {'stopped' if stop else 'killed'}")
        s.ramp(n)
        s.command("RESET")
        time.sleep(2.0)
        if stop:
            s.hub.send_signal(signal.SIGSTOP)
            try:
                # Its watchdog kills it (docs/hub-audio.md, "The watchdog").
                s.hub.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log("stop step: the watchdog did not kill the stopped hub in 10 s")
                s.hub.kill()
                s.hub.wait()
        else:
            s.hub.kill()
            s.hub.wait()
        time.sleep(max(5.0, min(a.seconds, 15.0)))
        calls, _, _ = s.stats()
        alive = len(s.pids())
        # Clients still `holdmix-shim` (a hub streams their call: the
        # standby's) against those that became `holdmix run` (standalone).
        hosted = sum(1 for p in s.pids() if exe_name(p) == "holdmix-shim")
    finally:
        s.close()
    gaps = [c["gap_ms"] for c in calls.values()]
    out = subprocess.run([a.bin, "-q", "report", timelines, "--json"], capture_output=True, text=True)
    welcomes = 0
    try:
        prompts = json.loads(out.stdout)["total"]["prompts"]
        welcomes = sum(v for k, v in prompts.items() if k.startswith("welcome"))
    except (ValueError, KeyError, TypeError):
        log(f"kill step: no report ({out.stderr.strip()[:200]})")
        welcomes = -1
    return dict(kind="kill", stop=stop, mode=a.mode, calls=n, alive=alive, hosted=hosted, standby=bool(a.standby), eof=sum(c["eof"] for c in calls.values()),
                gap_p50=pct(gaps, 0.5), gap_p99=pct(gaps, 0.99), gap_max=max(gaps, default=float("nan")),
                over_100=sum(1 for g in gaps if g > 100), welcomes=welcomes,
                short=sum(c["short"] for c in calls.values()), reads=sum(c["reads"] for c in calls.values()))


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def f1(x, unit=""):
    return "—" if x != x else f"{x:.1f}{unit}"


def table(rows):
    out = ["| mode | calls | CPU per call (% of a core; hub's share) | PSS / USS per call | short reads / reads "
           "| lead p50 / p99 / max | spawn → first frame p50 / p95 / max | key → answer p50 / p99 (keys) "
           "| beside it |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "steady":
            out.append(
                f"| {r['mode']} | {r['calls']} | {r['cpu_per_call']:.4f} % ({r['hub_cpu_per_call']:.4f} %) "
                f"| {r['pss_per_call']:.0f} / {r['uss_per_call']:.0f} KiB | {r['short']} / {r['reads']} "
                f"| {r['lead_p50']} / {r['lead_p99']} / {r['lead_max']} ms "
                f"| {f1(r['first_p50'])} / {f1(r['first_p95'])} / {f1(r['first_max'])} ms "
                f"| {f1(r['key_p50'])} / {f1(r['key_p99'])} ms ({r['keys']}/{r['presses']}) "
                f"| hub {r['hub_cpu']:.2f} %, readers {r['reader_cpu']:.2f} %, others {r['others_cpu']:.0f} %; "
                f"load {r['load']}; {r['died']} died"
                + (f" (exit {r['died_codes']})" if r["died"] else "") + " |")
        elif r["kind"] == "kill":
            out.append(
                f"| {r['mode']}{' + standby' if r.get('standby') else ''} "
                f"| {r['calls']}, hub {'SIGSTOPped' if r.get('stop') else 'SIGKILLed'} | — | — | {r['short']} / {r['reads']} | — | — | — "
                f"| gap at the reader p50 / p99 / max {f1(r['gap_p50'])} / {f1(r['gap_p99'])} / "
                f"{f1(r['gap_max'])} ms, {r['over_100']} calls over 100 ms; {r['eof']} streams ended, "
                f"{r['alive']} processes alive ({r.get('hosted', 0)} hosted by a hub after it); "
                f"welcomes heard {r['welcomes']} for {r['calls']} calls |")
        else:
            out.append(
                f"| {r['mode']} | burst of {r['calls']}, {r['cache']} cache | — | — | {r['short']} / {r['reads']} | — "
                f"| {f1(r['first_p50'])} / {f1(r['first_p95'])} / {f1(r['first_max'])} ms | — "
                f"| spawned in {r['spawn_ms']:.0f} ms |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the holdmix binary (release)")
    ap.add_argument("--reader", required=True, help="the built loadreader")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--mode", choices=["standalone", "hub"], default="standalone")
    ap.add_argument("--client", choices=["shim", "run"], default="shim", help="hub mode's per-call process")
    ap.add_argument("--calls", default="1,100,500,1000", help="comma-separated N")
    ap.add_argument("--seconds", type=float, default=30.0, help="measuring window per step")
    ap.add_argument("--rate", type=float, default=100.0, help="calls started per second in a step's ramp")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after the ramp before measuring")
    ap.add_argument("--keys", type=int, default=50, help="key presses per step (at most one per call)")
    ap.add_argument("--burst", type=int, default=50, help="calls spawned together (0: no burst)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-cache burst")
    ap.add_argument("--kill-hub", type=int, default=0,
                    help="hub mode: this many calls held, then the hub SIGKILLed (0: no such step)")
    ap.add_argument("--stop-hub", type=int, default=0,
                    help="hub mode: this many calls held, then the hub SIGSTOPped for its watchdog to kill (0: none)")
    ap.add_argument("--standby", action="store_true",
                    help="hub mode: a second hub with audio, named by every client (`--standby-hub`)")
    ap.add_argument("--hub-info", action="store_true",
                    help="the hubs log at their default level (info, as in production) instead of -q")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--png", help="draw CPU, memory and latency against N here")
    a = ap.parse_args()
    a.calls = [int(x) for x in a.calls.split(",") if x]
    a.bin = os.path.abspath(a.bin)
    if (a.kill_hub or a.stop_hub or a.standby) and a.mode != "hub":
        sys.exit("load: --kill-hub, --stop-hub and --standby need --mode hub")
    if not a.calls or min(a.calls) < 1 or max(a.calls + [a.burst, a.kill_hub, a.stop_hub]) > 8000:
        sys.exit("load: --calls and --burst take 1 to 8000 calls (the reader's table)")
    if a.mode == "hub":
        if not has_hub_audio(a.bin):
            sys.exit(f"load: {a.bin} has no hub-mode audio (`hub --audio`); hub mode needs issue 21's hub audio")
        a.shim = os.path.join(os.path.dirname(a.bin), "holdmix-shim")
        if a.client == "shim" and not os.access(a.shim, os.X_OK):
            sys.exit(f"load: no {a.shim}; build it (cargo build --release) or use --client run")
    restore = raise_limits(max(a.calls + [a.burst, a.kill_hub, a.stop_hub]))
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else a.tmp
    a.state = os.path.join(shm, f"holdmix-load-state.{os.getpid()}")
    os.makedirs(a.state)
    a.playlist = make_playlist(a.tmp)
    a.playlist_welcome = make_playlist(a.tmp, welcome=True)
    a.cache = os.path.join(a.tmp, "cache")
    for pl in (a.playlist, a.playlist_welcome):
        subprocess.run([a.bin, "-q", "cache", "warm", pl, "--cache-dir", a.cache], check=True,
                       stdout=subprocess.DEVNULL)
    # Freshly written files (a just-built binary, the cache) sit dirty in
    # the page cache and would count as Private_Dirty in a lone process.
    for path in [a.bin] + [os.path.join(d, f) for d, _, fs in os.walk(a.cache) for f in fs]:
        if os.path.isfile(path):
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    templates = Templates()
    rows = []
    try:
        for n in a.calls:
            rows.append(steady(a, a.tmp, n, templates))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        if a.kill_hub > 0:
            rows.append(kill_hub(a, a.tmp, a.kill_hub, templates))
        if a.stop_hub > 0:
            rows.append(kill_hub(a, a.tmp, a.stop_hub, templates, stop=True))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        if a.burst > 0:
            rows.append(burst(a, a.tmp, False, templates))
            if not a.no_cold:
                r = burst(a, a.tmp, True, templates)
                if r:
                    rows.append(r)
    finally:
        reap_all()
        if not os.environ.get("LOAD_KEEP"):
            shutil.rmtree(a.state, ignore_errors=True)
        for path, v in restore.items():
            with open(path, "w") as f:
                f.write(str(v))
    print(table(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    if a.png:
        loadplot.draw([r for r in rows if r["kind"] == "steady"], a.png)


if __name__ == "__main__":
    main()
