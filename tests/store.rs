//! The store against a real SQLite file and a real MariaDB: round trips, the
//! heard window, hundreds of writer processes, kill -9 mid-write, the old
//! hack's `queue_music` table, a database that goes away mid-call, flush.
//!
//! Writer processes are this test binary run again with `CHILD` set: a
//! constructor runs one writer and exits before the test harness starts, so
//! the writer is a real process (killed with -9, 200 at once) but not a test.
//!
//! One topic over 500 lines on purpose: the writer processes and log
//! helpers at the top (some 240 lines) serve the SQLite and the MariaDB
//! tests alike.

use crate::common::mariadb::{self, Mariadb};
use crate::common::tempdir;
use holdmix::store::{Backend, CallerRecord, Store, StoreError, StoreOptions, Write, unix_now};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHILD: &str = "HOLDMIX_TEST_STORE_CHILD";
/// This very binary, even if cargo relinked the file while the tests run.
const SELF_EXE: &str = "/proc/self/exe";
const DAY: Duration = Duration::from_secs(24 * 3600);
/// Generous: these tests check what is written, not how fast.
const FLUSH: Duration = Duration::from_secs(10);

fn rec(music: Option<&str>, offset_ms: u64, heard: &[(&str, i64)]) -> CallerRecord {
    CallerRecord {
        music: music.map(str::to_string),
        offset_ms,
        heard: heard.iter().map(|&(k, t)| (k.to_string(), t)).collect(),
        language: None,
    }
}

fn opts(spec: &str) -> StoreOptions {
    StoreOptions {
        spec: Some(spec.to_string()),
        start_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

fn sqlite_spec(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("store.sqlite3").display())
}

/// A log that keeps lines in memory: run code under it with
/// `tracing::dispatcher::with_default`; the store's worker threads log
/// where the thread that started them did.
pub(crate) fn log_capture() -> (tracing::Dispatch, Arc<Mutex<Vec<u8>>>) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    (tracing::Dispatch::new(sub), buf)
}

pub(crate) fn lines_with(buf: &Mutex<Vec<u8>>, what: &str) -> usize {
    String::from_utf8_lossy(&buf.lock().unwrap())
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

/// Waits (bounded) until `what` has been logged `n` times.
fn wait_for_line(buf: &Mutex<Vec<u8>>, what: &str, n: usize) {
    for _ in 0..500 {
        if lines_with(buf, what) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what:?} not logged {n} times");
}

/// Flushes until the store has written everything (bounded).
fn flush_until_written(store: &Store) {
    for _ in 0..40 {
        if store.flush(Duration::from_millis(500)) {
            return;
        }
    }
    panic!("pending writes never reached the database");
}

// ---- writer processes -------------------------------------------------

/// Arguments for the test harness of a writer process, in case the
/// constructor below ever did not run (a linker may drop constructors): the
/// harness then runs no test, rather than the whole suite 200 times over,
/// and the writer fails for want of its `ACK` lines.
const CHILD_ARGS: [&str; 2] = ["--exact", "store::writer_constructor_did_not_run"];

/// The entry point of the writer processes the tests below spawn: in this
/// binary run with `CHILD` set, it runs one writer and exits before the test
/// harness's `main` (a panic exits 101, as a failed test does). Elsewhere it
/// returns at once. Before `main`, std has not set SIGPIPE to ignored; the
/// writer needs only threads, files, sockets and stdout, which work then,
/// and its parent always reads stdout to the end.
#[ctor::ctor(unsafe)]
fn writer_process() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let code = match std::panic::catch_unwind(|| child_writer(spec)) {
        Ok(()) => 0,
        Err(_) => 101,
    };
    std::process::exit(code);
}

/// One writer: `STORE_WRITES` batches for writer `STORE_INDEX`, each
/// acknowledged on stdout once it is in the database.
#[expect(
    clippy::print_stdout,
    reason = "the ACK lines are the writer's report to the test that spawned it"
)]
fn child_writer(spec: String) {
    let var = |k: &str| std::env::var(k).unwrap();
    let i: usize = var("STORE_INDEX").parse().unwrap();
    let writes: usize = var("STORE_WRITES").parse().unwrap();
    let now = unix_now();
    let batch = |k: usize| {
        let m = format!("m-{i}");
        [
            Write::Caller(
                format!("own-{i}"),
                rec(Some(&m), k as u64, &[(&format!("a-{k}"), now)]),
            ),
            Write::Caller(
                "shared".into(),
                rec(Some(&m), (i * 1000 + k) as u64, &[(&format!("s-{i}"), now)]),
            ),
        ]
    };
    if var("STORE_VIA") == "store" {
        let (store, _) = Store::start(
            &StoreOptions {
                spec: Some(spec),
                ..Default::default()
            },
            None,
        );
        for k in 0..writes {
            for Write::Caller(n, r) in batch(k) {
                store.put_caller(&n, r);
            }
            // A flush can lose to contention; the writes stay queued.
            assert!((0..5).any(|_| store.flush(FLUSH)), "flush failed");
            println!("ACK {i} {k}");
        }
        return;
    }
    let mut b = retry(|| Backend::open(Some(&spec), None));
    for k in 0..writes {
        retry(|| b.write(&batch(k)));
        println!("ACK {i} {k}");
    }
}

/// Retries a store call that reports the database busy (bounded).
fn retry<T>(mut f: impl FnMut() -> Result<T, StoreError>) -> T {
    for _ in 0..500 {
        match f() {
            Ok(v) => return v,
            Err(StoreError::Unavailable(_)) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("{e}"),
        }
    }
    panic!("store unavailable for 10 s");
}

fn spawn_writer(spec: &str, i: usize, writes: usize, via: &str, password: Option<&str>) -> Child {
    let mut c = Command::new(SELF_EXE);
    c.args(CHILD_ARGS)
        .env(CHILD, spec)
        .env("STORE_INDEX", i.to_string())
        .env("STORE_WRITES", writes.to_string())
        .env("STORE_VIA", via)
        .env_remove(holdmix::store::PASSWORD_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = password {
        c.env(holdmix::store::PASSWORD_ENV, p);
    }
    c.spawn().expect("spawn writer")
}

/// Waits for every writer; each must succeed and acknowledge all its writes.
fn wait_all(kids: Vec<Child>, writes: usize) {
    for (i, kid) in kids.into_iter().enumerate() {
        let out = kid.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "writer {i}: {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("ACK ")).count(),
            writes,
            "writer {i}"
        );
    }
}

/// After `n` writers of `writes` batches each: every row complete, and the
/// shared caller's music and offset from one and the same writer.
fn check_writers(b: &mut Backend, n: usize, writes: usize) {
    let now = unix_now();
    for i in 0..n {
        let own = b
            .get_caller(&format!("own-{i}"), now, DAY)
            .unwrap()
            .expect("own caller");
        assert_eq!(own.music.as_deref(), Some(format!("m-{i}").as_str()));
        assert_eq!(own.offset_ms, writes as u64 - 1);
        let keys: BTreeSet<String> = (0..writes).map(|k| format!("a-{k}")).collect();
        assert_eq!(own.heard.keys().cloned().collect::<BTreeSet<_>>(), keys);
    }
    let shared = b.get_caller("shared", now, DAY).unwrap().expect("shared caller");
    let j = (shared.offset_ms / 1000) as usize;
    assert_eq!(
        shared.music,
        Some(format!("m-{j}")),
        "music and offset from one writer"
    );
    assert_eq!(shared.heard.len(), n, "every writer's heard entry merged");
}

// ---- SQLite -------------------------------------------------------------

#[test]
fn sqlite_round_trip_through_the_store() {
    let dir = tempdir();
    let o = opts(&sqlite_spec(dir.path()));
    let (store, caller) = Store::start(&o, Some("79001112233"));
    assert_eq!(caller, None, "fresh store");
    let now = unix_now();
    let r = rec(Some("music/jazz.mp3"), 61_250, &[("morning/tea.wav", now - 60)]);
    // The newest per key wins.
    store.put_caller("79001112233", rec(Some("music/blues.mp3"), 1, &[]));
    store.put_caller("79001112233", r.clone());
    assert!(store.flush(FLUSH));
    drop(store);
    let (_s, caller) = Store::start(&o, Some("79001112233"));
    assert_eq!(caller, Some(r));
}

#[test]
fn sqlite_heard_window_hides_old_advices() {
    let dir = tempdir();
    let spec = sqlite_spec(dir.path());
    let now = unix_now();
    let hour = 3600;
    let heard = [
        ("old", now - 25 * hour),
        ("edge", now - 24 * hour),
        ("recent", now - hour),
    ];
    let mut b = Backend::open(Some(&spec), None).unwrap();
    b.set_caller("100", &rec(Some("m.mp3"), 0, &heard)).unwrap();
    let got = b.get_caller("100", now, DAY).unwrap().unwrap();
    assert_eq!(got.heard.keys().collect::<Vec<_>>(), ["recent"]);
    let all = b.get_caller("100", now, 2 * DAY).unwrap().unwrap();
    assert_eq!(all.heard.len(), 3);
    let o = StoreOptions {
        heard_window: Duration::from_secs(2 * hour as u64),
        ..opts(&spec)
    };
    let (_s, caller) = Store::start(&o, Some("100"));
    assert_eq!(caller.unwrap().heard.keys().collect::<Vec<_>>(), ["recent"]);
    assert!(b.get_caller("unknown", now, DAY).unwrap().is_none());
}

#[test]
fn sqlite_default_location_is_xdg_state_home() {
    let dir = tempdir();
    let state = dir.path().join("state");
    let out = Command::new(SELF_EXE)
        .args(CHILD_ARGS)
        .env("XDG_STATE_HOME", &state)
        .env(CHILD, "")
        .env("STORE_INDEX", "0")
        .env("STORE_WRITES", "1")
        .env("STORE_VIA", "store")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = state.join("holdmix/store.sqlite3");
    let mut b = Backend::open(Some(file.to_str().unwrap()), None).unwrap();
    assert!(
        b.get_caller("own-0", unix_now(), DAY).unwrap().is_some(),
        "written to {}",
        file.display()
    );
}

#[test]
fn sqlite_200_processes_at_once() {
    let dir = tempdir();
    let spec = sqlite_spec(dir.path());
    let (n, writes) = (200, 3);
    let kids: Vec<Child> = (0..n)
        .map(|i| spawn_writer(&spec, i, writes, "store", None))
        .collect();
    wait_all(kids, writes);
    let mut b = Backend::open(Some(&spec), None).unwrap();
    let Backend::Sqlite(s) = &mut b else {
        unreachable!()
    };
    assert_eq!(s.integrity_check().unwrap(), "ok");
    check_writers(&mut b, n, writes);
}

#[test]
fn sqlite_kill_9_mid_write_keeps_every_acknowledged_write() {
    let dir = tempdir();
    let spec = sqlite_spec(dir.path());
    let (n, writes) = (12, 150);
    // Even writers never finish on their own: they are killed mid-write.
    let mut kids: Vec<Child> = (0..n)
        .map(|i| {
            spawn_writer(
                &spec,
                i,
                if i.is_multiple_of(2) { 1_000_000 } else { writes },
                "backend",
                None,
            )
        })
        .collect();
    // Each writer's acknowledged batches, read as they come.
    let acks: Vec<Arc<Mutex<Vec<usize>>>> = (0..n).map(|_| Arc::default()).collect();
    let readers: Vec<_> = kids
        .iter_mut()
        .zip(&acks)
        .map(|(kid, acked)| {
            let out = kid.stdout.take().unwrap();
            let acked = acked.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(k) = line.split(' ').nth(2).filter(|_| line.starts_with("ACK ")) {
                        acked.lock().unwrap().push(k.parse().unwrap());
                    }
                }
            })
        })
        .collect();
    // Kill every other writer once it is well into its writes.
    let start = Instant::now();
    for i in (0..n).step_by(2) {
        while acks[i].lock().unwrap().len() < 5 + i {
            assert!(start.elapsed() < Duration::from_secs(60), "writer {i} stalled");
            std::thread::sleep(Duration::from_millis(2));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(kids[i].id() as i32, libc::SIGKILL) };
    }
    for (i, kid) in kids.iter_mut().enumerate() {
        let status = kid.wait().unwrap();
        assert_eq!(status.success(), !i.is_multiple_of(2), "writer {i}: {status:?}");
    }
    readers.into_iter().for_each(|r| r.join().unwrap());
    let mut b = Backend::open(Some(&spec), None).unwrap();
    let Backend::Sqlite(s) = &mut b else {
        unreachable!()
    };
    assert_eq!(s.integrity_check().unwrap(), "ok");
    let now = unix_now();
    for (i, acked) in acks.iter().enumerate() {
        let acked = acked.lock().unwrap();
        let last = *acked.last().expect("some writes acknowledged");
        let own = b
            .get_caller(&format!("own-{i}"), now, DAY)
            .unwrap()
            .expect("own caller");
        assert!(
            own.offset_ms >= last as u64,
            "writer {i}: offset {} < acked {last}",
            own.offset_ms
        );
        for k in acked.iter() {
            assert!(
                own.heard.contains_key(&format!("a-{k}")),
                "writer {i}: acknowledged batch {k} lost"
            );
        }
    }
}

#[test]
fn sqlite_unavailable_then_back_logs_once_each_and_keeps_writes() {
    let dir = tempdir();
    // A file where the database's directory should be: opening fails.
    let blocker = dir.path().join("db");
    std::fs::write(&blocker, "").unwrap();
    let spec = format!("sqlite:{}", blocker.join("store.sqlite3").display());
    let (logger, log) = log_capture();
    let (store, caller) =
        tracing::dispatcher::with_default(&logger, || Store::start(&opts(&spec), Some("5")));
    assert_eq!(caller, None, "defaults when the store is down");
    store.put_caller("5", rec(Some("a.mp3"), 1, &[]));
    assert!(
        !store.flush(Duration::from_millis(200)),
        "nothing can be written yet"
    );
    let now = unix_now();
    store.put_caller("5", rec(None, 2, &[("tip", now)]));
    assert!(!store.flush(Duration::from_millis(200)));
    std::fs::remove_file(&blocker).unwrap();
    flush_until_written(&store);
    let mut b = Backend::open(Some(&spec), None).unwrap();
    // Both puts, merged: the first's music, the second's offset and heard.
    assert_eq!(
        b.get_caller("5", now, DAY).unwrap(),
        Some(rec(Some("a.mp3"), 2, &[("tip", now)]))
    );
    assert_eq!(lines_with(&log, "retrying"), 1, "one line when it goes down");
    assert_eq!(lines_with(&log, "available again"), 1, "one line when it is back");
}

#[test]
fn refused_write_is_dropped_and_the_rest_written() {
    let dir = tempdir();
    let spec = sqlite_spec(dir.path());
    let (store, _) = Store::start(&opts(&spec), None);
    store.put_caller(
        &"9".repeat(holdmix::store::MAX_NUMBER + 1),
        rec(Some("x"), 0, &[]),
    );
    store.put_caller("7", rec(Some("y"), 3, &[]));
    assert!(store.flush(FLUSH), "nothing left pending");
    let mut b = Backend::open(Some(&spec), None).unwrap();
    assert_eq!(b.get_caller("7", 0, DAY).unwrap().unwrap().offset_ms, 3);
}

// ---- MariaDB ------------------------------------------------------------

fn mysql_opts(db: &Mariadb, name: &str) -> StoreOptions {
    StoreOptions {
        password_file: Some(db.password_file()),
        ..opts(&db.url(name))
    }
}

#[test]
fn mysql_round_trip() {
    let db = Mariadb::start();
    let name = db.create_db("rt");
    let o = mysql_opts(&db, &name);
    let (store, caller) = Store::start(&o, Some("79001112233"));
    assert_eq!(caller, None);
    let now = unix_now();
    let r = rec(
        Some("music/ночь.mp3"),
        12_345,
        &[("advice/Morning.wav", now - 5), ("old", now - 90_000)],
    );
    store.put_caller("79001112233", r.clone());
    assert!(store.flush(FLUSH));
    let (_s, caller) = Store::start(&o, Some("79001112233"));
    let caller = caller.expect("caller read back");
    assert_eq!((caller.music, caller.offset_ms), (r.music, r.offset_ms));
    assert_eq!(
        caller.heard.keys().collect::<Vec<_>>(),
        ["advice/Morning.wav"],
        "heard window"
    );
    // holdmix's own tables only; the old hack's table is never created.
    let tables = db.sql(Some(&name), "SHOW TABLES");
    assert!(
        !tables.iter().any(|t| t[0].as_deref() == Some("queue_music")),
        "{tables:?}"
    );
    assert_eq!(
        db.sql(Some(&name), "SELECT version FROM holdmix_schema"),
        [[Some("2".to_string())]]
    );
    // A wrong password is refused, and the start falls back to defaults.
    let bad = db.password_file().with_file_name("bad");
    std::fs::write(&bad, "wrong").unwrap();
    assert!(Backend::open(Some(&db.url(&name)), Some(&bad)).is_err());
    let o = StoreOptions {
        password_file: Some(bad),
        start_timeout: Duration::from_secs(5),
        ..o
    };
    assert_eq!(Store::start(&o, Some("79001112233")).1, None);
}

#[test]
fn mysql_uses_the_old_queue_music_table_as_it_is() {
    let db = Mariadb::start();
    let name = db.create_db("legacy");
    db.sql(
        Some(&name),
        "CREATE TABLE queue_music (src VARCHAR(32) NOT NULL PRIMARY KEY, music_class VARCHAR(128))",
    );
    db.sql(
        Some(&name),
        "INSERT INTO queue_music VALUES ('79001112233', 'rock')",
    );
    let o = mysql_opts(&db, &name);
    let (store, caller) = Store::start(&o, Some("79001112233"));
    assert_eq!(caller.expect("old row read").music.as_deref(), Some("rock"));
    store.put_caller("79001112233", rec(Some("jazz"), 500, &[("a", unix_now())]));
    store.put_caller("79005550000", rec(Some("blues"), 0, &[]));
    assert!(store.flush(FLUSH));
    let rows = db.sql(
        Some(&name),
        "SELECT src, music_class FROM queue_music ORDER BY src",
    );
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        rows,
        [[s("79001112233"), s("jazz")], [s("79005550000"), s("blues")]]
    );
    // The rest lives in holdmix's tables, with the choice too: the offset
    // is of that track (a choice changed since in queue_music starts at 0).
    let own = db.sql(
        Some(&name),
        "SELECT music, offset_ms FROM holdmix_caller WHERE number = '79001112233'",
    );
    assert_eq!(own, [[s("jazz"), s("500")]]);
    let (_s, caller) = Store::start(&o, Some("79001112233"));
    let caller = caller.expect("read back");
    assert_eq!((caller.music.as_deref(), caller.offset_ms), (Some("jazz"), 500));
    assert!(caller.heard.contains_key("a"));
}

#[test]
fn mysql_50_processes_at_once() {
    let db = Mariadb::start();
    let name = db.create_db("many");
    let (n, writes) = (50, 4);
    let url = db.url(&name);
    let kids: Vec<Child> = (0..n)
        .map(|i| spawn_writer(&url, i, writes, "store", Some(mariadb::PASSWORD)))
        .collect();
    wait_all(kids, writes);
    let mut b = Backend::open(Some(&url), Some(&db.password_file())).unwrap();
    check_writers(&mut b, n, writes);
}

#[test]
fn mysql_server_stopped_mid_call_then_back() {
    let mut db = Mariadb::start();
    let name = db.create_db("restart");
    let o = mysql_opts(&db, &name);
    let (logger, log) = log_capture();
    let (store, _) = tracing::dispatcher::with_default(&logger, || Store::start(&o, Some("42")));
    store.put_caller("42", rec(Some("first.mp3"), 1, &[]));
    assert!(store.flush(FLUSH), "written while the server is up");
    db.stop();
    // The call goes on: writes are accepted and kept.
    let now = unix_now();
    store.put_caller("42", rec(Some("second.mp3"), 2, &[("tip", now)]));
    assert!(
        !store.flush(Duration::from_millis(300)),
        "no server, nothing written"
    );
    wait_for_line(&log, "retrying", 1);
    // A call starting now gets defaults, and its writes wait too.
    let (late, caller) = tracing::dispatcher::with_default(&logger, || Store::start(&o, Some("43")));
    assert_eq!(caller, None);
    late.put_caller("43", rec(Some("third.mp3"), 3, &[]));
    wait_for_line(&log, "retrying", 2);
    db.restart();
    flush_until_written(&store);
    flush_until_written(&late);
    let mut b = Backend::open(Some(&db.url(&name)), Some(&db.password_file())).unwrap();
    assert_eq!(
        b.get_caller("42", now, DAY).unwrap(),
        Some(rec(Some("second.mp3"), 2, &[("tip", now)]))
    );
    let third = b.get_caller("43", now, DAY).unwrap().unwrap();
    assert_eq!(third.music.as_deref(), Some("third.mp3"));
    // Per store: one line when the server goes, one when it is back.
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert_eq!(lines_with(&log, "retrying"), 2, "{text}");
    assert_eq!(lines_with(&log, "available again"), 2, "{text}");
}
