#!/usr/bin/env bash
# The load harness: N held calls, each read the way Asterisk reads, events
# through a `holdmix hub` from a replaying AMI server; prints a Markdown
# table of CPU, memory, short reads, lead, first frame and key latency per
# N (docs/load.md says what each column means and how it is measured).
#
# Usage: scripts/load.sh [--mode standalone|hub] [--client shim|run]
#          [--calls 1,100,500,1000] [--seconds 30] [--rate 100] [--keys 50]
#          [--burst 50] [--no-cold] [--kill-hub N] [--stop-hub N] [--standby]
#          [--hub-info]
#          [--png FILE] [--json FILE]
# Needs: a release build (`cargo build --release`; or HOLDMIX_BIN=path),
# python3 and a C compiler. Run as root for the cold-cache burst (it drops
# the page cache) and for more than about 250 calls where the fd or pid
# limits are low (raised, bounded, inside the run and restored after).
# Everything lives in a `mktemp -d` directory removed on exit, along with
# every child process, and the calls' checkpoints in
# /dev/shm/holdmix-load-state.PID (tmpfs, as production's default) are
# removed too (LOAD_KEEP=1 keeps both: the hub's and the generators' logs
# are in the directory).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { echo "load: $*" >&2; }

for c in cc python3; do
    command -v "$c" >/dev/null 2>&1 || { log "needs $c"; exit 1; }
done
HM=${HOLDMIX_BIN:-}
if [ -z "$HM" ]; then
    target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null ||
        echo "$ROOT/target")
    HM=$target/release/holdmix
fi
[ -x "$HM" ] || { log "no binary at $HM: run \`cargo build --release\` first (or set HOLDMIX_BIN)"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/holdmix-load.XXXXXX")
PY=
cleanup() {
    # load.py ends its own children; this is for an interrupted run.
    if [ -n "$PY" ]; then kill "$PY" 2>/dev/null || true; wait "$PY" 2>/dev/null || true; fi
    if [ -n "${LOAD_KEEP:-}" ]; then log "kept $TMP"; else rm -rf -- "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

cc -O2 -Wall -o "$TMP/loadreader" scripts/bench/loadreader.c
python3 scripts/bench/load.py --bin "$HM" --reader "$TMP/loadreader" --tmp "$TMP" "$@" &
PY=$!
wait "$PY"
PY=

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo
echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem RAM, Linux $(uname -r); holdmix $("$HM" --version | awk '{print $2}') ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
