//! `holdmix check` and `holdmix cache warm` on routes files: every problem
//! with file:line:column, every route's playlist checked too, and every
//! route's playlist and sound map warmed.

use super::*;

fn check(dir: &Path, file: &Path) -> (i32, String) {
    let out = holdmix(dir)
        .args(["check", "--quick"])
        .arg(file)
        .output()
        .expect("run check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_shipped_example_routes_file_passes_check_with_each_routes_playlist() {
    let dir = tempdir();
    let routes = root().join("playlists/routes.toml");
    let (code, out) = check(dir.path(), &routes);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{}: 0 errors, 0 warnings", routes.display())),
        "{out}"
    );
    for p in ["demo.toml", "asterisk-queue.toml", "operators.toml"] {
        let p = root().join("playlists").join(p);
        assert!(
            out.contains(&format!("{}: 0 errors", p.display())),
            "{p:?} not checked:\n{out}"
        );
    }
}

#[test]
fn check_names_every_problem_of_a_routes_file_by_line_and_column() {
    let dir = tempdir();
    let d = dir.path();
    write_wav(&d.join("tone.wav"), 8000, 1, &sine(440.0, 0.3, 1.0, 8000));
    std::fs::write(d.join("main.toml"), "[music]\ntracks = [\"tone.wav\"]\n").expect("write");
    // A route's playlist with a problem of its own.
    std::fs::write(d.join("broken.toml"), "colour = 1\n").expect("write");
    let text = r#"[[route]]
name = "main"
playlist = "main.toml"
default = true
colour = "red"

[[route]]
name = "Sales"
playlist = "nosuch.toml"
default = true

[[route]]
name = "main"
playlist = "broken.toml"
language = "english"
when = { queue = "q", tenant = "x" }

[[route]]
name = "has_spaces"
playlist = "main.toml"
when = { queue = [] }
"#;
    let routes = write_routes(d, text);
    let (code, out) = check(d, &routes);
    assert_eq!(code, 1, "{out}");
    let f = routes.display().to_string();
    for want in [
        format!("{f}:5:1: error: route[0].colour: unknown key `colour`"),
        format!("{f}:8:8: error: route[1].name: \"Sales\" is not a route name"),
        format!(
            "{f}:9:12: error: route[1].playlist: {}: no such playlist",
            d.join("nosuch.toml").display()
        ),
        format!("{f}:10:11: error: route.default: a second default route"),
        format!("{f}:13:8: error: route[2].name: route \"main\" is named twice"),
        format!("{f}:15:12: error: route[2].language: \"english\" is not a language"),
        format!("{f}:16:23: error: route[2].when.tenant: unknown key `tenant`"),
        format!("{f}:21:8: error: route[3].when.queue: an empty list matches no call"),
        format!("{f}: 8 errors, 0 warnings"),
    ] {
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }
    // The routes' playlists, each checked once, the broken one's own error.
    let broken = d.join("broken.toml").display().to_string();
    assert!(
        out.contains(&format!("{broken}:1:1: error: colour: unknown key `colour`")),
        "{out}"
    );
    assert_eq!(
        out.matches(&format!("{}: 0 errors", d.join("main.toml").display()))
            .count(),
        1,
        "{out}"
    );

    // No default at all; and a file with no routes.
    let routes = write_routes(d, "[[route]]\nname = \"main\"\nplaylist = \"main.toml\"\n");
    let (code, out) = check(d, &routes);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "{}:1:1: error: route: no default route",
            routes.display()
        )),
        "{out}"
    );
}

/// A playlist in `dir` playing one tone, speaking with `map`.
fn toned(dir: &Path, name: &str, freq: f32, map: &Path) -> PathBuf {
    write_wav(
        &dir.join(format!("{name}.wav")),
        8000,
        1,
        &sine(freq, 0.3, 1.0, 8000),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[music]\ntracks = [\"{name}.wav\"]\n\n[speech]\nmap = \"{}\"\n",
            map.display()
        ),
    )
    .expect("write playlist");
    path
}

fn entries(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(cache)
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn cache_warm_on_a_routes_file_warms_every_routes_playlist_and_sound_map() {
    let dir = tempdir();
    let d = dir.path();
    let a = toned(d, "a", 440.0, &root().join("sample-audio/words/en/map.toml"));
    let b = toned(d, "b", 660.0, &root().join("sample-audio/words/ru/map.toml"));
    let routes = write_routes(
        d,
        "[[route]]\nname = \"en\"\nplaylist = \"a.toml\"\ndefault = true\n\n[[route]]\nname = \"ru\"\nplaylist = \"b.toml\"\nlanguage = \"ru\"\n",
    );
    let by_routes = d.join("by-routes");
    std::fs::create_dir_all(&by_routes).expect("dir");
    ok(holdmix(&by_routes).args(["cache", "warm"]).arg(&routes));
    // The same as warming both playlists by name: tones and both maps' words.
    let by_name = d.join("by-name");
    std::fs::create_dir_all(&by_name).expect("dir");
    ok(holdmix(&by_name).args(["cache", "warm"]).arg(&a).arg(&b));
    let got = entries(&by_routes.join("cache"));
    assert_eq!(got, entries(&by_name.join("cache")));
    let cache = holdmix::audio::cache::Cache::open(Some(&by_routes.join("cache")));
    let mut sources = vec![d.join("a.wav"), d.join("b.wav")];
    for lang in ["en", "ru"] {
        let words = root().join("sample-audio/words").join(lang);
        let some = std::fs::read_dir(&words)
            .expect("words")
            .map(|e| e.expect("entry").path())
            .find(|p| p.extension().is_some_and(|x| x != "toml"))
            .expect("a word recording");
        sources.push(some);
    }
    for src in &sources {
        let entry = cache
            .entry_path(src, 8000)
            .expect("entry path")
            .expect("a cache dir");
        let name = entry.file_name().expect("name").to_string_lossy().into_owned();
        assert!(
            got.contains(&name),
            "{} not warmed ({} entries)",
            src.display(),
            got.len()
        );
    }
    assert!(got.len() > 40, "{} entries", got.len());

    // A routes file with an error: a failure, the good routes still warmed.
    let bad = write_routes(d, "[[route]]\nname = \"en\"\nplaylist = \"a.toml\"\n");
    let out = holdmix(&by_routes)
        .args(["cache", "warm"])
        .arg(&bad)
        .output()
        .expect("warm");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_hub_refuses_to_start_on_a_broken_routes_file_naming_the_place() {
    let dir = tempdir();
    let d = dir.path();
    playlists(d, &["main"]);
    let routes = write_routes(
        d,
        "[[route]]\nname = \"main\"\nplaylist = \"main.toml\"\ndefault = true\nqueue = \"sales\"\n",
    );
    let out = std::process::Command::new(BIN)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .env("XDG_CACHE_HOME", d.join("cache"))
        .args(["hub", "--ami", "127.0.0.1:1", "--socket"])
        .arg(d.join("hub.sock"))
        .args(["--realtime", "127.0.0.1:0", "--routes"])
        .arg(&routes)
        .output()
        .expect("run hub");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5:1: error: route[0].queue: unknown key `queue`",
            routes.display()
        )),
        "{err}"
    );
}
