//! What a valid playlist makes the stream say and when: the old hack's
//! advice scheme by time of day, seeded random orders, position
//! announcements, keys and floods, wait, balance and dissuading, the plot.

use super::*;

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

/// `every` counts from when the position was last said: a position that
/// came during the welcome is said after it, and said again `every` after
/// that, not `every` after it came.
#[test]
fn the_position_is_said_again_every_after_it_was_last_said() {
    let dir = tempdir();
    let text = std::fs::read_to_string(position_playlist(dir.path())).expect("playlist");
    let text = text.replace("every = \"120s\"", "every = \"60s\"")
        + "\n[welcome]\nsay = [\"welcome\", \"key-help\", \"please-hold\"]\n";
    let pl = playlist(dir.path(), "welcomed.toml", &text);
    let tl = render(dir.path(), &pl, 150, &["--event", "1s:position:4"]);
    let phrases: Vec<Vec<f64>> = prompts(&tl)
        .into_iter()
        .filter(|(_, _, q)| q == "position")
        .map(|(t, _, _)| t)
        .collect::<Vec<_>>()
        .chunks(3)
        .map(<[f64]>::to_vec)
        .collect();
    assert!(phrases.len() >= 2, "{phrases:?}");
    let welcome_end = prompts(&tl)
        .iter()
        .filter(|(_, _, q)| q == "welcome")
        .map(|(t, _, _)| *t)
        .fold(0.0, f64::max);
    assert!(
        phrases[0][0] > welcome_end && welcome_end > 6.0,
        "{phrases:?} after {welcome_end}"
    );
    // The last word's start to the next phrase's first: `every`, and the
    // duck's fade before it.
    let gap = phrases[1][0] - phrases[0][2];
    assert!(
        (60.0..=62.0).contains(&gap),
        "said again {gap} s after: {phrases:?}"
    );
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
    // Key 0 says the last announcement again: the balance is one phrase
    // (said whole, never split), so both accounts again.
    let again = in_window(180.0, 195.0, "balance");
    assert_eq!(again, want);
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
