//! Every value in the speech tables said through the shipped
//! Asterisk-layout sound maps (`playlists/speech/asterisk-*.toml`), against
//! a directory laid out as Asterisk's core sounds: each word a real file,
//! no value dropped or said in part, ordinals said even where the layout
//! has no ordinal recordings (Russian), and gender agreement.

use crate::common::*;
use holdmix::speech::{self, Gender, Kind, Lang, Unsaid, map::SoundMap};
use std::path::Path;

/// The shipped map `file`, pointed at `dir` where every file it names is
/// created (as the core-sounds package installs them), plus `extra` lines.
fn asterisk_map(dir: &Path, file: &str, extra: &str) -> SoundMap {
    let text = std::fs::read_to_string(root().join("playlists/speech").join(file)).expect("read map");
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("dir = ") {
            out.push_str(&format!("dir = {:?}\n", dir.display().to_string()));
            continue;
        }
        out.push_str(line);
        out.push('\n');
        // `"token" = "digits/h-1"`: the layout's file, with the first ext.
        if let Some((_, name)) = line.split_once(" = \"")
            && line.starts_with('"')
        {
            let name = name.trim_end_matches('"');
            let p = dir.join(format!("{name}.wav"));
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b"RIFF").expect("write");
        }
    }
    out.push_str(extra);
    for line in extra.lines() {
        if let Some((_, name)) = line.split_once(" = \"") {
            std::fs::write(dir.join(format!("{}.wav", name.trim_end_matches('"'))), b"RIFF").expect("write");
        }
    }
    let p = dir.join(file);
    std::fs::write(&p, out).expect("write map");
    SoundMap::load(&p).expect("load map")
}

/// Says `text` through `map`, asserting every word of it is heard: one
/// existing file per word of what was said (the value, or for an ordinal
/// the layout cannot say, its cardinal), none left out.
fn said(map: &SoundMap, dir: &Path, kind: Kind, text: &str, g: Gender) -> Vec<String> {
    let s = speech::speak(map, kind, text, g).unwrap_or_else(|e| panic!("{kind:?} {text} {g:?}: {e}"));
    let fell_back = s
        .substituted
        .first()
        .is_some_and(|(w, _)| w.starts_with("ordinal"));
    let as_kind = if fell_back { Kind::Number } else { kind };
    let words = speech::say_as(map.lang, as_kind, text, g).expect("value");
    let heard = words.iter().filter(|w| *w != "pause").count();
    assert!(heard > 0, "{kind:?} {text}: nothing to hear");
    assert_eq!(
        s.files.len(),
        heard,
        "{kind:?} {text}: {words:?} -> {:?}",
        s.files
    );
    assert!(
        s.files.iter().all(|f| f.is_file()),
        "{kind:?} {text}: {:?}",
        s.files
    );
    s.files
        .iter()
        .map(|f| {
            let p = f.strip_prefix(dir).expect("in the sounds dir");
            p.with_extension("").display().to_string()
        })
        .collect()
}

/// 0–1100 covers every irregular form (1, 2, 11–14, 21, 22, 101, 111,
/// 1000); these cover each power of a thousand the layout records.
const LARGE: &[u64] = &[
    1_001,
    1_021,
    2_000,
    2_002,
    5_000,
    11_000,
    21_000,
    22_000,
    101_000,
    999_999,
    1_000_000,
    2_000_000,
    21_000_001,
    999_999_999,
];
const LARGE_EN: &[u64] = &[1_000_000_000, 21_000_000_022, 999_999_999_999];

fn values(lang: Lang) -> Vec<u64> {
    let mut v: Vec<u64> = (0..=1100).collect();
    v.extend(LARGE);
    if lang == Lang::En {
        v.extend(LARGE_EN);
    }
    v
}

#[test]
fn every_value_said_through_the_english_asterisk_map() {
    let dir = tempdir();
    let d = dir.path();
    let m = asterisk_map(d, "asterisk-en.toml", "");
    for n in values(Lang::En) {
        said(&m, d, Kind::Number, &n.to_string(), Gender::Masculine);
        said(&m, d, Kind::Number, &format!("-{n}"), Gender::Masculine);
        if n > 0 {
            said(&m, d, Kind::Ordinal, &n.to_string(), Gender::Masculine);
        }
        said(&m, d, Kind::Digits, &format!("{n:06}"), Gender::Masculine);
    }
    for units in (0..=1100).chain(LARGE.iter().copied()) {
        for sub in [0, 1, 2, 11, 21, 50, 99] {
            said(
                &m,
                d,
                Kind::Money,
                &format!("{units}.{sub:02}"),
                Gender::Masculine,
            );
        }
    }
    for mins in 1..=1100 {
        said(&m, d, Kind::Duration, &format!("{mins}m"), Gender::Masculine);
    }
    // English ordinals come from the layout's h- recordings.
    assert_eq!(said(&m, d, Kind::Ordinal, "2", Gender::Masculine), ["digits/h-2"]);
    assert_eq!(
        said(&m, d, Kind::Ordinal, "1000", Gender::Masculine),
        ["digits/1", "digits/h-thousand"]
    );
    // Under a dollar: "ninety-nine cents", as English speakers say it.
    assert_eq!(
        said(&m, d, Kind::Money, "0.99", Gender::Masculine),
        ["digits/90", "digits/9", "cents"]
    );
    // What the layout lacks is refused whole, naming the word.
    assert_eq!(
        speech::speak(&m, Kind::Number, "1000000000000", Gender::Masculine),
        Err(Unsaid::NoRecording("trillion".into()))
    );
}

/// Ruble and kopeck recordings a site adds (the Russian core sounds have
/// none); the map's header says so.
const RU_MONEY: &str = "\"unit-one\" = \"rubl\"\n\"unit-few\" = \"rublya\"\n\"unit-many\" = \"rubley\"\n\
\"subunit-one\" = \"kopeyka\"\n\"subunit-few\" = \"kopeyki\"\n\"subunit-many\" = \"kopeek\"\n";

#[test]
fn every_value_said_through_the_russian_asterisk_map() {
    let dir = tempdir();
    let d = dir.path();
    let m = asterisk_map(d, "asterisk-ru.toml", RU_MONEY);
    for n in values(Lang::Ru) {
        for g in [Gender::Masculine, Gender::Feminine, Gender::Neuter] {
            said(&m, d, Kind::Number, &n.to_string(), g);
            if n > 0 {
                said(&m, d, Kind::Ordinal, &n.to_string(), g);
            }
        }
        said(&m, d, Kind::Number, &format!("-{n}"), Gender::Masculine);
        said(&m, d, Kind::Digits, &format!("{n:06}"), Gender::Masculine);
    }
    for units in (0..=1100).chain(LARGE.iter().copied()) {
        for sub in [0, 1, 2, 5, 11, 21, 22, 99] {
            said(
                &m,
                d,
                Kind::Money,
                &format!("{units}.{sub:02}"),
                Gender::Masculine,
            );
        }
    }
    for mins in 1..=1100 {
        said(&m, d, Kind::Duration, &format!("{mins}m"), Gender::Masculine);
    }
    // The values the issue found dropped: said as cardinals, whole.
    let ord = |n: &str, g| said(&m, d, Kind::Ordinal, n, g).join(" ");
    assert_eq!(ord("1", Gender::Masculine), "digits/1");
    assert_eq!(ord("2", Gender::Masculine), "digits/2");
    assert_eq!(ord("2", Gender::Feminine), "digits/2f");
    assert_eq!(ord("21", Gender::Masculine), "digits/20 digits/1");
    assert_eq!(ord("22", Gender::Masculine), "digits/20 digits/2");
    assert_eq!(ord("101", Gender::Masculine), "digits/100 digits/1");
    assert_eq!(ord("1000", Gender::Masculine), "digits/1f digits/thousand");
    assert_eq!(ord("2000", Gender::Masculine), "digits/2f digits/thousands-i");
    // "ноль рублей девяносто девять копеек".
    assert_eq!(
        said(&m, d, Kind::Money, "0.99", Gender::Masculine).join(" "),
        "digits/0 rubley digits/90 digits/9 kopeek"
    );
    // Without ruble recordings, money is refused whole, naming the word.
    let bare = asterisk_map(tempdir().path(), "asterisk-ru.toml", "");
    assert_eq!(
        speech::speak(&bare, Kind::Money, "0.99", Gender::Masculine),
        Err(Unsaid::NoRecording("unit-many".into()))
    );
}

/// A Russian playlist whose template asks for the feminine.
fn gendered_playlist(dir: &Path, gender: &str) -> std::path::PathBuf {
    playlist(
        dir,
        "gender.toml",
        &format!(
            r#"[speech]
map = {:?}

[prompts]
from = {:?}

[announce.position]
say = ["you-are", {{ say = "ordinal", value = "position", gender = "{gender}" }}, {{ say = "number", value = "position", gender = "{gender}" }}, "in-queue"]
every = "120s"
"#,
            root()
                .join("sample-audio/words/ru/map.toml")
                .to_str()
                .expect("path"),
            root().join("sample-audio/prompts/en").to_str().expect("path")
        ),
    )
}

#[test]
fn templates_take_a_gender() {
    let dir = tempdir();
    let pl = gendered_playlist(dir.path(), "f");
    let tl = dir.path().join("tl.jsonl");
    ok(holdmix(dir.path())
        .args(["render", pl.to_str().expect("path"), "--duration", "20s"])
        .args([
            "-o",
            dir.path().join("out.raw").to_str().expect("path"),
            "--timeline",
        ])
        .arg(&tl)
        .args(["--event", "2s:position:22"]));
    let files: Vec<String> = events(&timeline(&tl), "prompt_start")
        .iter()
        .filter(|e| e["queue"] == "position")
        .map(|e| e["file"].as_str().expect("file").to_string())
        .collect();
    // "двадцать вторая", then "двадцать две".
    assert_eq!(
        files,
        [
            "you-are.wav",
            "20.ogg",
            "ord-2-f.ogg",
            "20.ogg",
            "2f.ogg",
            "in-queue.wav"
        ],
        "{files:?}"
    );

    // A gender that is not one is refused at its line and column.
    let bad = gendered_playlist(dir.path(), "female");
    let out = holdmix(dir.path())
        .args(["check", bad.to_str().expect("path")])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("gender.toml:8:") && err.contains("gender"), "{err}");
    assert!(err.contains("\"female\""), "{err}");
}
