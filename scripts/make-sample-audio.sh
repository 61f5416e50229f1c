#!/usr/bin/env bash
# Generate the sample audio committed in sample-audio/:
#   - four synthesized music beds (WAV, MP3, FLAC, Ogg Vorbis) made with sox `synth`
#   - five spoken English prompts made with espeak-ng and resampled with sox
#
# Needs: sox (with libsox-fmt-mp3), espeak-ng, ffmpeg (for MP3/Ogg/FLAC encoding).
# Output is repeatable: sox runs with -R and ffmpeg with bitexact flags.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=$ROOT/sample-audio

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
have_tools() {
    local c
    for c in sox soxi espeak-ng ffmpeg ffprobe; do
        command -v "$c" >/dev/null 2>&1 || return 1
    done
}

install_tools() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    local pkgs=(sox libsox-fmt-mp3 espeak-ng ffmpeg)
    local waited=0
    while :; do
        have_tools && return 0
        if "${sudo[@]}" apt-get install -y "${pkgs[@]}"; then
            return 0
        fi
        # Another process may be holding the apt/dpkg lock (e.g. installing
        # these very packages and logging to /tmp/apt.log). Wait for it, at
        # most 10 minutes.
        if [ -f /tmp/apt.log ] && ! grep -q done /tmp/apt.log && [ "$waited" -lt 600 ]; then
            echo "apt seems busy; waiting for /tmp/apt.log to report 'done' ($waited s)..." >&2
            sleep 10
            waited=$((waited + 10))
            continue
        fi
        if [ "$waited" -lt 600 ] && pgrep -x 'apt-get|apt|dpkg' >/dev/null 2>&1; then
            echo "apt/dpkg running; waiting ($waited s)..." >&2
            sleep 10
            waited=$((waited + 10))
            continue
        fi
        have_tools && return 0
        "${sudo[@]}" apt-get update
        "${sudo[@]}" apt-get install -y "${pkgs[@]}"
        return 0
    done
}

if ! have_tools; then
    echo "sox / espeak-ng / ffmpeg missing, installing..." >&2
    install_tools
fi
have_tools || { echo "error: required tools still missing" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

SR=44100
# repeatable sox (seeded dither / noise / pluck excitation)
SOX=(sox -R -V1)
FLOAT=(-e floating-point -b 32)

# ---------------------------------------------------------------------------
# Tiny sequencer on top of `sox synth`
# ---------------------------------------------------------------------------
# ev DUR TYPE GAIN PAN DETUNE_CENTS ATTACK RELEASE NOTE...
#   Appends one event (a chord or single note) to the current layer.
#   NOTE is a MIDI note number, `fA:B` for a raw sox frequency/sweep spec,
#   or `r` for a rest. PAN is -1 (left) .. 1 (right). The right channel is
#   detuned by DETUNE_CENTS so the result is genuinely stereo.
EVS=()
EVN=0
ev() {
    local dur=$1 type=$2 gain=$3 pan=$4 det=$5 att=$6 rel=$7
    shift 7
    local out="$TMP/ev$((EVN++)).wav"
    if [ "$1" = r ]; then
        "${SOX[@]}" -r $SR -c 2 -n "${FLOAT[@]}" "$out" trim 0 "$dur"
        EVS+=("$out")
        return
    fi
    local k=$#
    local -a freqs args=()
    # left frequencies then right frequencies (detuned)
    read -r -a freqs <<<"$(printf '%s\n' "$@" | awk -v det="$det" '
        { n[NR] = $1 }
        END {
            for (p = 0; p < 2; p++)
                for (i = 1; i <= NR; i++) {
                    if (n[i] ~ /^f/) { printf "%s ", substr(n[i], 2); continue }
                    f = 440 * 2 ^ ((n[i] - 69) / 12)
                    if (p == 1) f *= 2 ^ (det / 1200)
                    printf "%.3f ", f
                }
        }')"
    local f
    for f in "${freqs[@]}"; do
        case $type in
            *noise) args+=("$type") ;;
            *) args+=("$type" "$f") ;;
        esac
    done
    local lr
    lr=$(awk -v g="$gain" -v p="$pan" -v k="$k" 'BEGIN {
        l = (p > 0) ? 1 - p : 1; r = (p < 0) ? 1 + p : 1
        printf "%.4f %.4f", g * l / k, g * r / k }')
    local gl=${lr% *} gr=${lr#* }
    local left="" right="" i
    for ((i = 1; i <= k; i++)); do
        left+="${left:+,}${i}v${gl}"
        right+="${right:+,}$((i + k))v${gr}"
    done
    "${SOX[@]}" -r $SR -c $((2 * k)) -n -c 2 "${FLOAT[@]}" "$out" \
        synth "$dur" "${args[@]}" remix "$left" "$right" fade q "$att" "$dur" "$rel"
    EVS+=("$out")
}
rest() { ev "$1" x 0 0 0 0 0 r; }

# layer_end OUT [sox effects...] : concatenate the events collected so far
layer_end() {
    local out=$1
    shift
    "${SOX[@]}" -G "${EVS[@]}" "${FLOAT[@]}" "$out" "$@"
    rm -f "${EVS[@]}"
    EVS=()
}

# master LEN OUT.wav LAYER... : mix, trim, 50 ms fades, peak -6 dBFS, 16-bit
master() {
    local len=$1 out=$2
    shift 2
    "${SOX[@]}" -m "$@" -r $SR -c 2 -b 16 -e signed-integer "$out" \
        trim 0 "$len" fade q 0.05 "$len" 0.05 norm -6
}

encode() { # encode IN OUT ffmpeg-codec-args...
    local in=$1 out=$2
    shift 2
    ffmpeg -nostdin -hide_banner -loglevel error -y -i "$in" \
        -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
        -ar $SR -ac 2 "$@" "$out"
}

# ---------------------------------------------------------------------------
# Bed 1: calm — C major, 60 bpm, sine pad + triangle arpeggio, 8 s
# ---------------------------------------------------------------------------
bed1() {
    local pads=("48 55 64 71" "45 52 60 67" "41 53 57 64" "43 50 59 65")
    local arps=("72 76 79 83" "69 72 76 79" "65 69 72 76" "67 71 74 77")
    local bass=("36 43" "33 40" "41 36" "31 38")
    local c i a order=(0 2 1 3)
    for c in 0 1 2 3; do
        # shellcheck disable=SC2086
        ev 2 sine 0.55 0 5 0.3 0.6 ${pads[$c]}
    done
    layer_end "$TMP/b1-pad.wav" lowpass 2500
    for c in 0 1 2 3; do
        read -r -a a <<<"${arps[$c]}"
        for i in 0 1 2 3; do
            local pan=-0.45
            [ $((i % 2)) -eq 1 ] && pan=0.45
            ev 0.5 triangle 0.35 $pan 3 0.01 0.4 "${a[${order[$i]}]}"
        done
    done
    layer_end "$TMP/b1-arp.wav" lowpass 3000 reverb 40 50 70
    for c in 0 1 2 3; do
        read -r -a a <<<"${bass[$c]}"
        ev 1 sine 0.5 0 0 0.02 0.5 $((a[0] + 12))
        ev 1 sine 0.4 0 0 0.02 0.5 $((a[1] + 12))
    done
    layer_end "$TMP/b1-bass.wav"
    master 8 "$OUT/music/bed-1-calm.wav" "$TMP/b1-pad.wav" "$TMP/b1-arp.wav" "$TMP/b1-bass.wav"
}

# ---------------------------------------------------------------------------
# Bed 2: bright — D major, 120 bpm, pluck arpeggio + bass + melody, 40 s
# ---------------------------------------------------------------------------
bed2() {
    local pads=("62 66 69" "61 64 69" "62 66 71" "62 67 71")
    local arps=("74 78 81 86" "73 76 81 85" "71 74 78 83" "71 74 79 83")
    local roots=(50 45 47 43)
    local patterns=("0 1 2 3 2 1 0 1" "0 2 1 3 0 2 1 3" "3 2 1 0 1 2 3 2" "0 1 2 3 3 2 1 0" "0 1 2 3 2 1 0 1")
    local mel1=(78 76 74 76 76 73 69 73 74 76 78 81 79 78 76 74)
    local mel2=(81 78 74 78 76 73 76 81 78 74 71 74 79 76 74 73)
    local cyc c i n p a pat
    # pad
    for cyc in 0 1 2 3 4; do
        for c in 0 1 2 3; do
            # shellcheck disable=SC2086
            ev 2 triangle 0.3 0 7 0.05 0.4 ${pads[$c]}
        done
    done
    layer_end "$TMP/b2-pad.wav" lowpass 3000
    # arpeggio, 8th notes
    for cyc in 0 1 2 3 4; do
        read -r -a pat <<<"${patterns[$cyc]}"
        for c in 0 1 2 3; do
            read -r -a a <<<"${arps[$c]}"
            for i in 0 1 2 3 4 5 6 7; do
                p=-0.5
                [ $((i % 2)) -eq 1 ] && p=0.5
                ev 0.25 pluck 0.5 $p 0 0.002 0.05 "${a[${pat[$i]}]}"
            done
        done
    done
    layer_end "$TMP/b2-arp.wav" lowpass 3400
    # bass: dotted rhythm root, root, fifth, octave
    for cyc in 0 1 2 3 4; do
        for c in 0 1 2 3; do
            n=${roots[$c]}
            ev 0.75 pluck 0.7 0 0 0.002 0.1 "$n"
            ev 0.25 pluck 0.6 0 0 0.002 0.05 "$n"
            ev 0.5 pluck 0.6 0 0 0.002 0.1 $((n + 7))
            ev 0.5 pluck 0.6 0 0 0.002 0.1 $((n + 12))
        done
    done
    layer_end "$TMP/b2-bass.wav" lowpass 2000
    # melody in cycles 1 and 3
    for cyc in 0 1 2 3 4; do
        case $cyc in
            1) for n in "${mel1[@]}"; do ev 0.5 sine 0.45 0.2 4 0.02 0.2 "$n"; done ;;
            3) for n in "${mel2[@]}"; do ev 0.5 sine 0.45 0.2 4 0.02 0.2 "$n"; done ;;
            *) rest 8 ;;
        esac
    done
    layer_end "$TMP/b2-mel.wav" reverb 30 50 60
    master 40 "$TMP/bed2.wav" "$TMP/b2-pad.wav" "$TMP/b2-arp.wav" "$TMP/b2-bass.wav" "$TMP/b2-mel.wav"
    encode "$TMP/bed2.wav" "$OUT/music/bed-2-bright.mp3" -c:a libmp3lame -b:a 64k
}

# ---------------------------------------------------------------------------
# Bed 3: soft — F major, slow, triangle pad + sine melody, 15 s
# ---------------------------------------------------------------------------
bed3() {
    local pads=("53 57 60 65" "50 57 62 65" "50 53 58 62" "52 55 60 64" "55 58 62 65" "48 55 58 64")
    local bass=(41 38 46 48 43 48)
    local mel=(69 72 74 72 70 74 72 67 70 74 72 70)
    local c n
    for c in 0 1 2 3 4 5; do
        # shellcheck disable=SC2086
        ev 2.5 triangle 0.45 0 8 0.6 0.9 ${pads[$c]}
    done
    layer_end "$TMP/b3-pad.wav" lowpass 2000 reverb 50 50 80
    for c in 0 1 2 3 4 5; do
        ev 2.5 sine 0.45 0 2 0.1 1.0 "${bass[$c]}"
    done
    layer_end "$TMP/b3-bass.wav"
    for n in "${mel[@]}"; do
        ev 1.25 sine 0.4 -0.3 3 0.08 0.5 "$n"
    done
    layer_end "$TMP/b3-mel.wav" reverb 60 50 90
    master 15 "$TMP/bed3.wav" "$TMP/b3-pad.wav" "$TMP/b3-bass.wav" "$TMP/b3-mel.wav"
    encode "$TMP/bed3.wav" "$OUT/music/bed-3-soft.flac" -c:a flac -compression_level 8 -sample_fmt s16
}

# ---------------------------------------------------------------------------
# Bed 4: pulse — A minor, 96 bpm, kick + saw bass + square stabs + lead, 40 s
# ---------------------------------------------------------------------------
bed4() {
    local chords=("57 60 64" "57 60 65" "55 60 64" "55 59 62")
    local roots=(45 41 48 43)
    local lead1=(76 72 69 72 77 72 69 72 76 72 67 72 74 71 67 71)
    local lead2=(81 76 72 76 81 77 72 77 79 76 72 76 79 74 71 74)
    local e=0.3125 bar cyc c i n p g
    # kick on every beat
    for ((bar = 0; bar < 16; bar++)); do
        for i in 0 1 2 3; do
            ev 0.18 sine 0.9 0 0 0.002 0.12 f150:45
            rest 0.445
        done
    done
    layer_end "$TMP/b4-kick.wav"
    # hats on 8ths
    for ((bar = 0; bar < 16; bar++)); do
        for i in 0 1 2 3 4 5 6 7; do
            p=0.3 g=0.12
            [ $((i % 2)) -eq 1 ] && { p=-0.3; g=0.25; }
            ev 0.04 whitenoise "$g" "$p" 0 0.001 0.035 f0
            rest 0.2725
        done
    done
    layer_end "$TMP/b4-hat.wav" sinc 3000-9000
    # saw bass on 8ths
    for cyc in 0 1 2 3; do
        for c in 0 1 2 3; do
            n=${roots[$c]}
            for i in 0 1 2 3 4 5 6 7; do
                case $i in 2 | 6) ev $e sawtooth 0.55 0 0 0.005 0.15 $((n + 12)) ;;
                    *) ev $e sawtooth 0.55 0 0 0.005 0.15 "$n" ;;
                esac
            done
        done
    done
    layer_end "$TMP/b4-bass.wav" lowpass 900 lowpass 900
    # square chord stabs on the off-beats
    for cyc in 0 1 2 3; do
        for c in 0 1 2 3; do
            for i in 0 1 2 3; do
                rest $e
                p=-0.35
                [ $((i % 2)) -eq 1 ] && p=0.35
                # shellcheck disable=SC2086
                ev $e square 0.35 $p 6 0.005 0.2 ${chords[$c]}
            done
        done
    done
    layer_end "$TMP/b4-stab.wav" lowpass 2500
    # triangle lead in the second half
    for cyc in 0 1 2 3; do
        case $cyc in
            2) for n in "${lead1[@]}"; do ev 0.625 triangle 0.4 0.15 5 0.01 0.3 "$n"; done ;;
            3) for n in "${lead2[@]}"; do ev 0.625 triangle 0.4 0.15 5 0.01 0.3 "$n"; done ;;
            *) rest 10 ;;
        esac
    done
    layer_end "$TMP/b4-lead.wav" lowpass 3200 reverb 30 50 60
    master 40 "$TMP/bed4.wav" "$TMP/b4-kick.wav" "$TMP/b4-hat.wav" "$TMP/b4-bass.wav" "$TMP/b4-stab.wav" "$TMP/b4-lead.wav"
    encode "$TMP/bed4.wav" "$OUT/music/bed-4-pulse.ogg" -c:a libvorbis -q:a 2
}

# ---------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------
speak() { # speak NAME TEXT RATE PAD: espeak-ng, trimmed, into prompts/en/NAME.wav
    local name=$1 text=$2 rate=$3 pad=$4
    local raw="$TMP/p-$name-raw.wav" trimmed="$TMP/p-$name-trim.wav"
    espeak-ng -v en-us -s 150 -w "$raw" "$text"
    # cut leading and trailing silence (reverse trick for the end)
    "${SOX[@]}" "$raw" "${FLOAT[@]}" "$trimmed" \
        silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse
    # fade in/out, keep a little silence either side, mono 16-bit
    "${SOX[@]}" "$trimmed" -r "$rate" -c 1 -b 16 -e signed-integer "$OUT/prompts/en/$name.wav" \
        norm -3 fade q 0.005 -0 0.03 pad "$pad" "$pad" rate -v "$rate"
}

# Whole sentences at 16 kHz (a wideband `slin16` call hears them in full).
prompt() { speak "$1" "$2" 16000 0.05; }

# Short prompts and spoken-value tokens: 8 kHz is all a phone line carries.
token() { speak "$1" "$2" 8000 0.03; }

# Advices: longer texts, as Ogg Vorbis at 16 kHz (small, and a second decoder path).
advice() { # advice GROUP NAME TEXT
    local group=$1 name=$2 text=$3
    local raw="$TMP/a-$name-raw.wav" trimmed="$TMP/a-$name-trim.wav" wav="$TMP/a-$name.wav"
    mkdir -p "$OUT/advice/en/$group"
    espeak-ng -v en-us -s 150 -w "$raw" "$text"
    "${SOX[@]}" "$raw" "${FLOAT[@]}" "$trimmed" \
        silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse
    "${SOX[@]}" "$trimmed" -r 16000 -c 1 -b 16 -e signed-integer "$wav" \
        norm -3 fade q 0.005 -0 0.03 pad 0.05 0.05 rate -v 16000
    ffmpeg -hide_banner -loglevel error -nostdin -y -i "$wav" -fflags +bitexact -c:a libvorbis -q:a 1 \
        "$OUT/advice/en/$group/$name.ogg"
}

# Word recordings for spoken values, one file per speech token, and the
# sound map that names them (src/speech: `holdmix say --list` shows tokens).
word() { # word LANG TOKEN TEXT
    local lang=$1 token=$2 text=$3
    local raw="$TMP/w-$lang-$token-raw.wav" wav="$TMP/w-$lang-$token.wav"
    espeak-ng -v "$lang" -s 150 -w "$raw" "$text"
    "${SOX[@]}" "$raw" -r 8000 -c 1 -b 16 -e signed-integer "$wav" \
        silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse rate -v 8000
    ffmpeg -hide_banner -loglevel error -nostdin -y -i "$wav" -fflags +bitexact -c:a libvorbis -q:a 0 \
        "$OUT/words/$lang/$token.ogg"
    printf '"%s" = "%s"\n' "$token" "$token" >>"$OUT/words/$lang/map.toml"
}

words() { # words LANG < "token|text" lines
    local lang=$1 token text
    mkdir -p "$OUT/words/$lang"
    printf '# Sound map for the sample recordings (generated by scripts/make-sample-audio.sh).\n' \
        >"$OUT/words/$lang/map.toml"
    printf 'language = "%s"\ndir = "."\next = ["ogg"]\n\n[tokens]\n' "$lang" >>"$OUT/words/$lang/map.toml"
    while IFS='|' read -r token text; do
        [ -n "$token" ] || continue
        word "$lang" "$token" "$text"
    done
    # A pause between digit groups: 250 ms of silence.
    "${SOX[@]}" -n -r 8000 -c 1 -b 16 -e signed-integer "$TMP/pause-$lang.wav" trim 0 0.25
    ffmpeg -hide_banner -loglevel error -nostdin -y -i "$TMP/pause-$lang.wav" -fflags +bitexact -c:a libvorbis -q:a 0 \
        "$OUT/words/$lang/pause.ogg"
    printf '"pause" = "pause"\n' >>"$OUT/words/$lang/map.toml"
}

words_en() {
    words en <<'EOT'
0|zero
1|one
2|two
3|three
4|four
5|five
6|six
7|seven
8|eight
9|nine
10|ten
11|eleven
12|twelve
13|thirteen
14|fourteen
15|fifteen
16|sixteen
17|seventeen
18|eighteen
19|nineteen
20|twenty
30|thirty
40|forty
50|fifty
60|sixty
70|seventy
80|eighty
90|ninety
hundred|hundred
thousand|thousand
million|million
billion|billion
trillion|trillion
quadrillion|quadrillion
ord-1|first
ord-2|second
ord-3|third
ord-4|fourth
ord-5|fifth
ord-6|sixth
ord-7|seventh
ord-8|eighth
ord-9|ninth
ord-10|tenth
ord-11|eleventh
ord-12|twelfth
ord-13|thirteenth
ord-14|fourteenth
ord-15|fifteenth
ord-16|sixteenth
ord-17|seventeenth
ord-18|eighteenth
ord-19|nineteenth
ord-20|twentieth
ord-30|thirtieth
ord-40|fortieth
ord-50|fiftieth
ord-60|sixtieth
ord-70|seventieth
ord-80|eightieth
ord-90|ninetieth
ord-hundred|hundredth
ord-thousand|thousandth
ord-million|millionth
ord-billion|billionth
ord-trillion|trillionth
ord-quadrillion|quadrillionth
minus|minus
unit-one|dollar
unit-many|dollars
subunit-one|cent
subunit-many|cents
minute-one|minute
minute-many|minutes
less-than-a-minute|less than a minute
EOT
}

words_ru() {
    words ru <<'EOT'
0|ноль
1m|один
1f|одна
2m|два
2f|две
3|три
4|четыре
5|пять
6|шесть
7|семь
8|восемь
9|девять
10|десять
11|одиннадцать
12|двенадцать
13|тринадцать
14|четырнадцать
15|пятнадцать
16|шестнадцать
17|семнадцать
18|восемнадцать
19|девятнадцать
20|двадцать
30|тридцать
40|сорок
50|пятьдесят
60|шестьдесят
70|семьдесят
80|восемьдесят
90|девяносто
100|сто
200|двести
300|триста
400|четыреста
500|пятьсот
600|шестьсот
700|семьсот
800|восемьсот
900|девятьсот
thousand-one|тысяча
thousand-few|тысячи
thousand-many|тысяч
million-one|миллион
million-few|миллиона
million-many|миллионов
billion-one|миллиард
billion-few|миллиарда
billion-many|миллиардов
trillion-one|триллион
trillion-few|триллиона
trillion-many|триллионов
quadrillion-one|квадриллион
quadrillion-few|квадриллиона
quadrillion-many|квадриллионов
ord-1|первый
ord-2|второй
ord-3|третий
ord-4|четвёртый
ord-5|пятый
ord-6|шестой
ord-7|седьмой
ord-8|восьмой
ord-9|девятый
ord-10|десятый
ord-11|одиннадцатый
ord-12|двенадцатый
ord-13|тринадцатый
ord-14|четырнадцатый
ord-15|пятнадцатый
ord-16|шестнадцатый
ord-17|семнадцатый
ord-18|восемнадцатый
ord-19|девятнадцатый
ord-20|двадцатый
ord-30|тридцатый
ord-40|сороковой
ord-50|пятидесятый
ord-60|шестидесятый
ord-70|семидесятый
ord-80|восьмидесятый
ord-90|девяностый
ord-100|сотый
ord-200|двухсотый
ord-300|трёхсотый
ord-400|четырёхсотый
ord-500|пятисотый
ord-600|шестисотый
ord-700|семисотый
ord-800|восьмисотый
ord-900|девятисотый
ord-thousand|тысячный
ord-million|миллионный
1n|одно
ord-1-f|первая
ord-2-f|вторая
ord-3-f|третья
ord-4-f|четвёртая
ord-5-f|пятая
ord-6-f|шестая
ord-7-f|седьмая
ord-8-f|восьмая
ord-9-f|девятая
ord-10-f|десятая
ord-11-f|одиннадцатая
ord-12-f|двенадцатая
ord-13-f|тринадцатая
ord-14-f|четырнадцатая
ord-15-f|пятнадцатая
ord-16-f|шестнадцатая
ord-17-f|семнадцатая
ord-18-f|восемнадцатая
ord-19-f|девятнадцатая
ord-20-f|двадцатая
ord-30-f|тридцатая
ord-40-f|сороковая
ord-50-f|пятидесятая
ord-60-f|шестидесятая
ord-70-f|семидесятая
ord-80-f|восьмидесятая
ord-90-f|девяностая
ord-100-f|сотая
ord-200-f|двухсотая
ord-300-f|трёхсотая
ord-400-f|четырёхсотая
ord-500-f|пятисотая
ord-600-f|шестисотая
ord-700-f|семисотая
ord-800-f|восьмисотая
ord-900-f|девятисотая
ord-thousand-f|тысячная
ord-million-f|миллионная
ord-1-n|первое
ord-2-n|второе
ord-3-n|третье
ord-4-n|четвёртое
ord-5-n|пятое
ord-6-n|шестое
ord-7-n|седьмое
ord-8-n|восьмое
ord-9-n|девятое
ord-10-n|десятое
ord-11-n|одиннадцатое
ord-12-n|двенадцатое
ord-13-n|тринадцатое
ord-14-n|четырнадцатое
ord-15-n|пятнадцатое
ord-16-n|шестнадцатое
ord-17-n|семнадцатое
ord-18-n|восемнадцатое
ord-19-n|девятнадцатое
ord-20-n|двадцатое
ord-30-n|тридцатое
ord-40-n|сороковое
ord-50-n|пятидесятое
ord-60-n|шестидесятое
ord-70-n|семидесятое
ord-80-n|восьмидесятое
ord-90-n|девяностое
ord-100-n|сотое
ord-200-n|двухсотое
ord-300-n|трёхсотое
ord-400-n|четырёхсотое
ord-500-n|пятисотое
ord-600-n|шестисотое
ord-700-n|семисотое
ord-800-n|восьмисотое
ord-900-n|девятисотое
ord-thousand-n|тысячное
ord-million-n|миллионное
minus|минус
unit-one|рубль
unit-few|рубля
unit-many|рублей
subunit-one|копейка
subunit-few|копейки
subunit-many|копеек
minute-one|минута
minute-few|минуты
minute-many|минут
less-than-a-minute|меньше минуты
EOT
}

queue_prompts() {
    token you-are "You are"
    token in-queue "in the queue."
    token you-are-next "You are next in the queue."
    token estimated-wait "Your estimated wait is about"
    token less-than-a-minute "less than a minute."
    token long-wait "The wait is long right now. You may prefer to call back later."
    token your-balance-is "Your balance is"
    token several-accounts "You have several accounts."
    token account "Account"
    token next-account "Next account"
    token not-registered "Your phone number is not registered."
    token service-unavailable "The balance service is not available right now. Please try again later."
    token one-moment "One moment, please."
    token account-locked "is locked. Your balance is"
    token callback-confirm "We will call you back and keep your place in the queue. Goodbye."
}

advices() {
    advice first 01-online "Did you know? You can check your balance any time on our web site."
    advice first 02-app "Our mobile app lets you pay your bill in a few taps."
    advice morning 01-good-morning "Good morning! Our office opens at nine."
    advice day 01-lunch "Our busiest hours are around lunch time. Calls are answered faster in the afternoon."
    advice evening 01-evening "Good evening. Our operators work until midnight."
    advice middle 01-autopay "Set up automatic payments, and never miss a due date."
    advice middle 02-paperless "Choose paperless bills, and save paper."
    advice middle 03-referral "Invite a friend, and you both get a month free."
    advice last 01-thanks "Thank you for your patience. Your call will be answered soon."
}

prompts() {
    prompt welcome "Thank you for calling. All our operators are busy. Please stay on the line."
    prompt please-hold "Please hold. Your call is important to us."
    prompt music-changed "Here is some different music."
    prompt key-help "Press 3 for different music. Press 4 to hear this message again."
    prompt still-there "Thank you for waiting. An operator will be with you shortly."
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
# --prompts-only: keep the music beds, speak the prompts and advices again.
if [ "${1:-}" = --prompts-only ]; then
    rm -rf "$OUT/prompts" "$OUT/advice"
    mkdir -p "$OUT/prompts/en"
else
    rm -rf "$OUT/music" "$OUT/prompts" "$OUT/advice"
    mkdir -p "$OUT/music" "$OUT/prompts/en"
    echo "synthesizing music beds..."
    bed1
    bed2
    bed3
    bed4
fi
echo "speaking prompts..."
prompts
queue_prompts
advices
echo "speaking words (en, ru)..."
rm -rf "$OUT/words"
words_en
words_ru

# ---------------------------------------------------------------------------
# Verify
# ---------------------------------------------------------------------------
declare -A WANT_RATE WANT_CH DESC
for f in "$OUT"/music/*; do WANT_RATE[$f]=44100; WANT_CH[$f]=2; done
for f in "$OUT"/prompts/en/*.wav; do WANT_RATE[$f]=8000; WANT_CH[$f]=1; done
for n in welcome please-hold music-changed key-help still-there; do WANT_RATE[$OUT/prompts/en/$n.wav]=16000; done
for f in "$OUT"/advice/en/*/*.ogg; do WANT_RATE[$f]=16000; WANT_CH[$f]=1; done
DESC[bed-1-calm.wav]="Calm C-major sine pad, triangle arpeggio, 60 bpm"
DESC[bed-2-bright.mp3]="Bright D-major pluck arpeggio, bass and melody, 120 bpm"
DESC[bed-3-soft.flac]="Soft F-major triangle pad, slow sine melody"
DESC[bed-4-pulse.ogg]="A-minor pulse: kick, saw bass, square stabs, lead, 96 bpm"
DESC[welcome.wav]="\"Thank you for calling. All our operators are busy. Please stay on the line.\""
DESC[please-hold.wav]="\"Please hold. Your call is important to us.\""
DESC[music-changed.wav]="\"Here is some different music.\""
DESC[key-help.wav]="\"Press 3 for different music. Press 4 to hear this message again.\""
DESC[still-there.wav]="\"Thank you for waiting. An operator will be with you shortly.\""

FILES=("$OUT"/music/bed-1-calm.wav "$OUT"/music/bed-2-bright.mp3 "$OUT"/music/bed-3-soft.flac
    "$OUT"/music/bed-4-pulse.ogg)
for n in welcome please-hold music-changed key-help still-there; do FILES+=("$OUT/prompts/en/$n.wav"); done
for f in "$OUT"/prompts/en/*.wav; do
    case " ${FILES[*]} " in *" $f "*) ;; *) FILES+=("$f") ;; esac
done
FILES+=("$OUT"/advice/en/*/*.ogg)

echo
echo "verification:"
printf '%-28s %-12s %6s %3s %8s %9s  %s\n' file codec rate ch dur peak_dB status
fail=0
TABLE=""
for f in "${FILES[@]}"; do
    rel=${f#"$OUT"/}
    [ -s "$f" ] || { echo "missing: $rel"; fail=1; continue; }
    codec=$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name -of csv=p=0 "$f")
    rate=$(soxi -r "$f")
    ch=$(soxi -c "$f")
    dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f")
    dur=$(printf '%.2f' "$dur")
    peak=$(sox "$f" -n stats 2>&1 | awk '/^Pk lev dB/ {print $4}')
    status=ok
    if [ "$rate" != "${WANT_RATE[$f]}" ] || [ "$ch" != "${WANT_CH[$f]}" ]; then
        status="WRONG (want ${WANT_RATE[$f]} Hz, ${WANT_CH[$f]} ch)"
        fail=1
    fi
    printf '%-28s %-12s %6s %3s %8s %9s  %s\n' "$rel" "$codec" "$rate" "$ch" "$dur" "$peak" "$status"
    case $codec in
        pcm_s16le) fmt="WAV (PCM 16-bit)" ;;
        mp3) fmt="MP3 64 kbit/s" ;;
        flac) fmt="FLAC 16-bit" ;;
        vorbis) fmt="Ogg Vorbis" ;;
        *) fmt=$codec ;;
    esac
    chs=stereo
    [ "$ch" = 1 ] && chs=mono
    desc=${DESC[$(basename "$f")]:-}
    [ -n "$desc" ] || desc="spoken: see scripts/make-sample-audio.sh"
    TABLE+="| \`$rel\` | $fmt | $rate Hz | $chs | ${dur} s | $desc |"$'\n'
done

cat >"$OUT/README.md" <<EOF
# Sample audio

These files are generated by \`scripts/make-sample-audio.sh\` using Debian's
\`sox\` (with \`libsox-fmt-mp3\`), \`espeak-ng\` and \`ffmpeg\`: the music beds are
synthesized with sox \`synth\` (no samples or recordings are used) and the prompts
are spoken by espeak-ng, so anyone can regenerate them by running the script.

| File | Format | Rate | Channels | Duration | Content |
|------|--------|------|----------|----------|---------|
${TABLE}

\`words/en/\` and \`words/ru/\`: one Ogg Vorbis recording (8 kHz mono) per speech token
of the language ($(ls "$OUT"/words/en/*.ogg | wc -l) English, $(ls "$OUT"/words/ru/*.ogg | wc -l) Russian), for spoken numbers,
ordinals, money and durations; each folder's \`map.toml\` is the sound map that names them.
EOF

size=$(du -sb "$OUT" | cut -f1)
echo
echo "listing:"
(cd "$OUT" && find . -type f -printf '%10s  %P\n' | sort -k2)
echo
echo "total size of sample-audio/: $size bytes"
if [ "$size" -ge 5000000 ]; then
    echo "error: sample-audio/ is larger than 5 MB" >&2
    fail=1
fi
[ "$fail" -eq 0 ] || { echo "verification FAILED" >&2; exit 1; }
echo "all files OK"
