//! How a command's last error reads: a command typed at a shell answers
//! `holdmix: error: …` on one line; a service (`run`, `hub`, `serve`),
//! whose stderr is its log, ends with a log line like its others.

use crate::common::{holdmix, tempdir};

#[test]
fn a_commands_error_is_one_plain_line_naming_the_file() {
    let dir = tempdir();
    let missing = dir.path().join("missing.toml");
    let wav = dir.path().join("out.wav");
    std::fs::write(&wav, b"the last good render").expect("write");
    let cases: [Vec<std::ffi::OsString>; 3] = [
        vec![
            "render".into(),
            missing.clone().into(),
            "--duration".into(),
            "1s".into(),
            "-o".into(),
            wav.clone().into(),
        ],
        vec![
            "plan".into(),
            missing.clone().into(),
            "--date".into(),
            "2026-12-07".into(),
        ],
        vec!["report".into(), dir.path().join("no-timelines").into()],
    ];
    for args in cases {
        let out = holdmix(dir.path()).args(&args).output().expect("spawn");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with("holdmix: error: "), "{args:?}: {err}");
        assert!(!lines[0].contains("ERROR"), "not a log line: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A failed render leaves the last good file, and nothing beside it.
    assert_eq!(std::fs::read(&wav).expect("read"), b"the last good render");
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    left.sort();
    assert!(
        !left.iter().any(|n| n.to_string_lossy().ends_with(".tmp")),
        "{left:?}"
    );
}

#[test]
fn a_services_error_is_a_log_line() {
    let dir = tempdir();
    let missing = dir.path().join("missing.toml");
    let out = holdmix(dir.path())
        .args(["serve"])
        .arg(&missing)
        .args(["--audiosocket", "127.0.0.1:0"])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(" ERROR ") && last.contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("holdmix: error:"), "{err}");
}

/// A command's other lines read the same way: a playlist's problem as
/// `check` prints it, the rest after `holdmix:`, none with a time; a
/// `--log FILE` keeps the full form (time, level, span).
#[test]
fn a_commands_warnings_are_plain_and_a_log_file_keeps_the_full_form() {
    let dir = tempdir();
    let tone = dir.path().join("tone.wav");
    crate::common::write_wav(&tone, 8000, 1, &crate::common::sine(440.0, 0.5, 1.0, 8000));
    let pl = dir.path().join("p.toml");
    std::fs::write(&pl, "[music]\ntracks = [\"tone.wav\", \"missing.wav\"]\n").expect("write");
    let render = |extra: &[&str]| {
        let out = holdmix(dir.path())
            .args(extra)
            .arg("render")
            .arg(&pl)
            .args(["--duration", "1s", "-o"])
            .arg(dir.path().join("out.wav"))
            .output()
            .expect("spawn");
        // The missing file is an error of the playlist: rendered, and failed.
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = render(&[]);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(
            format!(
                "{}:2:23: error: music.tracks: {} does not exist",
                pl.display(),
                dir.path().join("missing.wav").display()
            )
            .as_str()
        ),
        "{err}"
    );
    assert!(lines[1..].iter().all(|l| l.starts_with("holdmix: ")), "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("holdmix: rendered; the same again: --seed 1 --at ")),
        "{err}"
    );
    assert!(!err.contains("render{"), "no span: {err}");

    let log = dir.path().join("render.log");
    let err = render(&["--log", log.to_str().expect("path")]);
    assert!(err.is_empty(), "{err}");
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = text.lines().collect();
    let [.., rendered, failed] = lines[..] else {
        panic!("{text}")
    };
    assert!(
        rendered.starts_with("20")
            && rendered.contains("  INFO render{caller=-}: rendered; the same again: "),
        "{text}"
    );
    assert!(
        failed.starts_with("20") && failed.contains(" ERROR render{caller=-}: 1 error(s) in the playlist"),
        "{text}"
    );
}

/// A playlist with errors renders as a call hears it (a call plays on
/// past them), and the command fails, saying so last: `render x.toml &&
/// deploy` stops there.
#[test]
fn render_of_a_playlist_with_errors_writes_the_call_and_fails() {
    let dir = tempdir();
    let music = crate::common::root().join("sample-audio/music");
    let pl = crate::common::playlist(
        dir.path(),
        "p.toml",
        &format!("[music]\ntracks = [{music:?}]\nbogus = 1\n\n[announce.position]\nevery = \"-5s\"\n"),
    );
    let wav = dir.path().join("out.wav");
    let out = holdmix(dir.path())
        .args(["render", pl.to_str().expect("path"), "--duration", "3s", "-o"])
        .arg(&wav)
        .output()
        .expect("render");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("music.bogus: unknown key"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("holdmix: error: 3 error(s) in the playlist: rendered as a call hears it"),
        "{stderr}"
    );
    let (rate, samples) = crate::common::read_wav(&wav);
    assert_eq!((rate, samples.len()), (8000, 24_000));
    assert!(crate::common::rms(&samples) > 0.01, "the music plays on");
}

/// A command's last error sums up the problems logged before it: they are
/// out first (the log writes through a thread of its own), and the error
/// is the last line.
#[test]
fn a_commands_error_comes_after_the_problems_it_sums_up() {
    let dir = tempdir();
    let pl = crate::common::playlist(
        dir.path(),
        "p.toml",
        "[music]\ntracks = [\"x.wav\"]\n[[advice.group]]\nwhen = \"25:00-26:00\"\n",
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let cases: [(&[&str], &str, &str); 2] = [
        (
            &["plan", pl.to_str().expect("path"), "--date", "2026-12-31"],
            "error: music.tracks",
            "holdmix: error: ",
        ),
        (
            &[
                "cache",
                "warm",
                pl.to_str().expect("path"),
                "-C",
                file.to_str().expect("path"),
            ],
            "holdmix: warning: cache directory not usable: File exists",
            "holdmix: error: no usable cache directory: nothing can be warmed",
        ),
    ];
    for (args, first, last) in cases {
        // Ten times: the order was right by luck one run in ten.
        for _ in 0..10 {
            // The warm names its own cache directory; the plan gets the test's.
            let mut cmd = match args[0] {
                "plan" => holdmix(dir.path()),
                _ => std::process::Command::new(env!("CARGO_BIN_EXE_holdmix")),
            };
            let out = cmd.args(args).output().expect("spawn");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            let lines: Vec<&str> = err.lines().collect();
            assert!(lines.len() >= 2, "{args:?}: {err}");
            assert!(lines[0].contains(first), "{args:?}: {err}");
            let end = lines[lines.len() - 1];
            assert!(end.starts_with(last), "{args:?}: {err}");
            assert!(
                lines[..lines.len() - 1]
                    .iter()
                    .all(|l| !l.starts_with("holdmix: error")),
                "{err}"
            );
        }
    }
}

/// A plot size that cannot be drawn is refused as the arguments are read,
/// not after hours of rendering: nothing is written.
#[test]
fn a_plot_size_out_of_range_is_refused_before_rendering() {
    let dir = tempdir();
    let wav = dir.path().join("out.wav");
    let out = holdmix(dir.path())
        .arg("render")
        .arg(crate::common::root().join("playlists/demo.toml"))
        .args(["--duration", "10h", "--plot-size", "10x10", "--plot"])
        .arg(dir.path().join("p.png"))
        .arg("-o")
        .arg(&wav)
        .output()
        .expect("render");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("size 10x10 is out of range (at least 200x100"),
        "{err}"
    );
    assert!(!wav.exists(), "rendered before refusing");
}

/// An output that cannot be made is named as given, with the cause, and
/// never by the temporary file it is written through.
#[test]
fn an_output_that_cannot_be_made_is_named_as_given() {
    let dir = tempdir();
    let wav = dir.path().join("no-such-dir/x.wav");
    let out = holdmix(dir.path())
        .arg("render")
        .arg(crate::common::root().join("playlists/demo.toml"))
        .args(["--duration", "1s", "-o"])
        .arg(&wav)
        .output()
        .expect("render");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines().last().unwrap_or_default(),
        format!(
            "holdmix: error: {}: cannot create output: No such file or directory (os error 2)",
            wav.display()
        ),
        "{err}"
    );
}
