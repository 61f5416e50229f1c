#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every test.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: sox (reference G.711 codec, audio checks)
# and its MP3 format module (soxi reads the sample MP3's duration); tzdata
# (time-of-day windows read the system's zones; "required" on Debian, but
# trimmed container images may lack it).
need=()
command -v sox >/dev/null 2>&1 || need+=(sox)
# ffmpeg: the reference G.722 codec (sox has none) for .g722 sounds and
# the mohqueue export's mohfile.9 (tests/codecs.rs, tests/mohqueue.rs).
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
dpkg -s libsox-fmt-mp3 >/dev/null 2>&1 || need+=(libsox-fmt-mp3)
[ -e /usr/share/zoneinfo/Europe/Moscow ] || need+=(tzdata)
# Shells that check `holdmix completions` (bash is there already) and groff
# (man-db's renderer) that checks `holdmix man`.
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
command -v groff >/dev/null 2>&1 || need+=(groff-base)
# The Debian package's test: systemd-analyze, -sysusers and -tmpfiles
# check its unit and make its directories; dpkg-deb unpacks it.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
        apt-get update -qq
        apt-get install -y -qq "${need[@]}"
    }
fi

# --- store: MariaDB -------------------------------------------------------
# The MySQL store's tests start throwaway MariaDB servers of their own
# (private datadir, socket and port; tests/common/mariadb.rs), so only the
# binaries are needed: a system service the package may start is not used.
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq mariadb-server >/dev/null 2>&1 || {
        apt-get update -qq
        apt-get install -y -qq mariadb-server
    }
fi
# --- end store: MariaDB ---------------------------------------------------

# cargo-deb builds the package under test (tests/install/package.rs). Kept
# in ~/.cargo/bin between runs; installing it takes about 3 minutes.
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "$CARGO_DEB_VERSION" ]; then
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

cargo test "$@"
