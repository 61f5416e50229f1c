#!/usr/bin/env bash
# Benchmarks holdmix and prints a Markdown table (metric | holdmix | target |
# notes) plus one line describing the machine, ready to paste into README.
# Takes about three and a half minutes (plus any build); everything lives in a `mktemp -d` directory
# (a few MB) that is removed on exit, along with every child process.
#
# How each number is measured (scripts/bench/measure.py does the timing):
#  1. Render speed: `holdmix render playlists/demo.toml --duration 3600s
#     -o /dev/null --format F` with a cache warmed beforehand by
#     `holdmix cache warm` (slin + slin16); best wall time of 3 runs, reported
#     as 3600 s / wall seconds, for F = slin, slin16, ulaw.
#  2. Steady-state CPU: in each of 3 rounds, 5 `holdmix run --playlist
#     playlists/demo.toml` (warm cache) and 5 copies of scripts/bench/floor.c
#     (sleep to start + n×40 ms with clock_nanosleep(TIMER_ABSTIME), write 640
#     zero bytes) run side by side, started at random phases, each read by
#     scripts/bench/reader.c the way Asterisk reads: every 40 ms one blocking
#     read() of exactly 640 bytes. CPU = on-CPU time of all a process's
#     threads (/proc/PID/task/*/schedstat, ns resolution; utime+stime from
#     /proc/PID/stat in the notes) over a 20 s window that starts 2 s into
#     the round, as % of one core, averaged per kind over all rounds. The
#     ratio holdmix / floor is the figure of merit (a single pair swings by
#     ±40 % on a VM, with what else wakes in the same instant, and one set of
#     phases by ±15 %; the per-round and pairwise ratios are in the notes). The readers
#     also count short reads (Asterisk would discard them), underruns (less
#     than 640 bytes queued at read time) and the lead queued before each read.
#  3. Private memory: USS = Private_Clean + Private_Dirty from
#     /proc/PID/smaps_rollup of a lone `run` 5 s after its start (the cache
#     files and the binary are fsync'ed first so fresh page-cache pages don't
#     show as dirty). A lone holdmix owns its binary's text and the cache
#     pages it touched, so the USS of a second `run` started beside it (5 s
#     after its start) is reported too: the marginal cost of one more call.
#  4. Start → first frame: perf_counter() just before subprocess.Popen (stdout
#     a pipe) to the return of a blocking 1-byte read; median of 20; each
#     process is then sent SIGHUP. Same for the floor writer (exec baseline),
#     and for a respawn: `run --uniqueid` after a process of the same call
#     ran for a second and left its checkpoint.
#  4b. Realtime lookups: a `holdmix hub --realtime` answering 5000 lookups of
#     the captured res_config_curl shape over 10 keep-alive connections;
#     p50, p99 and max of request-to-whole-answer.
#  5. MP3 decode: a 3-minute 44.1 kHz stereo 128 kb/s MP3 (tones + noise,
#     made once with sox | ffmpeg), `holdmix cache warm` of a one-track
#     playlist into an empty cache dir; best of 3, whole process wall time.
#  6. Exit latency: a `holdmix run` read by reader.c for 0.5 s, then SIGHUP;
#     time from kill() to waitpid() returning; median of 10.
#  7. AMI load for 10, 100 and 500 held calls, a session per generator vs
#     one `holdmix hub` (scripts/bench/ami.py): computed from what one held
#     call costs on the wire in the byte-exact Asterisk 22 capture
#     tests/ami/session-queue-dtmf.raw, since Asterisk sends every event to
#     every session (a Filter narrows the bytes but costs a regex per event
#     per session).
#
# Environment: HOLDMIX_BIN=path skips `cargo build --release`;
# BENCH_CPU_SECONDS (60, split between the rounds), BENCH_CPU_ROUNDS (3),
# BENCH_CPU_PAIRS (5), BENCH_FIRST_RUNS (20),
# BENCH_EXIT_RUNS (10).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

TMP=$(mktemp -d "${TMPDIR:-/tmp}/holdmix-bench.XXXXXX")
cleanup() {
    local pid
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { echo "bench: $*" >&2; }

# --- tools ------------------------------------------------------------------
missing=()
for c in sox ffmpeg; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
fi
for c in cc python3 sox ffmpeg; do
    command -v "$c" >/dev/null 2>&1 || { log "needs $c"; exit 1; }
done

# --- binaries ---------------------------------------------------------------
if [ -n "${HOLDMIX_BIN:-}" ]; then
    HM=$HOLDMIX_BIN
else
    log "cargo build --release"
    cargo build --release --quiet >&2
    HM=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/holdmix
fi
[ -x "$HM" ] || { log "no binary at $HM"; exit 1; }
cc -O2 -Wall -o "$TMP/floor" scripts/bench/floor.c
cc -O2 -Wall -o "$TMP/reader" scripts/bench/reader.c

# --- inputs -----------------------------------------------------------------
PLAYLIST=$ROOT/playlists/demo.toml
CACHE=$TMP/cache
log "warming the cache"
"$HM" cache warm "$PLAYLIST" --format slin --format slin16 --cache-dir "$CACHE" -q >/dev/null

log "making a 3-minute 44.1 kHz stereo MP3"
# Raw PCM through a pipe: no 30 MB WAV on disk. Two sweeping tones with
# tremolo, plus quiet pink noise, so the encoder has real content.
sox -R -n -r 44100 -c 2 -b 16 -e signed -t raw - \
    synth 180 sine 110-880 sine 165-660 synth 180 pinknoise mix tremolo 3 40 vol 0.5 |
    ffmpeg -hide_banner -loglevel error -nostdin -f s16le -ar 44100 -ac 2 -i - \
        -c:a libmp3lame -b:a 128k "$TMP/tone.mp3"
mp3_bytes=$(stat -c %s "$TMP/tone.mp3")
[ "$mp3_bytes" -lt 4000000 ] || { log "MP3 unexpectedly large: $mp3_bytes bytes"; exit 1; }
printf '[music]\ntracks = ["tone.mp3"]\n' >"$TMP/tone.toml"

# --- measure ----------------------------------------------------------------
log "measuring (about a minute)"
python3 scripts/bench/measure.py "$HM" "$TMP/floor" "$TMP/reader" "$PLAYLIST" "$CACHE" \
    "$TMP/tone.toml" "$TMP"

echo
python3 scripts/bench/ami.py 10 100 500

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo
echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem RAM, Linux $(uname -r); holdmix $("$HM" --version | awk '{print $2}') ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty'))."
