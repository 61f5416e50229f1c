//! `holdmix report`: the real binary over timeline directories — hand-made
//! ones with exact figures (tests/report/, with a queue_log in Asterisk's
//! own format) and ones `render` writes — printed as text and JSON and
//! drawn as a PNG. Broken lines are reported by file:line and never stop
//! the report; a large directory is read in bounded memory.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixtures() -> PathBuf {
    root().join("tests/report")
}

fn report(dir: &Path, args: &[&str]) -> Output {
    ok(holdmix(dir).arg("report").args(args))
}

fn text(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = report(dir, &all);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

fn timelines() -> String {
    fixtures().join("timelines").display().to_string()
}

fn queue_log() -> String {
    fixtures().join("queue_log").display().to_string()
}

/// The group of `r` with key `key`.
fn group<'a>(r: &'a Value, key: &str) -> &'a Value {
    r["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}: {r:#}"))
}

#[test]
fn the_text_gives_calls_hold_times_keys_prompts_and_what_abandoners_heard() {
    let tmp = tempdir();
    let out = report(tmp.path(), &[&timelines(), "--queue-log", &queue_log()]);
    let t = text(&out);
    for line in [
        "queue_log: ",
        "(18 lines, 15 used; 2 calls in it have no timeline)",
        "== all calls: 6 calls",
        "outcomes: answered 2, abandoned 3, timeout 0, key 0, empty 0, unknown 1",
        "hold time (s): mean 59.0, p50 33.0, p75 80.0, p90 160.0, p95 160.0, max 160.0",
        "     30-60         2 ",
        "  next-music: 1",
        "  none: 1",
        "  welcome welcome.wav: 5",
        "  advice/first 02-app.wav: 2",
        "abandons: 3; heard when they hung up:",
        "  prompt advice/first 02-app.wav: 2 (67 % of abandons)",
        "    67 % of abandons came within 5 s of prompt advice/first 02-app.wav",
        "  music bed2.wav: 1 (33 % of abandons)",
        "    0 within 5 s, 0 within 15 s, 1 within 30 s",
        "== day 2026-12-04: 3 calls",
        "    50 % of abandons came within 5 s of prompt advice/first 02-app.wav",
        "== day 2026-12-05: 3 calls",
        "outcomes: answered 1, abandoned 1, timeout 0, key 0, empty 0, unknown 1",
        "broken lines: 2 (skipped)",
    ] {
        assert!(t.contains(line), "no {line:?} in:\n{t}");
    }
    // Each broken line by file:line, with what is wrong.
    let q = format!("{}:10: time \"garbage line\" is not epoch seconds", queue_log());
    assert!(t.contains(&q), "no {q:?} in:\n{t}");
    let tl = format!("{}/2026-12-05/1796464800.4.jsonl:3: not JSON", timelines());
    assert!(t.contains(&tl), "no {tl:?} in:\n{t}");
    // Files of other names and directories of other shapes are not calls.
    assert!(t.contains(", 6 timeline files"), "{t}");
    assert!(!t.contains("README"), "{t}");
}

#[test]
fn the_json_splits_per_queue_with_each_calls_outcome_from_queue_log() {
    let tmp = tempdir();
    let r = json(
        tmp.path(),
        &[&timelines(), "--queue-log", &queue_log(), "--by", "queue"],
    );
    assert_eq!(r["schema"], "holdmix-report/1");
    assert_eq!(r["outcome_source"], "queue_log");
    assert_eq!(r["by"], "queue");
    assert_eq!(r["files"], 6);
    assert_eq!(r["queue_log"]["lines"], 18);
    assert_eq!(r["queue_log"]["used"], 15);
    assert_eq!(r["queue_log"]["without_timeline"], 2);
    let keys: Vec<&str> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["-", "sales", "support"],
        "a call not in queue_log is in `-`"
    );

    let sales = group(&r, "sales");
    assert_eq!(sales["calls"], 3);
    assert_eq!(sales["outcomes"]["answered"], 2);
    assert_eq!(sales["outcomes"]["abandoned"], 1);
    assert_eq!(sales["hold_time"]["p50"], 45.0);
    assert_eq!(
        sales["hold_time"]["max"], 160.0,
        "150 s heard + a 10 s gap between generators"
    );
    assert_eq!(sales["keys"]["next-music"], 1);
    assert_eq!(sales["keys"]["none"], 1);
    let support = group(&r, "support");
    assert_eq!(support["outcomes"]["abandoned"], 2);
    let heard = support["abandons"]["heard"].as_array().unwrap();
    assert_eq!(heard.len(), 2);
    // Equal counts: by name.
    assert_eq!(
        (heard[0]["kind"].as_str(), heard[0]["name"].as_str()),
        (Some("prompt"), Some("advice/first 02-app.wav"))
    );
    assert_eq!(
        (heard[1]["kind"].as_str(), heard[1]["name"].as_str()),
        (Some("music"), Some("bed2.wav"))
    );
    assert_eq!(heard[0]["share"], 0.5);
    assert_eq!(
        heard[0]["within"][0],
        serde_json::json!({"seconds": 5, "abandons": 1, "share": 0.5})
    );
    assert_eq!(heard[1]["within"][0]["abandons"], 0, "20 s into the track");
    assert_eq!(group(&r, "-")["outcomes"]["unknown"], 1);

    let total = &r["total"];
    assert_eq!(total["calls"], 6);
    assert_eq!(total["hold_time"]["mean"], 59.0);
    assert_eq!(total["hold_time"]["p75"], 80.0);
    let bins: Vec<u64> = total["hold_time"]["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["calls"].as_u64().unwrap())
        .collect();
    assert_eq!(bins, [1, 1, 2, 1, 1, 0, 0, 0]);
    assert_eq!(total["hold_time"]["histogram"][7]["to"], Value::Null);
    assert_eq!(total["prompts"]["welcome welcome.wav"], 5);
    let app = &total["abandons"]["heard"][0];
    assert_eq!(app["name"], "advice/first 02-app.wav");
    assert_eq!(
        (app["abandons"].as_u64(), app["share"].as_f64()),
        (Some(2), Some(0.6667))
    );
    assert_eq!(app["within"][0]["share"], 0.6667);

    assert_eq!(r["broken"]["count"], 2);
    let lines: Vec<(String, u64)> = r["broken"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["file"].as_str().unwrap().to_string(),
                b["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (queue_log(), 10),
            (format!("{}/2026-12-05/1796464800.4.jsonl", timelines()), 3)
        ]
    );
}

#[test]
fn without_queue_log_only_a_hangup_on_hold_counts_as_an_abandon() {
    let tmp = tempdir();
    let out = report(tmp.path(), &[&timelines()]);
    let t = text(&out);
    assert!(
        t.contains("no queue_log: answered and abandoned cannot be told apart"),
        "{t}"
    );
    let by_queue = text(&report(
        tmp.path(),
        &[&timelines(), "--queue-log", &queue_log(), "--by", "queue"],
    ));
    assert!(by_queue.contains("== queue -: 1 call\n"), "{by_queue}");
    assert!(
        t.contains("outcomes: answered 0, abandoned 2, timeout 0, key 0, empty 0, unknown 4"),
        "{t}"
    );
    let r = json(tmp.path(), &[&timelines()]);
    assert_eq!(r["outcome_source"], "timeline");
    assert_eq!(r["queue_log"], Value::Null);
    let heard = r["total"]["abandons"]["heard"].as_array().unwrap();
    let seen: Vec<(&str, u64, u64)> = heard
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap(),
                h["within"][0]["abandons"].as_u64().unwrap(),
                h["within"][1]["abandons"].as_u64().unwrap(),
            )
        })
        .collect();
    // 3 s into the advice; 11 s into the welcome, which never ended.
    assert_eq!(
        seen,
        [("advice/first 02-app.wav", 1, 1), ("welcome welcome.wav", 0, 1)]
    );
}

#[test]
fn from_and_to_pick_days_and_the_queue_log_calls_of_those_days() {
    let tmp = tempdir();
    let r = json(
        tmp.path(),
        &[&timelines(), "--queue-log", &queue_log(), "--from", "2026-12-05"],
    );
    assert_eq!((r["from"].as_str(), r["to"].as_str()), (Some("2026-12-05"), None));
    assert_eq!(r["files"], 3);
    assert_eq!(r["total"]["outcomes"]["answered"], 1);
    assert_eq!(r["queue_log"]["without_timeline"], 2);
    let keys: Vec<&str> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["2026-12-05"]);
    let r = json(
        tmp.path(),
        &[&timelines(), "--queue-log", &queue_log(), "--to", "2026-12-04"],
    );
    assert_eq!(r["files"], 3);
    assert_eq!(r["total"]["outcomes"]["abandoned"], 2);
    assert_eq!(
        r["queue_log"]["without_timeline"], 0,
        "the timeout and key calls were on the 5th"
    );
    assert_eq!(
        r["broken"]["count"], 1,
        "only queue_log's: the broken timeline is on the 5th"
    );
}

#[test]
fn bad_arguments_and_a_missing_directory_fail_with_their_name() {
    let tmp = tempdir();
    let out = holdmix(tmp.path())
        .args(["report", "/nonexistent/timelines"])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/timelines: cannot read the timeline directory"),
        "{err}"
    );
    let out = holdmix(tmp.path())
        .args(["report", &timelines(), "--from", "05/12/2026"])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("write a date as 2026-12-31"));
    let out = holdmix(tmp.path())
        .args(["report", &timelines(), "--queue-log", "/nonexistent/queue_log"])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/queue_log: cannot open the queue_log")
    );
}

#[test]
fn the_png_is_a_png_of_the_size_asked_with_the_reports_colours() {
    let tmp = tempdir();
    let png = tmp.path().join("report.png");
    report(
        tmp.path(),
        &[
            &timelines(),
            "--queue-log",
            &queue_log(),
            "--png",
            png.to_str().unwrap(),
            "--png-size",
            "900x600",
        ],
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).expect("png written"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    assert_eq!((info.width, info.height), (900, 600));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let count = |c: [u8; 3]| pixels.iter().filter(|&&p| p == c).count();
    // Answered (green), abandoned (red) and within-5-s (dark red) bars.
    for (name, c) in [
        ("answered", [0x4d, 0xaf, 0x4a]),
        ("abandoned", [0xe4, 0x1a, 0x1c]),
        ("soon", [0x8b, 0x0a, 0x0c]),
    ] {
        assert!(count(c) > 500, "{name}: {} pixels", count(c));
    }
    let white = count([255, 255, 255]);
    assert!(
        white < pixels.len() * 95 / 100,
        "not blank: {white} of {} white",
        pixels.len()
    );
}

#[test]
fn timelines_written_by_render_are_reported() {
    let tmp = tempdir();
    let dir = tmp.path();
    let day = dir.join("tl/2026-12-05");
    std::fs::create_dir_all(&day).unwrap();
    let pl = root().join("playlists/asterisk-queue.toml");
    for (id, events) in [
        ("1796464800.1", ["--event", "20s:dtmf:3", "--event", "30s:hangup"]),
        ("1796464801.2", ["--event", "4s:dtmf:3", "--event", "50s:hangup"]),
    ] {
        ok(holdmix(dir)
            .arg("render")
            .arg(&pl)
            .args(["--duration", "60s", "--seed", "7", "-o"])
            .arg(dir.join("out.sln"))
            .arg("--timeline")
            .arg(day.join(format!("{id}.jsonl")))
            .args(events));
    }
    std::fs::write(
        dir.join("queue_log"),
        "1796464800|1796464800.1|sales|NONE|ENTERQUEUE||5551000|1\n\
         1796464830|1796464800.1|sales|NONE|ABANDON|1|1|30\n\
         1796464801|1796464801.2|sales|NONE|ENTERQUEUE||5551001|2\n\
         1796464851|1796464801.2|sales|PJSIP/7|CONNECT|50|1796464850.3|1\n",
    )
    .unwrap();
    let r = json(
        dir,
        &[
            dir.join("tl").to_str().unwrap(),
            "--queue-log",
            dir.join("queue_log").to_str().unwrap(),
        ],
    );
    let t = &r["total"];
    assert_eq!(t["calls"], 2);
    assert_eq!(
        (
            t["outcomes"]["answered"].as_u64(),
            t["outcomes"]["abandoned"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(r["broken"]["count"], 0);
    let (p50, max) = (
        t["hold_time"]["p50"].as_f64().unwrap(),
        t["hold_time"]["max"].as_f64().unwrap(),
    );
    assert!(
        (29.9..30.2).contains(&p50) && (49.9..50.2).contains(&max),
        "{:#}",
        t["hold_time"]
    );
    // Key 3 is next-music (debounced 3 s) in this playlist: both pressed it.
    assert_eq!(t["keys"]["next-music"], 2, "{:#}", t["keys"]);
    assert!(
        t["prompts"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.starts_with("welcome ")),
        "{:#}",
        t["prompts"]
    );
    let heard = &t["abandons"]["heard"][0];
    assert_eq!(heard["abandons"], 1);
    assert!(
        ["music", "prompt"].contains(&heard["kind"].as_str().unwrap()),
        "{heard:#}"
    );
}

/// A directory far larger than what the report may hold: every call is
/// read (a broken line counted in each) with the process's data segment
/// limited to 16 MB (RLIMIT_DATA, as `ulimit -d`) for 68 MB of lines. It
/// needs under 3 MB: a report that kept the lines would fail here.
#[test]
fn a_large_directory_is_read_in_bounded_memory() {
    use std::os::unix::process::CommandExt;
    let tmp = tempdir();
    let day = tmp.path().join("tl/2026-12-05");
    std::fs::create_dir_all(&day).unwrap();
    let mut body = String::new();
    body.push_str("{\"t\":0.02,\"event\":\"music_start\",\"file\":\"bed.wav\",\"track\":0,\"offset\":0.0}\n");
    for i in 0..300 {
        body.push_str(&format!(
            "{{\"t\":{}.5,\"event\":\"prompt_start\",\"file\":\"advice-{:03}.wav\",\"queue\":\"advice/tips\"}}\n",
            i,
            i % 7
        ));
    }
    body.push_str("{\"t\":301.0,\"event\":\"position\"\n");
    body.push_str("{\"t\":302.0,\"event\":\"exit\",\"reason\":\"hangup\"}\n");
    const CALLS: usize = 3000;
    for n in 0..CALLS {
        std::fs::write(day.join(format!("1796464800.{n}.jsonl")), &body).unwrap();
    }
    assert!(body.len() * CALLS > 60 << 20);
    let mut cmd = holdmix(tmp.path());
    cmd.args(["report", "--json"]).arg(tmp.path().join("tl"));
    // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 16 << 20,
                rlim_max: 16 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = ok(&mut cmd);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["files"], CALLS);
    assert_eq!(r["total"]["calls"], CALLS);
    assert_eq!(r["total"]["prompts"]["advice/tips advice-000.wav"], CALLS * 43);
    assert_eq!(r["broken"]["count"], CALLS, "one broken line per call");
    assert_eq!(
        r["broken"]["lines"].as_array().unwrap().len(),
        50,
        "the first 50 listed"
    );
    assert_eq!(r["broken"]["lines"][0]["line"], 302);
}

/// Fills `table` with the fixture file's lines as Asterisk's realtime
/// `queue_log` stores them: its data fields in `data1`…`data5` (the
/// adaptive table of its contrib/ast-db-manage), or joined by `|` in one
/// `data` column (a table without those columns); then a row without an
/// event.
fn fill_queue_log(db: &crate::common::mariadb::Mariadb, name: &str, table: &str, joined: bool) {
    let data_columns = match joined {
        true => "data VARCHAR(255)",
        false => {
            "data1 VARCHAR(100), data2 VARCHAR(100), data3 VARCHAR(100), data4 VARCHAR(100), data5 VARCHAR(100)"
        }
    };
    db.sql(
        Some(name),
        &format!(
            "CREATE TABLE {table} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, time DATETIME, \
             callid VARCHAR(80), queuename VARCHAR(256), agent VARCHAR(80), event VARCHAR(32), {data_columns})"
        ),
    );
    let file = std::fs::read_to_string(queue_log()).unwrap();
    for line in file.lines().filter(|l| !l.starts_with("garbage")) {
        let f: Vec<&str> = line.split('|').collect();
        let (columns, values) = match joined {
            true => ("data".to_string(), format!("'{}'", f[5..].join("|"))),
            false => {
                let mut data: Vec<String> = f[5..].iter().map(|d| format!("'{d}'")).collect();
                data.resize(5, "''".to_string());
                ("data1, data2, data3, data4, data5".to_string(), data.join(", "))
            }
        };
        db.sql(
            Some(name),
            &format!(
                "INSERT INTO {table} (time, callid, queuename, agent, event, {columns}) \
                 VALUES (FROM_UNIXTIME({}), '{}', '{}', '{}', '{}', {values})",
                f[0], f[1], f[2], f[3], f[4],
            ),
        );
    }
    db.sql(
        Some(name),
        &format!(
            "INSERT INTO {table} (time, callid, queuename, agent) VALUES (NOW(), '1.1', 'sales', 'NONE')"
        ),
    );
}

/// Asterisk's realtime `queue_log` table (the schema of its
/// contrib/ast-db-manage), filled with the fixture file's lines: the same
/// outcomes as the file; a row without an event is a broken row. The same
/// again from a table with one `data` column (no `queue_adaptive_realtime`).
#[test]
fn the_realtime_queue_log_table_gives_the_same_outcomes_as_the_file() {
    use crate::common::mariadb::Mariadb;
    let db = Mariadb::start();
    let name = db.create_db("asterisk");
    fill_queue_log(&db, &name, "queue_log", false);
    fill_queue_log(&db, &name, "queue_log_joined", true);
    let tmp = tempdir();
    let url = db.url(&name);
    let report = |table: &str| {
        json(
            tmp.path(),
            &[
                &timelines(),
                "--queue-log-db",
                &url,
                "--queue-log-table",
                table,
                "--queue-log-password-file",
                db.password_file().to_str().unwrap(),
            ],
        )
    };
    let r = report("queue_log");
    let joined = report("queue_log_joined");
    assert_eq!(joined["queue_log"]["source"], format!("{url} queue_log_joined"));
    for key in ["lines", "used", "without_timeline"] {
        assert_eq!(joined["queue_log"][key], r["queue_log"][key], "{key}");
    }
    assert_eq!(joined["total"], r["total"]);
    assert_eq!(r["outcome_source"], "queue_log");
    assert_eq!(r["queue_log"]["source"], format!("{url} queue_log"));
    assert_eq!(r["queue_log"]["lines"], 18);
    assert_eq!(r["queue_log"]["used"], 15);
    assert_eq!(r["queue_log"]["without_timeline"], 2);
    let o = &r["total"]["outcomes"];
    assert_eq!(
        (
            o["answered"].as_u64(),
            o["abandoned"].as_u64(),
            o["unknown"].as_u64()
        ),
        (Some(2), Some(3), Some(1))
    );
    assert_eq!(r["total"]["abandons"]["heard"][0]["within"][0]["share"], 0.6667);
    let broken: Vec<(String, u64)> = r["broken"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["file"].as_str().unwrap().to_string(),
                b["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        broken.contains(&(format!("{url} queue_log"), 18)),
        "the 18th row: {broken:?}"
    );
    let rows = |r: &Value| {
        r["broken"]["lines"]
            .as_array()
            .map(|l| l.iter().map(|b| b["line"].clone()).collect::<Vec<_>>())
    };
    let joined_broken: Vec<&Value> = joined["broken"]["lines"].as_array().unwrap().iter().collect();
    assert!(
        joined_broken
            .iter()
            .any(|b| b["file"] == format!("{url} queue_log_joined") && b["line"] == 18),
        "the 18th row: {joined_broken:?}"
    );
    assert_eq!(rows(&joined), rows(&r));

    // A password in the URL is refused, without repeating it.
    let out = holdmix(tmp.path())
        .args([
            "report",
            &timelines(),
            "--queue-log-db",
            "mysql://holdmix:s3cret@127.0.0.1/asterisk",
        ])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the URL holds a password: refused") && !err.contains("s3cret"),
        "{err}"
    );
}
