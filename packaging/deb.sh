#!/usr/bin/env bash
# Builds the Debian package (cargo-deb; metadata in Cargo.toml's
# [package.metadata.deb]) into target/debian/, with the manual pages and
# shell completions the binary generates.
# Usage: packaging/deb.sh [--ci] [cargo-deb args, e.g. -o DIR]
#   --ci: package the debug binary `cargo test` already built (no release
#         build: minutes saved in CI), with fast compression. Not for release.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
if [ "${1:-}" = "--ci" ]; then
    shift
    # cargo-deb calls dev builds unsupported (a warning in 3.8): fine here,
    # the package is only unpacked and checked.
    profile=(--profile dev --fast)
    bin=$target/debug/holdmix
else
    cargo build --release --locked
    # holdmix-shim is linked static and not position-independent: its
    # memory is paid once per held call (docs/shim.md). Flags after `--`
    # reach the shim's own crate only; the library is not built again.
    cargo rustc --release --locked --bin holdmix-shim -- \
        -C target-feature=+crt-static -C relocation-model=static
    profile=()
    bin=$target/release/holdmix
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
