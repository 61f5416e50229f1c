#!/usr/bin/env python3
"""AMI load for N held calls, hub vs direct, from a real capture.

Asterisk sends every event to every manager session (unless the session set
a Filter, which needs the `system` permission, and then Asterisk still runs
every session's regular expression on every event). From the byte-exact
Asterisk 22.10.1 capture tests/ami/session-queue-dtmf.raw (two callers held
in a queue) this takes what one held call costs on the wire (its own
events, with the queue's), then prints, for N calls: AMI sessions, bytes
Asterisk sends, and filter evaluations, for a session per generator
(unfiltered / filtered) and for one `holdmix hub`.

Usage: scripts/bench/ami.py [N ...]   (default 10 100 500)
"""
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CALLERS = ["Local/200@test-00000000;2", "Local/200@test-00000001;2"]


def messages(raw):
    text = raw.decode("utf-8", "replace")
    _, rest = text.split("\r\n", 1)
    return [m + "\r\n\r\n" for m in rest.split("\r\n\r\n") if m.startswith("Event: ")]


def field(m, key):
    for line in m.split("\r\n"):
        if line.startswith(key + ": "):
            return line[len(key) + 2:]
    return None


def main():
    ns = [int(a) for a in sys.argv[1:]] or [10, 100, 500]
    with open(os.path.join(ROOT, "tests", "ami", "session-queue-dtmf.raw"), "rb") as f:
        events = messages(f.read())
    per_call = [0, 0]
    count = [0, 0]
    for m in events:
        for i, ch in enumerate(CALLERS):
            # Every event that names the caller's channel (either half of its
            # Local channel pair).
            if field(m, "Channel") and field(m, "Channel").startswith(ch[:-2]):
                per_call[i] += len(m.encode())
                count[i] += 1
    b = sum(per_call) / 2
    e = sum(count) / 2
    login = len(b"Action: Login\r\nUsername: holdmix\r\nSecret: x\r\nEvents: call,dtmf,agent\r\nActionID: 1\r\n\r\n")
    print(f"one held call: {e:.0f} events, {b / 1024:.1f} KiB on the wire (from the capture)")
    print()
    print("| held calls | setup | AMI sessions | bytes Asterisk sends | filter evaluations |")
    print("|---|---|---|---|---|")
    for n in ns:
        rows = [
            ("a session per call", n, n * n * b, 0),
            ("a session per call, with Filter", n, n * b, n * n * e),
            ("`holdmix hub`", 1, n * b, 0),
        ]
        for name, sessions, sent, evals in rows:
            print(f"| {n} | {name} | {sessions} | {human(sent)} | {evals:,.0f} |")
    print()
    print(f"(logins: {login} bytes per session per connection, not counted)")


def human(n):
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}"
        n /= 1024


if __name__ == "__main__":
    main()
