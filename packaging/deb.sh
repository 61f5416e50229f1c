#!/usr/bin/env bash
# Builds the Debian package (cargo-deb; metadata in Cargo.toml's
# [package.metadata.deb]) into target/debian/, with the manual pages and
# shell completions the binary generates.
# Usage: packaging/deb.sh [--ci] [cargo-deb args, e.g. -o DIR]
#   --ci: package the debug binary `cargo test` already built (no release
#         build: minutes saved in CI), with fast compression. Not for release.
# On x86_64 the release binary is built without PIE (below; HOLDMIX_PIE=1
# for the default).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
if [ "${1:-}" = "--ci" ]; then
    shift
    # cargo-deb calls dev builds unsupported (a warning in 3.8): fine here,
    # the package is only unpacked and checked.
    profile=(--profile dev --fast)
    bin=$target/debug/holdmix
elif [ "$(uname -m)" = x86_64 ] && [ -z "${HOLDMIX_PIE:-}" ]; then
    # A non-PIE binary (docs/benchmarks.md, "Position-independent or
    # not"): the loader has no relocations to write into every process's
    # copy of the binary's data, so each held call costs about 300 KiB
    # less. `--target` keeps the flag off build scripts and proc-macros
    # (host code, which must stay position-independent); cargo-deb then
    # reads the binary from target/<triple>/release. HOLDMIX_PIE=1 builds
    # the default position-independent binary instead.
    triple=x86_64-unknown-linux-gnu
    export RUSTFLAGS="${RUSTFLAGS:-} -C relocation-model=static"
    cargo build --release --locked --target "$triple"
    profile=(--target "$triple")
    bin=$target/$triple/release/holdmix
else
    cargo build --release --locked
    profile=()
    bin=$target/release/holdmix
fi
if [ "${profile[0]:-}" != --profile ]; then
    # holdmix-shim is linked static and not position-independent: its
    # memory is paid once per held call (docs/shim.md). Flags after `--`
    # reach the shim's own crate only; the library is not built again.
    cargo rustc --release --locked "${profile[@]}" --bin holdmix-shim -- \
        -C target-feature=+crt-static -C relocation-model=static
fi
gen=target/packaging
rm -rf "$gen"
mkdir -p "$gen/man" "$gen/completions" "$gen/moh"
"$bin" man --dir "$gen/man"
"$bin" completions bash >"$gen/completions/holdmix"
"$bin" completions zsh >"$gen/completions/_holdmix"
"$bin" completions fish >"$gen/completions/holdmix.fish"
# Asterisk's [default] class plays this with no process (mode=files; see
# packaging/asterisk/musiconhold.conf): the sample music, one pass (103 s).
"$bin" --cache-dir "$gen/cache" render packaging/fallback.toml \
    --duration 103s --format ulaw -o "$gen/moh/holdmix.ulaw"
exec cargo deb --no-build --locked "${profile[@]}" "$@"
