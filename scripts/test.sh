#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every test.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages (sox, shells, systemd, ALSA headers…): scripts/deps.sh,
# with MariaDB's binaries: the MySQL store's tests start throwaway MariaDB
# servers of their own (private datadir, socket and port;
# tests/common/mariadb.rs), so a system service the package may start is
# not used.
store=()
# --- store: MariaDB -------------------------------------------------------
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    store+=(mariadb-server)
fi
# --- end store: MariaDB ---------------------------------------------------
scripts/deps.sh "${store[@]}"

# cargo-deb builds the package under test (tests/install/package.rs). Kept
# in ~/.cargo/bin between runs; installing it takes about 3 minutes.
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "$CARGO_DEB_VERSION" ]; then
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

# Every dependency's sources, for every platform: tests/msrv.rs reads their
# `rust-version` with `cargo metadata --offline`, and a build fetches only
# this platform's (a fresh machine lacked the Windows and Android crates).
cargo fetch --locked

# Every feature: `holdmix play` (speaker) is tested on ALSA's null output.
cargo test --features speaker "$@"
