//! Playlists that offer languages (issue 19): a language key switches a
//! running call's prompts (rendered timeline and PCM: the other language's
//! recordings heard after the key, the music going on), `--language` and
//! the channel's language choose the set in their precedence, a language
//! the playlist does not offer falls back to the default, `check` places
//! every language error, and the caller's choice is remembered across calls
//! and respawns (SQLite and a real MariaDB; the schema change migrates).

#[path = "language/memory.rs"]
mod memory;
#[path = "language/run.rs"]
mod run;

use crate::common::*;
use std::path::{Path, PathBuf};

const RATE: u32 = 8000;
/// Every English recording is a 700 Hz tone, every Russian one 1500 Hz:
/// which language is heard is measured in the PCM.
const EN_HZ: f32 = 700.0;
const RU_HZ: f32 = 1500.0;

/// Music (200 Hz, 60 s) and the two prompt sets: a 4 s welcome, a 1 s
/// confirmation and a 1 s "still there" in each language (the Russian
/// files end in `-ru`, so the timeline's file names tell them apart).
pub(crate) fn fixtures(dir: &Path) {
    let tone = |f: f32, secs: f32| sine(f, 0.5, secs, 16_000);
    write_wav(
        &dir.join("music.wav"),
        16_000,
        1,
        &sine(200.0, 0.25, 60.0, 16_000),
    );
    for (lang, hz, suffix) in [("en", EN_HZ, ""), ("ru", RU_HZ, "-ru")] {
        let d = dir.join(lang);
        std::fs::create_dir_all(&d).unwrap();
        write_wav(&d.join(format!("welcome{suffix}.wav")), 16_000, 1, &tone(hz, 4.0));
        write_wav(&d.join(format!("chosen{suffix}.wav")), 16_000, 1, &tone(hz, 1.0));
        write_wav(
            &d.join(format!("still-there{suffix}.wav")),
            16_000,
            1,
            &tone(hz, 1.0),
        );
    }
}

/// English by default, Russian offered; key 9 chooses Russian, key 8 English.
pub(crate) const PLAYLIST: &str = r#"
[music]
tracks = ["music.wav"]
[levels]
fade = "300ms"
[prompts]
from = ["en"]
[welcome]
say = ["welcome"]
[[repeat]]
first = "7s"
every = "5s"
say = ["still-there"]
position_above = 0   # said at position 1 too (the AMI test's caller is first)
[languages]
default = "en"
[languages.ru.prompts]
welcome = "ru/welcome-ru.wav"
chosen = "ru/chosen-ru.wav"
still-there = "ru/still-there-ru.wav"
[keys]
9 = { action = "language", to = "ru", say = ["chosen"] }
8 = { action = "language", to = "en", say = ["chosen"] }
"#;

pub(crate) fn language_playlist(dir: &Path) -> PathBuf {
    fixtures(dir);
    playlist(dir, "lang.toml", PLAYLIST)
}

fn render(dir: &Path, secs: u32, events: &[&str]) -> (Vec<f32>, Vec<serde_json::Value>) {
    let pl = language_playlist(dir);
    render_call(dir, &pl, secs, events, &[])
}

/// The prompts started, as `lang/name`, in order.
pub(crate) fn started(tl: &[serde_json::Value]) -> Vec<String> {
    events(tl, "prompt_start")
        .iter()
        .map(|e| {
            let f = e["file"].as_str().unwrap_or("").trim_end_matches(".wav");
            match f.strip_suffix("-ru") {
                Some(name) => format!("ru/{name}"),
                None => format!("en/{f}"),
            }
        })
        .collect()
}

/// The `language` events as (code, by).
pub(crate) fn languages(tl: &[serde_json::Value]) -> Vec<(String, String)> {
    events(tl, "language")
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap_or("").to_string(),
                e["by"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Which language's tone is louder between `a` and `b` seconds, and by how
/// many dB.
fn heard(s: &[f32], a: f64, b: f64) -> (f32, f32) {
    let w = window(s, RATE, a, b);
    (
        db(tone_amplitude(w, EN_HZ, RATE)),
        db(tone_amplitude(w, RU_HZ, RATE)),
    )
}

#[test]
fn the_language_key_switches_a_running_calls_prompts() {
    let dir = tempdir();
    // Without the key: English throughout.
    let (_, plain) = render(dir.path(), 14, &[]);
    assert_eq!(
        started(&plain),
        ["en/welcome", "en/still-there", "en/still-there"]
    );
    assert_eq!(languages(&plain), [("en".into(), "default".into())]);

    // Key 9 two seconds into the English welcome.
    let (s, tl) = render(dir.path(), 14, &["2s:dtmf:9"]);
    assert_eq!(
        started(&tl),
        ["en/welcome", "ru/chosen", "ru/still-there", "ru/still-there"],
        "{tl:#?}"
    );
    assert_eq!(
        languages(&tl),
        [("en".into(), "default".into()), ("ru".into(), "caller".into())]
    );
    // The welcome was cut by the key (the barge-in fade), not played out.
    let cut = events(&tl, "prompt_end")
        .into_iter()
        .find(|e| e["file"] == "welcome.wav")
        .expect("welcome end");
    assert_eq!(cut["skipped"], true, "{cut}");
    let cut_at = cut["t"].as_f64().unwrap();
    assert!((2.0..2.2).contains(&cut_at), "welcome cut at {cut_at}");
    let answer = events(&tl, "prompt_start")[1]["t"].as_f64().unwrap();
    assert!((2.0..2.3).contains(&answer), "answer at {answer}");

    // In the PCM: English before the key, Russian after it, each at least
    // 20 dB above the other language's tone.
    let (en, ru) = heard(&s, 0.5, 1.9);
    assert!(en > ru + 20.0, "before the key: en {en:.1} dB, ru {ru:.1} dB");
    let (en, ru) = heard(&s, answer + 0.2, answer + 0.9);
    assert!(ru > en + 20.0, "after the key: en {en:.1} dB, ru {ru:.1} dB");
    // The repeat at 7 s is Russian too.
    let (en, ru) = heard(&s, 7.2, 7.9);
    assert!(ru > en + 20.0, "repeat: en {en:.1} dB, ru {ru:.1} dB");
    // The music went on under it all (200 Hz never stops).
    for (a, b) in [(2.0, 2.5), (5.0, 6.5), (9.0, 11.0)] {
        let m = db(tone_amplitude(window(&s, RATE, a, b), 200.0, RATE));
        assert!(m > -50.0, "music {m:.1} dB between {a} and {b} s");
    }

    // And back to English with key 8.
    let (s, tl) = render(dir.path(), 14, &["2s:dtmf:9", "9s:dtmf:8"]);
    let names = started(&tl);
    assert_eq!(
        names.last().map(String::as_str),
        Some("en/still-there"),
        "{names:?}"
    );
    let (en, ru) = heard(&s, 12.2, 12.9);
    assert!(en > ru + 20.0, "after key 8: en {en:.1} dB, ru {ru:.1} dB");
}

#[test]
fn the_channels_language_chooses_the_set_and_an_unknown_one_falls_back() {
    let dir = tempdir();
    // The channel says Russian (as AMI's MusicOnHoldStart `Language:` does).
    let (_, tl) = render(dir.path(), 9, &["0s:language:ru"]);
    assert_eq!(started(&tl), ["ru/welcome", "ru/still-there"], "{tl:#?}");
    assert_eq!(languages(&tl).last(), Some(&("ru".into(), "channel".into())));
    // Asterisk's spelling with a region: its primary language.
    let (_, tl) = render(dir.path(), 9, &["0s:language:ru_RU"]);
    assert_eq!(started(&tl), ["ru/welcome", "ru/still-there"]);
    // A language not offered: the default goes on, and the timeline says so.
    let (_, tl) = render(dir.path(), 9, &["0s:language:de"]);
    assert_eq!(started(&tl), ["en/welcome", "en/still-there"]);
    let refused = events(&tl, "language");
    assert_eq!(refused.last().unwrap()["offered"], false, "{refused:?}");
    // The caller's key outranks the channel's language given later.
    let (_, tl) = render(dir.path(), 9, &["1s:dtmf:9", "2s:language:en"]);
    assert_eq!(started(&tl), ["en/welcome", "ru/chosen", "ru/still-there"]);
}

fn check(dir: &Path, text: &str) -> (i32, String) {
    let pl = playlist(dir, "c.toml", text);
    let out = holdmix(dir).arg("check").arg(&pl).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_places_every_language_problem() {
    let dir = tempdir();
    fixtures(dir.path());
    std::fs::write(dir.path().join("broken-map.toml"), "language = \"xx\"\n").unwrap();
    // The good playlist checks clean.
    let (code, out) = check(dir.path(), PLAYLIST);
    assert_eq!(code, 0, "{out}");

    let bad = r#"[music]
tracks = ["music.wav"]
[prompts]
from = ["en"]
[welcome]
say = ["welcome"]
[languages]
default = "en"
[languages.English.prompts]
from = ["ru"]
[languages.ru.speech]
map = "broken-map.toml"
[keys]
9 = { action = "language", to = "de" }
7 = { action = "language", to = "r u" }
"#;
    let (code, out) = check(dir.path(), bad);
    assert_ne!(code, 0, "{out}");
    for want in [
        "c.toml:9:12", // the table's key
        "\"English\" is not a language code",
        "c.toml:12:7", // the map that fails
        "language \"xx\" is not \"en\" or \"ru\"",
        "c.toml:14:33", // the key's `to`
        "language \"de\" is not offered here",
        "c.toml:15:33",
        "\"r u\" is not a language code",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }

    // A prompt one language records and another does not: a warning (the
    // call says the default's recording), so check passes and a reload
    // would take it.
    let (code, out) = check(
        dir.path(),
        &PLAYLIST.replace("still-there = \"ru/still-there-ru.wav\"\n", ""),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("c.toml:17:12: warning: languages.ru: language \"ru\": no prompt \"still-there\" of its own (\"en\" has one)"),
        "{out}"
    );

    // A key for a language with no [languages] at all.
    let (code, out) = check(
        dir.path(),
        "[music]\ntracks = [\"music.wav\"]\n[keys]\n9 = { action = \"language\", to = \"ru\" }\n",
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("c.toml:4:33") && out.contains("no [languages] section offers \"ru\""),
        "{out}"
    );
}

#[test]
fn advices_come_in_the_chosen_language_too() {
    let dir = tempdir();
    fixtures(dir.path());
    let tone = |f: f32| sine(f, 0.5, 1.0, 16_000);
    write_wav(&dir.path().join("en/tip.wav"), 16_000, 1, &tone(EN_HZ));
    write_wav(&dir.path().join("ru/tip-ru.wav"), 16_000, 1, &tone(RU_HZ));
    let text = format!(
        "{PLAYLIST}\n[advice]\nstart = \"5s\"\n[[advice.group]]\nname = \"tips\"\nfiles = \"en/tip.wav\"\n\
         [languages.ru.advice]\ntips = \"ru/tip-ru.wav\"\n"
    );
    let pl = playlist(dir.path(), "advice.toml", &text);
    let render = |events: &[&str]| {
        let tl = dir.path().join("adv.jsonl");
        let mut cmd = holdmix(dir.path());
        cmd.arg("render")
            .arg(&pl)
            .args(["--duration", "7s", "-o"])
            .arg(dir.path().join("adv.wav"))
            .arg("--timeline")
            .arg(&tl);
        for e in events {
            cmd.arg("--event").arg(e);
        }
        ok(&mut cmd);
        started(&timeline(&tl))
    };
    assert_eq!(render(&[]), ["en/welcome", "en/tip"]);
    assert_eq!(render(&["1s:dtmf:9"]), ["en/welcome", "ru/chosen", "ru/tip"]);
    // A group the playlist does not have is an error at its name.
    let (code, out) = check(dir.path(), &text.replace("\ntips = \"ru/", "\ntipz = \"ru/"));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("no advice group named \"tipz\" (hint: did you mean \"tips\"?)"),
        "{out}"
    );
}
