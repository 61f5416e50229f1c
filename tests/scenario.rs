//! Playlists as ops staff write them: `check` finds every problem and says
//! where; broken files still stream; the old hack's advice scheme by time of
//! day; seeded random orders; position announcements; keys and floods.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/playlists/broken"))
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// `# expect: LINE:COL SEVERITY text; more text` from a corpus file's first line.
struct Expect {
    line: usize,
    col: usize,
    severity: String,
    texts: Vec<String>,
}

fn expectation(p: &Path) -> Expect {
    let text = std::fs::read_to_string(p).expect("read corpus file");
    let first = text.lines().next().expect("first line");
    let rest = first.strip_prefix("# expect: ").expect("expect header");
    let (pos, rest) = rest.split_once(' ').expect("position");
    let (line, col) = pos.split_once(':').expect("line:col");
    let (severity, texts) = rest.split_once(' ').expect("severity");
    Expect {
        line: line.parse().expect("line"),
        col: col.parse().expect("col"),
        severity: severity.to_string(),
        texts: texts.split("; ").map(str::to_string).collect(),
    }
}

#[test]
fn check_reports_every_broken_playlist_where_it_is_wrong() {
    let dir = tempdir();
    let files = corpus();
    assert!(files.len() >= 25, "corpus has {} files", files.len());
    for f in &files {
        let want = expectation(f);
        let out = holdmix(dir.path())
            .arg("check")
            .arg(f)
            .output()
            .expect("spawn check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let prefix = format!("{}:{}:{}: {}: ", f.display(), want.line, want.col, want.severity);
        let hit = stdout
            .lines()
            .any(|l| l.starts_with(&prefix) && want.texts.iter().all(|t| l.contains(t.as_str())));
        assert!(
            hit,
            "{}: want `{prefix}…{:?}` in:\n{stdout}",
            f.display(),
            want.texts
        );
        let errors = stdout.lines().filter(|l| l.contains(": error: ")).count();
        assert_eq!(
            out.status.code(),
            Some(if errors > 0 { 1 } else { 0 }),
            "{stdout}"
        );
        if want.severity == "error" {
            assert_eq!(out.status.code(), Some(1), "{}", f.display());
        }
    }
}

#[test]
fn shipped_playlists_are_clean() {
    let dir = tempdir();
    for name in ["demo.toml", "operators.toml", "asterisk-queue.toml"] {
        let p = root().join("playlists").join(name);
        let out = ok(holdmix(dir.path()).arg("check").arg(&p));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("0 errors, 0 warnings"), "{name}:\n{stdout}");
    }
}

#[test]
fn run_streams_through_every_broken_playlist() {
    let dir = tempdir();
    let files = corpus();
    let mut children = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let sub = dir.path().join(format!("c{i}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let child = spawn_run(&sub, &["--playlist", f.to_str().expect("path")]);
        children.push(child);
    }
    let readers: Vec<_> = children.iter_mut().map(drain).collect();
    std::thread::sleep(Duration::from_millis(1500));
    for c in &children {
        // SAFETY: signalling our own children.
        unsafe { libc::kill(c.id() as i32, libc::SIGHUP) };
    }
    for ((f, mut c), r) in files.iter().zip(children).zip(readers) {
        let status = c.wait().expect("wait");
        let bytes = r.join().expect("reader").len();
        assert!(status.success(), "{}: {status:?}", f.display());
        // About 1.5 s of slin: the stream never stopped.
        assert!(bytes >= 320 * 50, "{}: only {bytes} bytes", f.display());
    }
}

/// Renders `playlist` and returns the timeline.
fn render(dir: &Path, playlist: &Path, seconds: u32, extra: &[&str]) -> Vec<serde_json::Value> {
    let tl = dir.join(format!("tl-{}.jsonl", fastrand_name()));
    ok(holdmix(dir)
        .args(["render", playlist.to_str().expect("path"), "--duration"])
        .arg(format!("{seconds}s"))
        .args(["-o", dir.join("out.raw").to_str().expect("path"), "--timeline"])
        .arg(&tl)
        .args(extra));
    timeline(&tl)
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

/// (t, file, queue) of every prompt start.
fn prompts(tl: &[serde_json::Value]) -> Vec<(f64, String, String)> {
    events(tl, "prompt_start")
        .iter()
        .map(|e| {
            (
                e["t"].as_f64().expect("t"),
                e["file"].as_str().expect("file").to_string(),
                e["queue"].as_str().expect("queue").to_string(),
            )
        })
        .collect()
}

fn advice_files(tl: &[serde_json::Value]) -> Vec<(f64, String, String)> {
    prompts(tl)
        .into_iter()
        .filter(|(_, _, q)| q.starts_with("advice/"))
        .collect()
}

#[test]
fn old_hack_scheme_follows_the_time_of_day() {
    let dir = tempdir();
    let pl = root().join("playlists/operators.toml");
    // 2026-11-23 is a Monday; operators.toml evaluates windows in Moscow time.
    let morning = advice_files(&render(
        dir.path(),
        &pl,
        400,
        &["--at", "2026-11-23T09:30", "--seed", "7"],
    ));
    let evening = advice_files(&render(
        dir.path(),
        &pl,
        400,
        &["--at", "2026-11-23T22:00", "--seed", "7"],
    ));
    for (name, list, want, not) in [
        ("09:30", &morning, "advice/morning", "advice/evening"),
        ("22:00", &evening, "advice/evening", "advice/morning"),
    ] {
        let groups: Vec<&str> = list.iter().map(|(_, _, q)| q.as_str()).collect();
        assert!(groups.contains(&want), "{name}: {groups:?}");
        assert!(!groups.contains(&not), "{name}: {groups:?}");
        assert!(!groups.contains(&"advice/day"), "{name}: {groups:?}");
        // first ×2 (alphabetical), time of day, middle ×3, last: each once.
        assert_eq!(
            groups,
            [
                "advice/first",
                "advice/first",
                want,
                "advice/middle",
                "advice/middle",
                "advice/middle",
                "advice/last"
            ],
            "{name}"
        );
        let files: Vec<&str> = list.iter().map(|(_, f, _)| f.as_str()).collect();
        let mut unique = files.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), files.len(), "{name}: an advice repeated: {files:?}");
        assert_eq!(
            &files[..2],
            ["01-online.ogg", "02-app.ogg"],
            "{name}: alphabetical"
        );
        // The first advice: the duck starts at 20 s, the words follow the fade.
        let first = list[0].0;
        assert!((20.9..=21.2).contains(&first), "{name}: first advice at {first}");
    }
}

#[test]
fn random_advice_order_is_a_seeded_permutation() {
    let dir = tempdir();
    let middle = root().join("sample-audio/advice/en/middle");
    let pl = playlist(
        dir.path(),
        "random.toml",
        &format!(
            "[advice]\nstart = \"1s\"\ngap = \"1s\"\n\n[[advice.group]]\nname = \"m\"\nfiles = {:?}\norder = \"random\"\n",
            middle.to_str().expect("path")
        ),
    );
    let order = |seed: u32| -> Vec<String> {
        advice_files(&render(dir.path(), &pl, 40, &["--seed", &seed.to_string()]))
            .into_iter()
            .map(|(_, f, _)| f)
            .collect()
    };
    let mut all = std::collections::BTreeSet::new();
    for seed in 1..=8 {
        let o = order(seed);
        let mut sorted = o.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["01-autopay.ogg", "02-paperless.ogg", "03-referral.ogg"],
            "seed {seed}: {o:?}"
        );
        all.insert(o);
    }
    assert!(all.len() >= 2, "8 seeds gave one order: {all:?}");
    assert_eq!(order(3), order(3), "the same seed, the same order");
}

fn position_playlist(dir: &Path) -> PathBuf {
    playlist(
        dir,
        "position.toml",
        &format!(
            r#"[speech]
map = {:?}

[prompts]
from = {:?}

[announce.position]
say = ["you-are", {{ say = "ordinal", value = "position" }}, "in-queue"]
next = ["you-are-next"]
every = "120s"
cap = 20

[keys]
4 = {{ action = "say-position", debounce = "8s" }}
"#,
            root()
                .join("sample-audio/words/en/map.toml")
                .to_str()
                .expect("path"),
            root().join("sample-audio/prompts/en").to_str().expect("path")
        ),
    )
}

#[test]
fn position_is_said_on_change_periodically_on_key_and_capped() {
    let dir = tempdir();
    let pl = position_playlist(dir.path());
    let tl = render(
        dir.path(),
        &pl,
        300,
        &[
            "--event",
            "5s:position:25",
            "--event",
            "30s:position:25",
            "--event",
            "40s:position:7",
            "--event",
            "100s:dtmf:4",
            "--event",
            "107.999s:dtmf:4",
            "--event",
            "108s:dtmf:4",
            "--event",
            "250s:position:1",
        ],
    );
    let said: Vec<(f64, String)> = prompts(&tl)
        .into_iter()
        .filter(|(_, f, q)| q == "position" && (f.starts_with("ord-") || f.starts_with("you-are-next")))
        .map(|(t, f, _)| (t, f))
        .collect();
    let names: Vec<&str> = said.iter().map(|(_, f)| f.as_str()).collect();
    // 5 s: 25 capped to 20; 30 s: unchanged, silent; 40 s: 7; 100 s and
    // 108 s: keys (107.999 s is inside the 8 s debounce); 228 s: 120 s after
    // the last; 250 s: position 1 is "you are next".
    assert_eq!(
        names,
        [
            "ord-20.ogg",
            "ord-7.ogg",
            "ord-7.ogg",
            "ord-7.ogg",
            "ord-7.ogg",
            "you-are-next.wav"
        ],
        "{said:?}"
    );
    let times: Vec<f64> = said.iter().map(|(t, _)| t.round()).collect();
    assert!((100.0..=103.0).contains(&times[2]), "{times:?}");
    assert!((108.0..=111.0).contains(&times[3]), "{times:?}");
    assert!((228.0..=231.0).contains(&times[4]), "{times:?}");
    let keys: Vec<&str> = events(&tl, "dtmf")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(keys, ["say-position", "debounced", "say-position"]);
}

#[test]
fn a_key_flood_costs_bounded_memory_and_keeps_the_stream() {
    let dir = tempdir();
    let pl = playlist(
        dir.path(),
        "flood.toml",
        &format!(
            "[music]\ntracks = [{:?}]\n\n[keys]\n3 = {{ action = \"next-music\", debounce = \"3s\" }}\n",
            root().join("sample-audio/music").to_str().expect("path")
        ),
    );
    let tl = dir.path().join("flood.jsonl");
    let mut child = holdmix(dir.path())
        .args([
            "run",
            "--playlist",
            pl.to_str().expect("path"),
            "--events",
            "-",
            "--timeline",
        ])
        .arg(&tl)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let reader = drain(&mut child);
    std::thread::sleep(Duration::from_millis(300));
    let mut stdin = child.stdin.take().expect("stdin");
    // 3000 presses in about a second and a half: far over 1000 a second.
    for i in 0..3000 {
        use std::io::Write;
        stdin.write_all(b"dtmf 3\n").expect("write key");
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    drop(stdin);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert!(child.wait().expect("wait").success());
    let bytes = reader.join().expect("reader").len();
    assert!(bytes >= 320 * 100, "stream kept flowing: {bytes} bytes");
    assert!(hwm_kib < 40 * 1024, "peak memory {hwm_kib} KiB");
    let tl = timeline(&tl);
    let switches = events(&tl, "music_switch");
    let keys = events(&tl, "dtmf");
    let (first, last) = (
        keys.first().map(|e| e["t"].clone()),
        keys.last().map(|e| e["t"].clone()),
    );
    assert_eq!(
        switches.len(),
        1,
        "3 s debounce: one switch in the flood: {switches:?}, keys {first:?}..{last:?}"
    );
}

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
    // The playlist is looked at every 2 s.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::copy(&v2, &live).expect("save v2");
    std::thread::sleep(Duration::from_millis(2500));
    std::fs::copy(&v3, &live).expect("save broken v3");
    std::thread::sleep(Duration::from_millis(2500));
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

#[test]
fn render_plots_a_png_of_the_requested_size() {
    let dir = tempdir();
    let png = dir.path().join("call.png");
    ok(holdmix(dir.path())
        .args(["render"])
        .arg(root().join("playlists/demo.toml"))
        .args([
            "--duration",
            "40s",
            "-o",
            "/dev/null",
            "--event",
            "25s:dtmf:3",
            "--plot-size",
            "800x300",
            "--plot",
        ])
        .arg(&png));
    let bytes = std::fs::read(&png).expect("png written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!((be(16), be(20)), (800, 300));
    assert!(
        bytes.len() > 5_000,
        "a picture, not an empty canvas: {} bytes",
        bytes.len()
    );
}

#[test]
fn wait_balance_dissuade_and_the_other_keys() {
    let dir = tempdir();
    let pl = playlist(
        dir.path(),
        "queue.toml",
        &format!(
            r#"[music]
tracks = [{:?}]

[speech]
map = {:?}

[prompts]
from = {:?}

[announce.wait]
say = ["estimated-wait", {{ say = "duration", value = "wait" }}]
short = ["estimated-wait", "less-than-a-minute"]

[announce.balance]
say = ["account", {{ say = "digits", value = "account" }}, "your-balance-is"]
several = ["several-accounts"]
none = ["not-registered"]
failed = ["service-unavailable"]

[announce.dissuade]
say = ["long-wait"]
position_above = 10

[keys]
1 = {{ action = "redirect", to = "callback,s,1", say = ["callback-confirm"] }}
2 = {{ action = "say-balance" }}
5 = {{ action = "say-wait" }}
6 = {{ action = "previous-music" }}
0 = {{ action = "repeat-last" }}
"#,
            root().join("sample-audio/music").to_str().expect("path"),
            root()
                .join("sample-audio/words/en/map.toml")
                .to_str()
                .expect("path"),
            root().join("sample-audio/prompts/en").to_str().expect("path"),
        ),
    );
    let tl = render(
        dir.path(),
        &pl,
        240,
        &[
            "--event",
            "2s:position:12",
            "--event",
            "3s:holdtime:600",
            "--event",
            "10s:dtmf:5",
            "--event",
            "40s:position:9",
            "--event",
            "100s:position:6",
            "--event",
            "110s:dtmf:5",
            "--event",
            "130s:position:1",
            "--event",
            "140s:dtmf:5",
            "--event",
            "150s:balance:200045=12.50 200046=-3",
            "--event",
            "170s:dtmf:2",
            "--event",
            "180s:dtmf:0",
            "--event",
            "200s:dtmf:6",
            "--event",
            "210s:dtmf:1",
        ],
    );
    let said = prompts(&tl);
    let in_window = |a: f64, b: f64, queue: &str| -> Vec<String> {
        said.iter()
            .filter(|(t, _, q)| (a..b).contains(t) && q == queue)
            .map(|(_, f, _)| {
                f.rsplit_once('.')
                    .map_or(f.as_str(), |(stem, _)| stem)
                    .to_string()
            })
            .collect()
    };
    // Position 12 > 10: dissuaded once, although it stays above 10 until 40 s.
    assert_eq!(said.iter().filter(|(_, _, q)| q == "dissuade").count(), 1);
    // No one has left yet: the queue's hold time, 10 minutes.
    assert_eq!(
        in_window(10.0, 20.0, "wait"),
        ["estimated-wait", "10", "minute-many"]
    );
    // 6 places in 98 s, 6 to go: 98 s, said as about 2 minutes.
    assert_eq!(
        in_window(110.0, 120.0, "wait"),
        ["estimated-wait", "2", "minute-many"]
    );
    // Next in line, 11.6 s a place: under a minute.
    assert_eq!(
        in_window(140.0, 150.0, "wait"),
        ["estimated-wait", "less-than-a-minute"]
    );
    // Two accounts: "several", then each with its number read in groups of
    // three ("two hundred, zero forty-five").
    let balance = in_window(150.0, 170.0, "balance");
    let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    let want = words(
        "several-accounts account 2 hundred pause 0 40 5 your-balance-is account 2 hundred pause 0 40 6 your-balance-is",
    );
    assert_eq!(balance, want);
    assert!(
        events(&tl, "request").iter().any(|e| e["what"] == "balance"),
        "key 2 asks billing"
    );
    // Key 0 says the last announcement again: the second account.
    let again = in_window(180.0, 195.0, "balance");
    assert_eq!(again.first().map(String::as_str), Some("account"), "{again:?}");
    assert!(again.contains(&"6".to_string()), "{again:?}");
    // Key 6: the music goes back a track.
    let switch = events(&tl, "music_switch");
    assert!(
        switch
            .iter()
            .any(|e| (200.0..201.0).contains(&e["t"].as_f64().expect("t"))),
        "{switch:?}"
    );
    // Key 1: the confirmation, then the redirect once it has been said.
    let confirm = said
        .iter()
        .find(|(_, f, q)| q == "redirect" && f == "callback-confirm.wav")
        .map(|(t, _, _)| *t)
        .expect("confirmation said");
    let confirm_end = events(&tl, "prompt_end")
        .iter()
        .filter(|e| e["file"] == "callback-confirm.wav")
        .map(|e| e["t"].as_f64().expect("t"))
        .next()
        .expect("confirmation ended");
    let redirect = events(&tl, "redirect");
    assert_eq!(redirect.len(), 1, "{redirect:?}");
    assert_eq!(redirect[0]["context"], "callback");
    assert_eq!(redirect[0]["exten"], "s");
    assert_eq!(redirect[0]["priority"], 1);
    let at = redirect[0]["t"].as_f64().expect("t");
    assert!(
        confirm < at && at >= confirm_end && at < confirm_end + 0.1,
        "{confirm} {confirm_end} {at}"
    );
}
