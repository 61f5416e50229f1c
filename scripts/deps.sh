#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need on a fresh
# machine (scripts/test.sh runs it; .ci/run too, before clippy builds
# every feature). Installs nothing that is there already. Extra package
# names given as arguments are installed with the rest (test.sh: MariaDB).
# As root it runs apt-get itself; anyone else, through sudo.
set -euo pipefail

# Debian packages the tests use: sox (reference G.711 codec, audio checks)
# and its MP3 format module (soxi reads the sample MP3's duration); tzdata
# (time-of-day windows read the system's zones; "required" on Debian, but
# trimmed container images may lack it).
need=()
# The ALSA headers: the `speaker` feature (`holdmix play`, rodio over
# cpal) links libasound; clippy and the tests build every feature.
dpkg -s libasound2-dev >/dev/null 2>&1 || need+=(libasound2-dev)
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
need+=("$@")
[ ${#need[@]} -gt 0 ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "scripts/deps.sh: not root and no sudo; as root, run: apt-get install ${need[*]}" >&2
    exit 1
fi
apt() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"
}
# apt's own progress stays on screen: these take minutes on a fresh machine.
echo "scripts/deps.sh: installing ${need[*]}" >&2
# A fresh image has no package lists yet; old ones are refreshed only if
# the install fails with them.
if ! compgen -G '/var/lib/apt/lists/*Packages*' >/dev/null; then
    apt update -q
fi
if ! apt install -y -q "${need[@]}"; then
    echo "scripts/deps.sh: refreshing the package lists and trying again" >&2
    apt update -q
    apt install -y -q "${need[@]}"
fi
