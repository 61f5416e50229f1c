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

#[test]
fn list_names_the_recordings_of_each_word() {
    let dir = tempdir();
    for (lang, kind, value, want) in [
        ("en", "number", "2341", "2 thousand 3 hundred 40 1"),
        ("en", "ordinal", "21", "20 ord-1"),
        ("en", "money", "1000.5", "1 thousand unit-many 50 subunit-many"),
        ("en", "digits", "200045", "2 hundred pause 0 40 5"),
        ("en", "duration", "90s", "2 minute-many"),
        ("ru", "number", "21000", "20 1f thousand-one"),
        (
            "ru",
            "money",
            "1234.56",
            "1f thousand-one 200 30 4 unit-few 50 6 subunit-many",
        ),
        (
            "ru",
            "money",
            "-2341.23",
            "minus 2f thousand-few 300 40 1m unit-one 20 3 subunit-few",
        ),
        ("ru", "ordinal", "3", "ord-3"),
        ("ru", "duration", "61s", "1f minute-one"),
        ("ru", "digits", "200045", "200 pause 0 40 5"),
    ] {
        assert_eq!(
            list(dir.path(), lang, kind, value).join(" "),
            want,
            "{lang} {kind} {value}"
        );
    }
}

#[test]
fn bad_values_exit_1_naming_the_value() {
    let dir = tempdir();
    for (kind, value) in [
        ("money", "12,5.3"),
        ("number", "abc"),
        ("number", "99999999999999999999"),
    ] {
        let out = holdmix(dir.path())
            .current_dir(root())
            .args(["say", "--list", kind, value])
            .output()
            .expect("spawn");
        assert_eq!(out.status.code(), Some(1), "{kind} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(value), "{kind} {value}: {err}");
        assert!(out.stdout.is_empty(), "nothing on stdout");
    }
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
