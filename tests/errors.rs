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
