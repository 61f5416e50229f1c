//! `holdmix say`: values through the shipped sound maps, as files (`--list`)
//! and as audio; bad values refused with exit status 1.

use crate::common::*;
use std::path::Path;

/// The recordings `say --list` names, as token names (file stems).
fn list(dir: &Path, lang: &str, kind: &str, value: &str) -> Vec<String> {
    let out = ok(holdmix(dir)
        .current_dir(root())
        .args(["say", "--lang", lang, "--list", kind, value]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let p = Path::new(l);
            assert!(root().join(p).is_file() || p.is_file(), "{l} exists");
            p.file_stem().expect("stem").to_string_lossy().into_owned()
        })
        .collect()
}

/// Each row: a value and the words `say --list` must name for it (file
/// stems of the sample recordings are the speech tokens).
fn check(lang: &str, kind: &str, rows: &[(&str, &str)]) {
    let dir = tempdir();
    for (value, want) in rows {
        assert_eq!(
            list(dir.path(), lang, kind, value).join(" "),
            *want,
            "{lang} {kind} {value}"
        );
    }
}

/// Numbers that read the same, word for word, in English and Russian.
const SAME_IN_BOTH: &[(&str, &str)] = &[
    ("3", "3"),
    ("4", "4"),
    ("5", "5"),
    ("10", "10"),
    ("11", "11"),
    ("12", "12"),
    ("14", "14"),
    ("15", "15"),
    ("19", "19"),
    ("20", "20"),
];

#[test]
fn cardinals_alike_in_both_languages() {
    check("en", "number", SAME_IN_BOTH);
    check("ru", "number", SAME_IN_BOTH);
}

#[test]
fn english_cardinals() {
    check(
        "en",
        "number",
        &[
            ("0", "0"),
            ("1", "1"),
            ("2", "2"),
            ("21", "20 1"),
            ("22", "20 2"),
            ("25", "20 5"),
            ("100", "1 hundred"),
            ("101", "1 hundred 1"),
            ("111", "1 hundred 11"),
            ("119", "1 hundred 19"),
            ("200", "2 hundred"),
            ("999", "9 hundred 90 9"),
            ("1000", "1 thousand"),
            ("1001", "1 thousand 1"),
            ("1002", "1 thousand 2"),
            ("1005", "1 thousand 5"),
            ("1011", "1 thousand 11"),
            ("1021", "1 thousand 20 1"),
            ("1022", "1 thousand 20 2"),
            ("2000", "2 thousand"),
            ("5000", "5 thousand"),
            ("10000", "10 thousand"),
            ("11000", "11 thousand"),
            ("21000", "20 1 thousand"),
            ("22000", "20 2 thousand"),
            ("100000", "1 hundred thousand"),
            ("999999", "9 hundred 90 9 thousand 9 hundred 90 9"),
            ("1000000", "1 million"),
            ("2000000", "2 million"),
            ("5000000", "5 million"),
            ("21000000", "20 1 million"),
            ("1000000000", "1 billion"),
            ("2000000000", "2 billion"),
            ("1000000000000000", "1 quadrillion"),
            ("-5", "minus 5"),
            ("-1021", "minus 1 thousand 20 1"),
            ("-0", "0"),
        ],
    );
}

#[test]
fn russian_cardinals() {
    check(
        "ru",
        "number",
        &[
            ("0", "0"),
            ("1", "1m"),
            ("2", "2m"),
            ("21", "20 1m"),
            ("22", "20 2m"),
            ("25", "20 5"),
            ("100", "100"),
            ("101", "100 1m"),
            ("111", "100 11"),
            ("119", "100 19"),
            ("200", "200"),
            ("999", "900 90 9"),
            ("1000", "1f thousand-one"),
            ("1001", "1f thousand-one 1m"),
            ("1002", "1f thousand-one 2m"),
            ("1005", "1f thousand-one 5"),
            ("1011", "1f thousand-one 11"),
            ("1021", "1f thousand-one 20 1m"),
            ("1022", "1f thousand-one 20 2m"),
            ("2000", "2f thousand-few"),
            ("5000", "5 thousand-many"),
            ("10000", "10 thousand-many"),
            ("11000", "11 thousand-many"),
            ("12000", "12 thousand-many"),
            ("21000", "20 1f thousand-one"),
            ("22000", "20 2f thousand-few"),
            ("100000", "100 thousand-many"),
            ("999999", "900 90 9 thousand-many 900 90 9"),
            ("1000000", "1m million-one"),
            ("2000000", "2m million-few"),
            ("5000000", "5 million-many"),
            ("21000000", "20 1m million-one"),
            ("1000000000", "1m billion-one"),
            ("2000000000", "2m billion-few"),
            ("1000000000000000", "1m quadrillion-one"),
            ("-5", "minus 5"),
        ],
    );
}

#[test]
fn money_from_decimal_strings() {
    check(
        "en",
        "money",
        &[
            ("0", "0 unit-many"),
            ("1", "1 unit-one"),
            ("2.02", "2 unit-many 2 subunit-many"),
            ("5.05", "5 unit-many 5 subunit-many"),
            ("22.22", "20 2 unit-many 20 2 subunit-many"),
            ("11.11", "11 unit-many 11 subunit-many"),
            ("21.21", "20 1 unit-many 20 1 subunit-many"),
            ("0.01", "1 subunit-one"),
            ("1.01", "1 unit-one 1 subunit-one"),
            ("1000.5", "1 thousand unit-many 50 subunit-many"),
            (
                "-2341.23",
                "minus 2 thousand 3 hundred 40 1 unit-many 20 3 subunit-many",
            ),
            (
                "15023007000.30",
                "15 billion 20 3 million 7 thousand unit-many 30 subunit-many",
            ),
            ("12.3400", "12 unit-many 30 4 subunit-many"),
        ],
    );
    check(
        "ru",
        "money",
        &[
            ("0", "0 unit-many"),
            ("1", "1m unit-one"),
            ("2", "2m unit-few"),
            ("5", "5 unit-many"),
            ("11", "11 unit-many"),
            ("21", "20 1m unit-one"),
            ("22", "20 2m unit-few"),
            ("0.01", "0 unit-many 1f subunit-one"),
            ("0.02", "0 unit-many 2f subunit-few"),
            ("0.05", "0 unit-many 5 subunit-many"),
            ("0.11", "0 unit-many 11 subunit-many"),
            ("0.21", "0 unit-many 20 1f subunit-one"),
            ("0.22", "0 unit-many 20 2f subunit-few"),
            ("0.5", "0 unit-many 50 subunit-many"),
            ("1000.5", "1f thousand-one unit-many 50 subunit-many"),
            ("2001", "2f thousand-few 1m unit-one"),
            (
                "-2341.23",
                "minus 2f thousand-few 300 40 1m unit-one 20 3 subunit-few",
            ),
        ],
    );
}

#[test]
fn identifiers_in_groups_of_three() {
    check(
        "en",
        "digits",
        &[
            ("200045", "2 hundred pause 0 40 5"),
            ("000123", "0 0 0 pause 1 hundred 20 3"),
            ("1002003", "1 hundred pause 2 hundred pause 3"),
            ("007", "0 0 7"),
            ("100000002", "1 hundred pause 0 0 0 pause 0 0 2"),
            ("0", "0"),
        ],
    );
    check(
        "ru",
        "digits",
        &[("200045", "200 pause 0 40 5"), ("001", "0 0 1m")],
    );
}

#[test]
fn durations_round_to_minutes() {
    let rows_en = [
        ("0s", "less-than-a-minute"),
        ("59s", "less-than-a-minute"),
        ("60s", "1 minute-one"),
        ("61s", "1 minute-one"),
        ("90s", "2 minute-many"),
        ("10m", "10 minute-many"),
    ];
    check("en", "duration", &rows_en);
    check(
        "ru",
        "duration",
        &[
            ("0s", "less-than-a-minute"),
            ("59s", "less-than-a-minute"),
            ("60s", "1f minute-one"),
            ("61s", "1f minute-one"),
            ("90s", "2f minute-few"),
            ("10m", "10 minute-many"),
        ],
    );
}

#[test]
fn ordinals() {
    check(
        "en",
        "ordinal",
        &[
            ("1", "ord-1"),
            ("3", "ord-3"),
            ("21", "20 ord-1"),
            ("100", "1 ord-hundred"),
            ("112", "1 hundred ord-12"),
            ("1000", "1 ord-thousand"),
        ],
    );
    check(
        "ru",
        "ordinal",
        &[
            ("1", "ord-1"),
            ("3", "ord-3"),
            ("20", "ord-20"),
            ("21", "20 ord-1"),
            ("100", "ord-100"),
            ("120", "100 ord-20"),
            ("1000", "ord-thousand"),
            ("1021", "1f thousand-one 20 ord-1"),
        ],
    );
}

/// `--gender`: один / одна / одно, два / две, третий / третья / третье;
/// English has no gender and ignores it.
#[test]
fn gender_agrees_in_russian() {
    let dir = tempdir();
    let say = |g: &str, kind: &str, v: &str, lang: &str| {
        let out = ok(holdmix(dir.path())
            .current_dir(root())
            .args(["say", "--lang", lang, "--list", "--gender", g, kind, v]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                Path::new(l)
                    .file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (g, one, two, third, twenty_first) in [
        ("m", "1m", "2m", "ord-3", "20 ord-1"),
        ("f", "1f", "2f", "ord-3-f", "20 ord-1-f"),
        ("n", "1n", "2m", "ord-3-n", "20 ord-1-n"),
    ] {
        assert_eq!(say(g, "number", "1", "ru"), one, "{g}");
        assert_eq!(say(g, "number", "2", "ru"), two, "{g}");
        assert_eq!(say(g, "number", "22", "ru"), format!("20 {two}"), "{g}");
        assert_eq!(say(g, "ordinal", "3", "ru"), third, "{g}");
        assert_eq!(say(g, "ordinal", "21", "ru"), twenty_first, "{g}");
    }
    assert_eq!(say("f", "ordinal", "2000", "ru"), "2m ord-thousand-f");
    assert_eq!(say("f", "number", "1", "en"), "1");
    let out = holdmix(dir.path())
        .current_dir(root())
        .args(["say", "--list", "--gender", "x", "number", "1"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2), "clap refuses the flag");
    assert!(String::from_utf8_lossy(&out.stderr).contains("m, f or n"));
}

#[test]
fn bad_values_exit_1_naming_the_value() {
    let dir = tempdir();
    for (kind, value) in [
        ("money", "12,5.3"),
        ("number", "abc"),
        ("number", "99999999999999999999"),
        // A minus is not dropped from an identifier: refused like `+12`.
        ("digits", "-12"),
        ("digits", "+12"),
    ] {
        let out = holdmix(dir.path())
            .current_dir(root())
            .args(["say", "--list", kind, "--", value])
            .output()
            .expect("spawn");
        assert_eq!(out.status.code(), Some(1), "{kind} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(value), "{kind} {value}: {err}");
        // A command's answer, not a log line: one line, no timestamp.
        assert!(
            err.starts_with("holdmix: error: ") && err.lines().count() == 1,
            "{kind} {value}: {err}"
        );
        assert!(out.stdout.is_empty(), "nothing on stdout");
    }
}

#[test]
fn a_missing_sound_map_is_named_as_a_commands_error() {
    let dir = tempdir();
    let map = dir.path().join("nowhere").join("map.toml");
    let out = holdmix(dir.path())
        .current_dir(root())
        .args(["say", "--list", "--map"])
        .arg(&map)
        .args(["number", "12"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "holdmix: error: {}: cannot open the sound map: No such file or directory (os error 2)",
            map.display()
        )
    );
}

#[test]
fn say_renders_the_phrase_as_audio() {
    let dir = tempdir();
    let wav = dir.path().join("money.wav");
    ok(holdmix(dir.path())
        .current_dir(root())
        .args(["say", "--lang", "ru", "money", "2001.02", "-o"])
        .arg(&wav));
    let (rate, s) = read_wav(&wav);
    assert_eq!(rate, 8000);
    // "две тысячи один рубль две копейки": seven words, a few seconds.
    let secs = s.len() as f64 / 8000.0;
    assert!((2.0..8.0).contains(&secs), "{secs} s");
    assert!(db(rms(&s)) > -40.0, "speech, not silence");
    assert!(s.iter().all(|x| x.abs() <= 1.0));
}

#[test]
fn asterisk_layout_maps_name_only_real_tokens() {
    use holdmix::speech::{Lang, map::SoundMap};
    for (file, lang) in [("asterisk-en.toml", Lang::En), ("asterisk-ru.toml", Lang::Ru)] {
        let m = SoundMap::load(&root().join("playlists/speech").join(file)).expect(file);
        assert_eq!(m.lang, lang);
        // What the layout lacks is known and documented in the map's header.
        let header = std::fs::read_to_string(root().join("playlists/speech").join(file)).expect("read");
        assert!(header.contains("has no recording for"), "{file}");
    }
}
