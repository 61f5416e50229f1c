//! The routes file edited under a running hub: a valid new version
//! changes the next lookup; a broken or empty one is refused, logged, and
//! the routes in force stay.

use super::*;

fn routes_text(sales_playlist: &str) -> String {
    format!(
        r#"
[[route]]
name = "main"
playlist = "main.toml"
default = true

[[route]]
name = "sales"
playlist = "{sales_playlist}"
"#
    )
}

/// Waits (bounded, generously: the hub looks every 2 s) until the hub's
/// log has `n` lines containing `what`.
fn wait_log(dir: &Path, what: &str, n: usize) -> String {
    let t = Instant::now();
    loop {
        let log = std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default();
        if log.matches(what).count() >= n {
            return log;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no {what:?} in the hub's log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_edited_routes_file_changes_the_next_lookup_and_a_broken_one_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    playlists(d, &["main", "sales", "sales2"]);
    let path = write_routes(d, &routes_text("sales.toml"));
    let h = hub(d, &path, "127.0.0.1:1");
    let class = "holdmix-sales-1795734025.1";
    let sales = |p: &str| Some(expected(d, &d.join(p), None, "1795734025.1"));
    assert_eq!(argv_for(h.port, class), sales("sales.toml"));

    // A new version: the next lookups play the new playlist.
    write_routes(d, &routes_text("sales2.toml"));
    wait_log(d, "routes reloaded", 1);
    assert_eq!(argv_for(h.port, class), sales("sales2.toml"));

    // Broken versions (an unknown key, no default, a missing playlist,
    // an empty save): refused, one line each, the last good routes stay.
    let broken = [
        routes_text("sales.toml").replace("default = true", "default = true\ncolour = \"red\""),
        routes_text("sales.toml").replace("default = true", ""),
        routes_text("nosuch.toml"),
        String::new(),
    ];
    for (i, text) in broken.iter().enumerate() {
        write_routes(d, text);
        let log = wait_log(d, "routes reload refused", i + 1);
        assert_eq!(
            argv_for(h.port, class),
            sales("sales2.toml"),
            "after {text:?}\n{log}"
        );
    }
    let log = wait_log(d, "routes reload refused", 4);
    assert!(log.contains("unknown key `colour`"), "{log}");
    assert!(log.contains("no default route"), "{log}");
    assert!(log.contains("no such playlist"), "{log}");
    assert!(log.contains("no routes"), "{log}");

    // Fixed again: taken.
    write_routes(d, &routes_text("sales.toml"));
    wait_log(d, "routes reloaded", 2);
    assert_eq!(argv_for(h.port, class), sales("sales.toml"));
}
