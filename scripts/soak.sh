#!/usr/bin/env bash
# Soak: N real `holdmix run` processes read the way Asterisk reads, with
# random events, for a given time; then many hours of one call's stream time
# rendered with random events. Prints Markdown tables (short reads, gaps,
# RSS, fds and threads over time; render memory over its run) and a verdict
# line; exit status 1 if anything looked wrong. See scripts/soak/soak.py.
#
# Usage: scripts/soak.sh [--calls N] [--seconds S] [--interval S]
#          [--events-per-minute E] [--render-hours H] [--seed N]
# Defaults: 20 calls for 300 s, a row every 30 s, 6 events per call per
# minute; 24 h of rendered stream time. HOLDMIX_BIN=path skips the release
# build; PLAYLIST=path (default playlists/demo.toml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TMP=$(mktemp -d "${TMPDIR:-/tmp}/holdmix-soak.XXXXXX")
cleanup() {
    local pid
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for c in cc python3; do
    command -v "$c" >/dev/null 2>&1 || { echo "soak: needs $c" >&2; exit 2; }
done
if [ -n "${HOLDMIX_BIN:-}" ]; then
    HM=$HOLDMIX_BIN
else
    cargo build --release --locked >&2
    HM=$PWD/target/release/holdmix
fi
PLAYLIST=${PLAYLIST:-$PWD/playlists/demo.toml}
cc -O2 -Wall -o "$TMP/reader" scripts/soak/reader.c
mkdir -p "$TMP/cache" "$TMP/work"
"$HM" --cache-dir "$TMP/cache" cache warm "$PLAYLIST" >&2
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo
python3 scripts/soak/soak.py "$HM" "$TMP/reader" "$PLAYLIST" "$TMP/cache" "$TMP/work" "$@"
