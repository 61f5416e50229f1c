//! The route the hub picks reaches the call's timeline (`--timeline-dir`):
//! `holdmix report --by route` splits the calls by it.

use super::*;

const ROUTES: &str = r#"
[[route]]
name = "main"
playlist = "m.toml"
default = true

[[route]]
name = "sales"
playlist = "s.toml"
"#;

#[test]
fn each_calls_route_is_in_its_timeline_and_the_report_splits_by_it() {
    let dir = tempdir();
    let d = dir.path();
    playlists(d, &["m", "s"]);
    let routes = write_routes(d, ROUTES);
    let tl = d.join("tl");
    let h = hub_with(
        d,
        &routes,
        "127.0.0.1:1",
        &["--timeline-dir", tl.to_str().unwrap()],
    );
    // Uniqueids of now: their timelines go in today's (UTC) directory.
    let now = chrono::Utc::now();
    let secs = now.timestamp();
    let day = now.date_naive().to_string();
    let calls = [
        (format!("{secs}.1"), "holdmix-sales-"),
        (format!("{secs}.2"), "holdmix-sales-"),
        (format!("{secs}.3"), "holdmix-"),
    ];
    for (uid, prefix) in &calls {
        assert!(argv_for(h.port, &format!("{prefix}{uid}")).is_some());
    }
    // A hostile class gets no row and no timeline.
    assert!(argv_for(h.port, "holdmix-sales-1%20x").is_none());

    // Written off the lookup's thread: wait (bounded) for the three.
    let route_of = |uid: &str| -> Option<String> {
        let text = std::fs::read_to_string(tl.join(&day).join(format!("{uid}.jsonl"))).ok()?;
        let line: serde_json::Value = serde_json::from_str(text.lines().next()?).ok()?;
        (line["event"] == "route").then(|| line["name"].as_str().unwrap_or_default().to_string())
    };
    let t = Instant::now();
    while calls.iter().any(|(uid, _)| route_of(uid).is_none()) && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen: Vec<_> = calls.iter().map(|(uid, _)| route_of(uid)).collect();
    assert_eq!(
        seen,
        [Some("sales".into()), Some("sales".into()), Some("main".into())],
        "{}",
        std::fs::read_to_string(d.join("hub.log")).unwrap_or_default()
    );
    assert_eq!(std::fs::read_dir(tl.join(&day)).unwrap().count(), 3);

    let out = ok(holdmix(d).args(["report", "--json", "--by", "route"]).arg(&tl));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups: Vec<(String, u64)> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("main".to_string(), 1), ("sales".to_string(), 2)],
        "{r:#}"
    );
}
