//! Dates and holidays: calendars checked at their file:line:column, `plan`
//! for a day with a holiday (its exact text and its picture), and rendered
//! calls crossing local midnight into a holiday in Asia/Vladivostok and a
//! spring-forward morning in Europe/Berlin, measured in PCM and timeline.

use super::common::*;
use std::path::Path;

/// Tones for music (a 440 Hz, b 660 Hz, 4 s each) and 1 s prompts, each
/// at its own pitch so the PCM says which one played.
fn sounds(dir: &Path) {
    write_wav(&dir.join("a.wav"), 8000, 1, &sine(440.0, 0.4, 4.0, 8000));
    write_wav(&dir.join("b.wav"), 8000, 1, &sine(660.0, 0.4, 4.0, 8000));
    for (name, f) in [
        ("welcome", 300.0),
        ("happy", 500.0),
        ("office", 700.0),
        ("closed", 800.0),
        ("still", 900.0),
        ("m1", 350.0),
        ("m2", 550.0),
    ] {
        write_wav(
            &dir.join(format!("{name}.wav")),
            8000,
            1,
            &sine(f, 0.4, 1.0, 8000),
        );
    }
    std::fs::write(
        dir.join("cal.toml"),
        "[holidays]\nnew_years_eve = \"12-31\"\nnew_year = \"01-01..01-08\"\n",
    )
    .unwrap();
}

const PLAN_PLAYLIST: &str = r#"timezone = "Asia/Vladivostok"
calendar = "cal.toml"

[prompts]
welcome = "welcome.wav"
happy = "happy.wav"
office = "office.wav"
still = "still.wav"

[music]
tracks = ["a.wav"]

[[music.variant]]
name = "festive"
when = { on = ["new_years_eve"], time = "12:00-24:00" }
tracks = ["b.wav"]

[[music.variant]]
name = "evening"
when = "18:00-24:00"
tracks = ["a.wav"]

[welcome]
say = ["welcome"]

[[welcome.variant]]
name = "happy"
when = { holiday = true }
say = ["happy"]

[[advice.group]]
name = "morning"
files = ["m1.wav"]
when = "06:00-12:00"

[[advice.group]]
name = "evening"
files = ["m2.wav"]
when = "18:00-23:00"

[[repeat]]
every = "30s"
say = ["still"]
when = { holiday = true, time = "20:00-24:00" }

[keys]
"1" = { action = "say", say = ["office"], when = { days = "mon-fri", time = "09:00-18:00", holiday = false } }
"3" = { action = "next-music" }
"#;

const PLAN_TEXT: &str = "plan for plan.toml on 2026-12-31 (Thursday), Asia/Vladivostok
holidays: new_years_eve
00:00-06:00
  music:   default
  welcome: happy
  advice:  none
  repeats: none
  keys:    3 next-music
  closed:  1 say
06:00-12:00
  music:   default
  welcome: happy
  advice:  morning
  repeats: none
  keys:    3 next-music
  closed:  1 say
12:00-18:00
  music:   festive
  welcome: happy
  advice:  none
  repeats: none
  keys:    3 next-music
  closed:  1 say
18:00-20:00
  music:   festive
  welcome: happy
  advice:  evening
  repeats: none
  keys:    3 next-music
  closed:  1 say
20:00-23:00
  music:   festive
  welcome: happy
  advice:  evening
  repeats: #1 every 30s
  keys:    3 next-music
  closed:  1 say
23:00-24:00
  music:   festive
  welcome: happy
  advice:  none
  repeats: #1 every 30s
  keys:    3 next-music
  closed:  1 say
overlaps:
  music: \"festive\" and \"evening\" both open 18:00-24:00: \"festive\" plays (the first listed)
gaps:
  advice: no group open 00:00-06:00: no advices then
  advice: no group open 12:00-18:00: no advices then
  advice: no group open 23:00-24:00: no advices then
";

#[test]
fn plan_prints_a_holiday_day_window_by_window_and_draws_it() {
    let dir = tempdir();
    sounds(dir.path());
    playlist(dir.path(), "plan.toml", PLAN_PLAYLIST);
    let png = dir.path().join("day.png");
    let out = ok(holdmix(dir.path())
        .current_dir(dir.path())
        .args([
            "plan",
            "plan.toml",
            "--date",
            "2026-12-31",
            "--plot-size",
            "900x300",
            "--plot",
        ])
        .arg(&png));
    assert_eq!(String::from_utf8_lossy(&out.stdout), PLAN_TEXT);
    // The next day: new_year, not new_years_eve; the festive music is closed.
    let out =
        ok(holdmix(dir.path())
            .current_dir(dir.path())
            .args(["plan", "plan.toml", "--date", "2027-01-01"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("holidays: new_year\n"), "{text}");
    assert!(!text.contains("festive"), "{text}");
    // The picture decodes at the size asked for, with coloured bands in it.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (900, 300));
    let coloured = buf.chunks(3).filter(|p| p[0] != p[1] || p[1] != p[2]).count();
    assert!(coloured > 900 * 300 / 10, "{coloured} coloured pixels");
}

#[test]
fn plan_refuses_a_bad_date_and_a_broken_playlist() {
    let dir = tempdir();
    sounds(dir.path());
    playlist(dir.path(), "plan.toml", PLAN_PLAYLIST);
    let out = holdmix(dir.path())
        .current_dir(dir.path())
        .args(["plan", "plan.toml", "--date", "2026-02-30"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2026-02-30"));
    playlist(
        dir.path(),
        "broken.toml",
        "[music]\ntracks = [\"a.wav\"]\n[keys]\n\"1\" = { action = \"say\", say = [\"x\"], when = { on = [\"xmas\"] } }\n",
    );
    let out = holdmix(dir.path())
        .current_dir(dir.path())
        .args(["plan", "broken.toml", "--date", "2026-12-31"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown holiday \"xmas\""), "{err}");
    assert!(err.contains("broken.toml: 2 error(s)"), "{err}");
}

#[test]
fn check_reports_calendar_mistakes_at_their_line_and_column() {
    let dir = tempdir();
    sounds(dir.path());
    std::fs::write(
        dir.path().join("bad-cal.toml"),
        "[holidays]\nnew_year = \"01-01\"\nfeb = \"02-30\"\nback = \"2027-01-10..2026-12-24\"\n\
         leap = \"02-29\"\n\"Bad Name\" = \"12-25\"\n",
    )
    .unwrap();
    playlist(
        dir.path(),
        "p.toml",
        "calendar = \"bad-cal.toml\"\n[music]\ntracks = [\"a.wav\"]\n\n[[music.variant]]\nname = \"x\"\n\
         when = { on = [\"new_yaer\"] }\ntracks = [\"b.wav\"]\n\n[prompts]\nclosed = \"closed.wav\"\n\
         [keys]\n\"3\" = { action = \"next-music\", closed = [\"closed\"] }\n",
    );
    let out = holdmix(dir.path())
        .current_dir(dir.path())
        .args(["check", "--quick", "p.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    for line in [
        "bad-cal.toml:3:7: error: holidays.feb: \"02-30\": there is no such day in any year",
        "bad-cal.toml:4:8: error: holidays.back: \"2027-01-10..2026-12-24\": the range ends (2026-12-24) before it starts (2027-01-10)",
        "bad-cal.toml:5:8: warning: holidays.leap: \"02-29\" falls only in leap years",
        "bad-cal.toml:6:1: error: holidays.Bad Name: \"Bad Name\" is not a holiday name",
        "p.toml:7:16: error: music.variant[0].when.on: unknown holiday \"new_yaer\" (hint: did you mean \"new_year\"?)",
        "p.toml:13:41: warning: keys.3.closed: `closed` is only said outside `when`",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

/// A playlist with a time-of-day set of advice groups (morning, day,
/// evening) whose three windows are `when`.
fn day_set(when: [&str; 3]) -> String {
    let mut text = String::from("[music]\ntracks = [\"a.wav\"]\n");
    for (name, w) in ["morning", "day", "evening"].iter().zip(when) {
        text += &format!("\n[[advice.group]]\nname = \"{name}\"\nfiles = [\"m1.wav\"]\nwhen = {w}\n");
    }
    text
}

/// `holdmix check --quick` on `text`: its exit code and its report.
fn check_text(dir: &Path, text: &str) -> (Option<i32>, String) {
    playlist(dir, "set.toml", text);
    let out = holdmix(dir)
        .current_dir(dir)
        .args(["check", "--quick", "set.toml"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A bad time or day name in one window of a time-of-day set is reported
/// once, at its line, column and key (with the day it probably meant),
/// and the set is not judged from the windows that did read: no coverage
/// warning for a gap that is only the broken window's.
#[test]
fn a_bad_window_is_its_error_only_without_a_coverage_warning() {
    let dir = tempdir();
    sounds(dir.path());
    let cases = [
        (
            ["\"00:00-10:00\"", "\"10:00-21:00\"", "\"21:00-25:00\""],
            "set.toml:17:8: error: advice.group[2].when: \"25:00\" is not a time of day (00:00 to 24:00)",
        ),
        (
            ["\"00:00-10:00\"", "\"9h-21:00\"", "\"21:00-24:00\""],
            "set.toml:12:8: error: advice.group[1].when: \"9h\" is not a time of day; write HH:MM, \
             e.g. \"09:30\"",
        ),
        (
            [
                "{ days = \"Mnday\", time = \"00:00-10:00\" }",
                "\"10:00-21:00\"",
                "\"21:00-24:00\"",
            ],
            "set.toml:7:17: error: advice.group[0].when.days: \"Mnday\" is not a day; use mon, tue, \
             wed, thu, fri, sat, sun (hint: did you mean \"monday\"?)",
        ),
        (
            // One rule of a list broken: the others alone would leave Saturday mornings uncovered.
            [
                "[{ days = \"mon-fri\", time = \"00:00-10:00\" }, { days = \"satrday,sun\", time = \"00:00-10:00\" }]",
                "\"10:00-21:00\"",
                "\"21:00-24:00\"",
            ],
            "set.toml:7:62: error: advice.group[0].when[1].days: \"satrday\" is not a day; use mon, \
             tue, wed, thu, fri, sat, sun (hint: did you mean \"saturday\"?)",
        ),
    ];
    for (when, error) in cases {
        let (code, report) = check_text(dir.path(), &day_set(when));
        assert_eq!(code, Some(1), "{report}");
        assert_eq!(
            report,
            format!("{error}\n{}: 1 error, 0 warnings\n", "set.toml"),
            "{when:?}"
        );
    }
}

/// Valid windows that leave a gap still get the coverage warning, and a
/// set that covers the week gets none.
#[test]
fn valid_windows_with_a_gap_are_warned_about() {
    let dir = tempdir();
    sounds(dir.path());
    let (code, report) = check_text(
        dir.path(),
        &day_set(["\"00:00-09:00\"", "\"10:00-21:00\"", "\"21:00-24:00\""]),
    );
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        report,
        "set.toml:4:1: warning: advice.group (morning, day, evening): no group of this \
         time-of-day set is open from mon 09:00 to mon 10:00 (and 6 more gaps) (hint: callers \
         then hear none of these advices; cover 00:00-24:00)\nset.toml: 0 errors, 1 warning\n"
    );
    // Wednesdays and Sundays: two gaps, the second counted in the singular.
    let (code, report) = check_text(
        dir.path(),
        &day_set([
            "{ days = \"mon-tue,thu-sat\", time = \"00:00-10:00\" }",
            "{ days = \"mon-tue,thu-sat\", time = \"10:00-21:00\" }",
            "{ days = \"mon-tue,thu-sat\", time = \"21:00-24:00\" }",
        ]),
    );
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("is open from wed 00:00 to thu 00:00 (and 1 more gap) (hint:"),
        "{report}"
    );
    let (code, report) = check_text(
        dir.path(),
        &day_set(["\"00:00-10:00\"", "\"10:00-21:00\"", "\"21:00-24:00\""]),
    );
    assert_eq!(
        (code, report.as_str()),
        (Some(0), "set.toml: 0 errors, 0 warnings\n")
    );
}

/// The Vladivostok playlist: New Year's music, welcome, repeats on the
/// holiday; key 1 only on working days.
const VLADIVOSTOK: &str = r#"timezone = "Asia/Vladivostok"
calendar = "ny.toml"

[prompts]
welcome = "welcome.wav"
happy = "happy.wav"
office = "office.wav"
closed = "closed.wav"
still = "still.wav"

[levels]
fade = "100ms"

[music]
tracks = ["a.wav"]

[[music.variant]]
name = "new-year"
when = { on = ["new_year"] }
tracks = ["b.wav"]

[welcome]
say = ["welcome"]

[[welcome.variant]]
name = "happy"
when = { on = ["new_year"] }
say = ["happy"]

[[repeat]]
first = "1s"
every = "3s"
say = ["still"]
position_above = 0
when = { on = ["new_year"] }

[keys]
"1" = { action = "say", say = ["office"], when = { holiday = false }, closed = ["closed"] }
"#;

fn render(
    dir: &Path,
    playlist: &Path,
    seconds: u32,
    at: &str,
    extra: &[&str],
) -> (Vec<f32>, Vec<serde_json::Value>) {
    let tl = dir.join("tl.jsonl");
    let wav = dir.join("out.wav");
    ok(holdmix(dir)
        .args(["render", playlist.to_str().unwrap(), "--duration"])
        .arg(format!("{seconds}s"))
        .args(["--at", at, "--seed", "1", "-o"])
        .arg(&wav)
        .arg("--timeline")
        .arg(&tl)
        .args(extra));
    (read_wav(&wav).1, timeline(&tl))
}

fn music_files(tl: &[serde_json::Value]) -> Vec<(f64, String)> {
    events(tl, "music_start")
        .iter()
        .map(|e| (e["t"].as_f64().unwrap(), e["file"].as_str().unwrap().to_string()))
        .collect()
}

fn prompt_starts(tl: &[serde_json::Value], file: &str) -> Vec<f64> {
    events(tl, "prompt_start")
        .iter()
        .filter(|e| e["file"].as_str().unwrap().ends_with(file))
        .map(|e| e["t"].as_f64().unwrap())
        .collect()
}

/// A call at 23:59:50 on 31 December in Vladivostok (13:59:50 UTC, still
/// the 31st in UTC for ten more hours): the holiday starts 10 s in. The
/// welcome was chosen at the start (the old year's), the music changes at
/// the next track boundary (12 s), repeats start at midnight, and key 1
/// works before midnight and says "closed" after it.
#[test]
fn new_year_at_local_midnight_in_vladivostok() {
    let dir = tempdir();
    sounds(dir.path());
    // New Year only: 31 December is a working day here.
    std::fs::write(
        dir.path().join("ny.toml"),
        "[holidays]\nnew_year = \"01-01..01-08\"\n",
    )
    .unwrap();
    let pl = playlist(dir.path(), "v.toml", VLADIVOSTOK);
    let (pcm, tl) = render(
        dir.path(),
        &pl,
        24,
        "2026-12-31T23:59:50",
        &["--event", "5s:dtmf:1", "--event", "19s:dtmf:1"],
    );
    let music = music_files(&tl);
    let names: Vec<&str> = music.iter().map(|(_, f)| f.rsplit('/').next().unwrap()).collect();
    assert_eq!(
        names,
        ["a.wav", "a.wav", "a.wav", "b.wav", "b.wav", "b.wav"],
        "{music:?}"
    );
    assert!(
        (music[3].0 - 12.0).abs() < 0.05,
        "new-year music at {}",
        music[3].0
    );
    assert_eq!(prompt_starts(&tl, "welcome.wav").len(), 1);
    assert!(prompt_starts(&tl, "happy.wav").is_empty());
    let still = prompt_starts(&tl, "still.wav");
    assert!(
        !still.is_empty() && still.iter().all(|&t| t >= 10.0),
        "repeats at {still:?}"
    );
    let keys: Vec<&str> = events(&tl, "dtmf")
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["say", "closed"]);
    assert_eq!(prompt_starts(&tl, "office.wav").len(), 1);
    assert_eq!(prompt_starts(&tl, "closed.wav").len(), 1);
    assert!(prompt_starts(&tl, "closed.wav")[0] >= 19.0);
    // The PCM: 440 Hz before the boundary, 660 Hz after it.
    let before = window(&pcm, 8000, 8.3, 9.7);
    let after = window(&pcm, 8000, 15.3, 15.9);
    assert!(tone_amplitude(before, 440.0, 8000) > 10.0 * tone_amplitude(before, 660.0, 8000));
    assert!(tone_amplitude(after, 660.0, 8000) > 10.0 * tone_amplitude(after, 440.0, 8000));
    // A call starting a second after midnight hears the holiday welcome
    // and music from the start.
    let (_, tl) = render(dir.path(), &pl, 6, "2027-01-01T00:00:01", &[]);
    assert_eq!(prompt_starts(&tl, "happy.wav").len(), 1);
    assert!(music_files(&tl)[0].1.ends_with("b.wav"));
}

/// Berlin springs forward at 02:00 on 2026-03-29: a call at 01:59:50 is
/// at 03:00 ten seconds later, when a window "03:00-04:00" that day opens
/// (a fixed offset would still say 02:00).
#[test]
fn spring_forward_day_in_berlin() {
    let dir = tempdir();
    sounds(dir.path());
    let pl = playlist(
        dir.path(),
        "b.toml",
        "timezone = \"Europe/Berlin\"\n[music]\ntracks = [\"a.wav\"]\n\n[[music.variant]]\nname = \"three\"\n\
         when = { dates = [\"2026-03-29\"], time = \"03:00-04:00\" }\ntracks = [\"b.wav\"]\n",
    );
    let (_, tl) = render(dir.path(), &pl, 18, "2026-03-29T01:59:50", &[]);
    let names: Vec<String> = music_files(&tl).into_iter().map(|(_, f)| f).collect();
    assert!(names[..3].iter().all(|f| f.ends_with("a.wav")), "{names:?}");
    assert!(
        names[3..].iter().all(|f| f.ends_with("b.wav")) && names.len() == 5,
        "{names:?}"
    );
    // The plan says the day is 23 hours long.
    let out = ok(holdmix(dir.path()).args(["plan", pl.to_str().unwrap(), "--date", "2026-03-29"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("clock change: UTC+01:00 to UTC+02:00; the day has 23 hours"),
        "{text}"
    );
    assert!(text.contains("03:00-04:00\n  music:   three\n"), "{text}");
}

/// The shipped calendars are clean and name their days.
#[test]
fn shipped_calendars_check_clean_and_name_their_holidays() {
    let dir = tempdir();
    sounds(dir.path());
    for (file, date, holiday) in [
        ("ru.toml", "2026-05-09", "victory_day"),
        ("ru.toml", "2027-01-07", "new_year"),
        ("us.toml", "2026-11-26", "thanksgiving"),
        ("us.toml", "2027-07-04", "independence_day"),
    ] {
        let cal = root().join("calendars").join(file);
        let pl = playlist(
            dir.path(),
            "c.toml",
            &format!(
                "calendar = {:?}\n[music]\ntracks = [\"a.wav\"]\n[prompts]\noffice = \"office.wav\"\n\
                 [keys]\n\"1\" = {{ action = \"say\", say = [\"office\"], when = {{ holiday = false }} }}\n",
                cal.to_str().unwrap()
            ),
        );
        let out = ok(holdmix(dir.path()).args(["check", "--quick", pl.to_str().unwrap()]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("0 errors, 0 warnings"), "{file}: {text}");
        let out = ok(holdmix(dir.path()).args(["plan", pl.to_str().unwrap(), "--date", date]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("holidays: {holiday}\n")),
            "{file} {date}: {text}"
        );
        assert!(text.contains("  closed:  1 say\n"), "{file} {date}: {text}");
    }
}

/// Music is never silence: with only a variant and its window closed, a
/// call still gets that variant's music, and `check` and `plan` say so.
#[test]
fn music_gap_plays_a_variant_and_is_warned_about() {
    let dir = tempdir();
    sounds(dir.path());
    let pl = playlist(
        dir.path(),
        "g.toml",
        "timezone = \"UTC\"\n[music]\n\n[[music.variant]]\nname = \"xmas\"\n\
         when = { dates = [\"12-24..12-26\"] }\ntracks = [\"b.wav\"]\n",
    );
    let (pcm, tl) = render(dir.path(), &pl, 6, "2026-07-01T12:00", &[]);
    assert!(music_files(&tl)[0].1.ends_with("b.wav"));
    let w = window(&pcm, 8000, 1.0, 5.0);
    assert!(
        tone_amplitude(w, 660.0, 8000) > 0.05,
        "{}",
        tone_amplitude(w, 660.0, 8000)
    );
    let out = ok(holdmix(dir.path()).args(["check", "--quick", pl.to_str().unwrap()]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("music variants but no `tracks` for when none is open"),
        "{text}"
    );
    let out = ok(holdmix(dir.path()).args(["plan", pl.to_str().unwrap(), "--date", "2026-07-01"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  music:   (gap: keeps what plays)\n"), "{text}");
    assert!(
        text.contains("music: no variant open and no [music] tracks 00:00-24:00"),
        "{text}"
    );
}
