#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need on a fresh
# machine (scripts/test.sh runs it; .ci/run too, before clippy builds
# every feature). Installs nothing that is there already.
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
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
        apt-get update -qq
        apt-get install -y -qq "${need[@]}"
    }
fi

