//! A playlist changed under a running call: a valid version applies and
//! the music goes on; a broken one is refused and the last good one kept.

use super::*;

fn reload_versions(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let music = root().join("sample-audio/music");
    let prompts = root().join("sample-audio/prompts/en");
    let v1 = format!("[music]\ntracks = [{:?}]\n", music.to_str().expect("path"));
    let v2 = format!(
        "{v1}\n[prompts]\nfrom = {:?}\n\n[[repeat]]\nfirst = \"0s\"\nevery = \"10s\"\nsay = [\"still-there\"]\n",
        prompts.to_str().expect("path")
    );
    let v3 = format!("{v2}\n[keys\n3 = oops\n");
    (
        playlist(dir, "live.toml", &v1),
        playlist(dir, "v2.toml", &v2),
        playlist(dir, "v3.toml", &v3),
    )
}

#[test]
fn reload_applies_a_valid_version_and_keeps_the_music() {
    let dir = tempdir();
    let (v1, v2, v3) = reload_versions(dir.path());
    let out = dir.path().join("reload.wav");
    let tl = dir.path().join("reload.jsonl");
    ok(holdmix(dir.path())
        .args(["render", v1.to_str().expect("path"), "--duration", "90s", "-o"])
        .arg(&out)
        .arg("--timeline")
        .arg(&tl)
        .arg("--event")
        .arg(format!("30s:reload:{}", v2.display()))
        .arg("--event")
        .arg(format!("60s:reload:{}", v3.display())));
    let tl = timeline(&tl);
    let reloads = events(&tl, "reload");
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    assert_eq!(reloads[0]["ok"], true);
    assert!((30.0..30.1).contains(&reloads[0]["t"].as_f64().expect("t")));
    assert_eq!(reloads[1]["ok"], false, "the broken version is refused");
    // v2's repeat: from the reload on, every 10 s, and still after the refusal.
    let repeats: Vec<f64> = prompts(&tl)
        .into_iter()
        .filter(|(_, f, q)| q == "repeat" && f == "still-there.wav")
        .map(|(t, _, _)| t)
        .collect();
    assert!(
        repeats.first().is_some_and(|&t| (30.0..32.0).contains(&t)),
        "{repeats:?}"
    );
    assert!(
        repeats.iter().any(|&t| t > 70.0),
        "v2 still in use after the refusal: {repeats:?}"
    );
    // The music played through both reloads: no silent 100 ms, no click.
    let (rate, s) = read_wav(&out);
    for k in 250..650 {
        let w = window(&s, rate, k as f64 / 10.0, (k + 1) as f64 / 10.0);
        assert!(db(rms(w)) > -50.0, "silence at {:.1} s", k as f64 / 10.0);
    }
    let src_step = max_step(window(&s, rate, 5.0, 25.0));
    // From before the reload to where the prompt's own words begin.
    let around = max_step(window(&s, rate, 29.0, 30.9));
    assert!(
        around <= src_step * 1.5 + 0.01,
        "step {around} at the reload vs {src_step}"
    );
}

#[test]
fn run_reloads_the_playlist_when_it_changes_on_disk() {
    let dir = tempdir();
    let (live, v2, v3) = reload_versions(dir.path());
    let tl_path = dir.path().join("live.jsonl");
    let mut child = spawn_run(
        dir.path(),
        &[
            "--playlist",
            live.to_str().expect("path"),
            "--timeline",
            tl_path.to_str().expect("path"),
        ],
    );
    let reader = drain(&mut child);
    // The playlist is looked at every 2 s. Each version is saved once the
    // one before it was taken (its reload in the timeline), so a loaded
    // machine's late look cannot skip v2.
    let reloads = |n: usize| {
        let t = std::time::Instant::now();
        while std::fs::read_to_string(&tl_path).map_or(0, |s| s.matches("\"event\":\"reload\"").count()) < n {
            assert!(t.elapsed() < Duration::from_secs(30), "no reload {n}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    std::fs::copy(&v2, &live).expect("save v2");
    reloads(1);
    assert!(
        wait_for_text(&tl_path, "still-there.wav", Duration::from_secs(30)),
        "v2's prompt never played"
    );
    std::fs::copy(&v3, &live).expect("save broken v3");
    reloads(2);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert!(child.wait().expect("wait").success());
    let bytes = reader.join().expect("reader").len();
    assert!(bytes >= 320 * 100, "the stream went on: {bytes} bytes");
    let tl = timeline(&tl_path);
    let oks: Vec<bool> = events(&tl, "reload").iter().map(|e| e["ok"] == true).collect();
    assert_eq!(oks, [true, false], "{tl:?}");
    assert!(
        prompts(&tl)
            .iter()
            .any(|(_, f, q)| q == "repeat" && f == "still-there.wav"),
        "v2's prompt played"
    );
    let log = log_text(dir.path());
    assert!(
        log.contains("live.toml") && log.contains("new version refused"),
        "{log}"
    );
}
