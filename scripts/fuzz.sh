#!/usr/bin/env bash
# Runs holdmix's fuzz targets (fuzz/, cargo-fuzz on nightly) for a given time
# each. Not part of the test suite. See docs/testing.md, "Fuzzing".
#
# Usage: scripts/fuzz.sh TARGET|all SECONDS [JOBS]
#   TARGET  one of: playlist ami audio realtime billing_answer billing_php event_line plan_answer
#   SECONDS how long each target runs (600 for the 10-minute runs)
#   JOBS    parallel libFuzzer jobs per target (default 1; CPU is shared)
#
# New inputs go to fuzz/work/corpus/TARGET (not committed), seeded from the
# committed fuzz/corpus/TARGET; a crash is saved in fuzz/artifacts/TARGET/.
# Each run's last status line is appended to fuzz/work/runs.log.
# `scripts/fuzz.sh cmin TARGET` folds the working corpus into the committed
# one, minimised.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

targets=(playlist ami audio realtime billing_answer billing_php event_line plan_answer)
command -v cargo-fuzz >/dev/null 2>&1 || {
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
}
# -s none: the targets reach only safe Rust of holdmix and its crates, and
# AddressSanitizer would cost a full instrumented rebuild of every crate for
# little; -a: debug assertions on, so an overflow is a crash.
build=(cargo +nightly fuzz build -O -a -s none)
run_opts=(-O -a -s none)

if [ "${1:-}" = cmin ]; then
    t=${2:?target}
    mkdir -p "work/corpus/$t" "corpus/$t"
    cp -n "work/corpus/$t"/* "corpus/$t"/ 2>/dev/null || true
    nice cargo +nightly fuzz cmin "${run_opts[@]}" "$t" "corpus/$t" -- -max_len=65536
    echo "corpus/$t: $(ls "corpus/$t" | wc -l) files, $(du -sh "corpus/$t" | cut -f1)"
    exit 0
fi

which=${1:?"usage: $0 TARGET|all SECONDS [JOBS]"}
secs=${2:?"usage: $0 TARGET|all SECONDS [JOBS]"}
jobs=${3:-1}
[ "$which" = all ] && set -- "${targets[@]}" || set -- "$which"

nice "${build[@]}"
mkdir -p work
failed=0
for t in "$@"; do
    mkdir -p "work/corpus/$t" "corpus/$t" "artifacts/$t"
    log="work/$t.log"
    echo "== $t for ${secs}s"
    # -timeout: one input taking 10 s is a finding (a hang), not a pause.
    # -rss_limit_mb: an input that makes holdmix grow past 2 GiB is one too.
    # -max_len: playlists, AMI reads and audio headers fit in 64 KiB.
    par=()
    [ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
    status=0
    nice cargo +nightly fuzz run "${run_opts[@]}" "$t" "work/corpus/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        "${par[@]}" -print_final_stats=1 >"$log" 2>&1 || status=$?
    stats=$(grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tail -2 | tr '\n' ' ')
    echo "$(date -u +%FT%TZ) $t ${secs}s exit=$status $stats" | tee -a work/runs.log
    if [ "$status" -ne 0 ]; then
        echo "$t: crash or hang; see $log and artifacts/$t/" >&2
        failed=1
    fi
done
exit "$failed"
