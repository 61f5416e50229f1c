//! Asterisk's real hold-music life cycle: generators killed and respawned
//! around app_queue's announcements (SIGHUP, or SIGKILL), one started and
//! killed before its first frame, one lost by Asterisk and never read. The
//! caller must hear one continuous hold experience, and no generator may
//! outlive its call.

use crate::common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A playlist of one long tone (offsets are then easy to follow), a
/// welcome, advices from 2 s with 2 s gaps, and position announcements.
fn storm_playlist(dir: &Path) -> PathBuf {
    let music = dir.join("bed.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 120.0, 8000));
    let root = root();
    playlist(
        dir,
        "storm.toml",
        &format!(
            r#"{head}
[welcome]
say = ["please-hold"]

[advice]
start = "2s"
gap = "2s"

[[advice.group]]
name = "first"
files = "{root}/sample-audio/advice/en/first"

[[advice.group]]
name = "middle"
files = "{root}/sample-audio/advice/en/middle"
order = "random"

[[advice.group]]
name = "last"
files = "{root}/sample-audio/advice/en/last"

[announce.position]
say = ["you-are", {{ say = "ordinal", value = "position" }}, "in-queue"]

[keys]
3 = {{ action = "next-music", debounce = "3s" }}
"#,
            head = speech_head(&music),
            root = root.display()
        ),
    )
}

/// One generator of the call, read like Asterisk reads (640 bytes per 40 ms)
/// or never read at all.
struct Gen {
    name: &'static str,
    child: Child,
    keys: std::process::ChildStdin,
    reader: Option<std::thread::JoinHandle<Vec<u8>>>,
    /// Bytes the reader has taken so far (none when unread).
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Kept open, unread: the pipe Asterisk lost.
    _unread: Option<std::process::ChildStdout>,
    timeline: PathBuf,
    log: PathBuf,
}

fn spawn(dir: &Path, pl: &Path, uniqueid: &str, name: &'static str, read: bool) -> Gen {
    spawn_args(dir, pl, uniqueid, name, read, &[])
}

impl Gen {
    /// Waits until the reader has taken `ms` of the call itself from this
    /// generator (past a late start's silence); fails if it did not.
    fn wait_heard(&mut self, ms: usize) {
        let (name, log) = (self.name, &self.log);
        heard_reaches(&mut self.child, &self.read, &self.timeline, ms * 16, || {
            format!("{name}:\n{}", std::fs::read_to_string(log).unwrap_or_default())
        });
    }

    /// Waits until the reader has taken `ms` of this generator's stream:
    /// its own time, which a loaded machine's late start does not shorten.
    fn wait_stream(&mut self, ms: usize) {
        let name = self.name;
        stream_reaches(&mut self.child, &self.read, ms * 16, || name.to_string());
    }
}

/// [`spawn`] with more `run` arguments.
fn spawn_args(dir: &Path, pl: &Path, uniqueid: &str, name: &'static str, read: bool, extra: &[&str]) -> Gen {
    let timeline = dir.join(format!("{name}.jsonl"));
    let log = dir.join(format!("{name}.log"));
    let mut cmd = holdmix(dir);
    as_asterisk_forks(&mut cmd);
    let mut child = cmd
        .arg("--log")
        .arg(&log)
        .args(["run", "--playlist"])
        .arg(pl)
        .args([
            "--uniqueid",
            uniqueid,
            "--events",
            "-",
            "--orphan-after",
            "10s",
            "--state-dir",
        ])
        .arg(dir.join("calls"))
        .arg("--timeline")
        .arg(&timeline)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let keys = child.stdin.take().expect("stdin");
    let (reader, count, unread) = if read {
        let (count, reader) = counted_drain(&mut child);
        (Some(reader), count, None)
    } else {
        (None, Default::default(), child.stdout.take())
    };
    Gen {
        name,
        child,
        keys,
        reader,
        read: count,
        _unread: unread,
        timeline,
        log,
    }
}

/// The child starts with the stop signals' default actions and unblocked,
/// as Asterisk's `ast_safe_fork` leaves its MOH processes, whatever this
/// test process inherited: under `nohup` a SIGHUP that came before the
/// generator's handler (the storm's start killed 2 ms in) was ignored, not
/// fatal, and that generator streamed on.
fn as_asterisk_forks(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: signal(2) and sigprocmask(2) are async-signal-safe, as the
    // child between fork and exec requires; nothing is allocated.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
                libc::signal(sig, libc::SIG_DFL);
                libc::sigaddset(&mut set, sig);
            }
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}

#[derive(Clone, Copy)]
enum Step {
    /// Start generator N (read or not); AMI tells it the caller is 2nd.
    Start(usize, bool),
    Signal(usize, i32),
}

/// Bob's per-call class in REALTIME-AND-RESPAWN.md section C, in ms after
/// his Queue() start: G1 7069–15078; G2 started at 22370 after its class
/// was destroyed (never signalled, never read); a start killed 2 ms later,
/// before its first frame, at 38445; G3 30180–31182; G4 46282–47003.
fn bob(kill: i32) -> Vec<(u64, Step)> {
    vec![
        (7069, Step::Start(0, true)),
        (15078, Step::Signal(0, kill)),
        (22370, Step::Start(1, false)),
        (30180, Step::Start(2, true)),
        (31182, Step::Signal(2, kill)),
        (38445, Step::Start(3, true)),
        (38447, Step::Signal(3, kill)),
        (46282, Step::Start(4, true)),
        (47003, Step::Signal(4, kill)),
    ]
}

const NAMES: [&str; 5] = ["g1", "g2-lost", "g3", "g-2ms", "g4"];

/// Plays a schedule for one call; returns its generators, the heard ones
/// ended.
fn replay(dir: &Path, uniqueid: &str, steps: &[(u64, Step)]) -> Vec<Gen> {
    let pl = storm_playlist(dir);
    warm_cache(dir, &pl);
    let mut gens: Vec<Option<Gen>> = (0..NAMES.len()).map(|_| None).collect();
    let t0 = Instant::now();
    for &(at, step) in steps {
        let due = t0 + Duration::from_millis(at - steps[0].0);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        match step {
            Step::Start(i, read) => {
                let mut g = spawn(dir, &pl, uniqueid, NAMES[i], read);
                writeln!(g.keys, "position 2").ok();
                gens[i] = Some(g);
            }
            Step::Signal(i, sig) => {
                if let Some(g) = &mut gens[i] {
                    signal(&g.child, sig);
                    // Shown with a failure (the output is captured): which one.
                    eprintln!("{}: signal {sig}, waiting for its exit", g.name);
                    // Generous: how fast a generator exits is `lifecycle`'s
                    // and the bench's business; here a loaded machine (a
                    // fresh clone's CI beside a release build) once took
                    // over 5 s to reap one.
                    let Some((status, _)) = exit_within(&mut g.child, Duration::from_secs(20)) else {
                        let why = stuck_process(g.child.id());
                        let log = std::fs::read_to_string(&g.log).unwrap_or_default();
                        g.child.kill().ok();
                        panic!("{}: still running 20 s after signal {sig}\n{why}\n{log}", g.name);
                    };
                    // It was streaming until the signal ended it: killed by
                    // it, or (SIGHUP) a clean exit that says so; killed by
                    // SIGHUP itself only when it came before the handler
                    // was installed (2 ms in).
                    use std::os::unix::process::ExitStatusExt;
                    let log = std::fs::read_to_string(&g.log).unwrap_or_default();
                    let by_signal = status.signal() == Some(sig)
                        || (sig == libc::SIGHUP && status.success() && log.contains("reason=sighup"));
                    assert!(by_signal, "{}: {status:?}\n{log}", g.name);
                }
            }
        }
    }
    gens.into_iter().flatten().collect()
}

/// What one generator put in its timeline and what its reader got.
struct Heard {
    name: &'static str,
    tl: Vec<serde_json::Value>,
    /// Audio the reader took, after the silence of a late start.
    secs: f64,
    /// All the reader took, the late start's silence included.
    read: f64,
    /// Stream time the generator skipped while its reader stalled (its
    /// timeline's `stall` events): gone by, never heard.
    skipped: f64,
}

fn heard(g: &mut Gen) -> Heard {
    let audio = g
        .reader
        .take()
        .map(|r| r.join().expect("reader"))
        .unwrap_or_default();
    let tl = if g.timeline.exists() {
        timeline(&g.timeline)
    } else {
        Vec::new()
    };
    let skipped = events(&tl, "stall")
        .iter()
        .map(|e| e["skipped"].as_f64().unwrap_or(0.0))
        .sum();
    // Silence written before a late start is outside the stream's time.
    let late = late_bytes(&tl).min(audio.len());
    Heard {
        name: g.name,
        secs: (audio.len() - late) as f64 / 16000.0,
        read: audio.len() as f64 / 16000.0,
        tl,
        skipped,
    }
}

fn files(h: &Heard, queue_prefix: &str) -> Vec<String> {
    events(&h.tl, "prompt_start")
        .iter()
        .filter(|e| e["queue"].as_str().is_some_and(|q| q.starts_with(queue_prefix)))
        .map(|e| e["file"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The music offset the reader of `h` last heard: where its music started,
/// plus the time it was read since then.
fn offset_heard(h: &Heard) -> f64 {
    let start = events(&h.tl, "music_start");
    let first = start.first().expect("music started");
    let (t, offset) = (
        first["t"].as_f64().expect("t"),
        first["offset"].as_f64().expect("offset"),
    );
    let stream0 = events(&h.tl, "resume").first().map_or(0.0, |r| {
        r["from"].as_f64().unwrap_or(0.0) + r["gap"].as_f64().unwrap_or(0.0)
    });
    // Stream time runs from stream0 (the resumed time) as the reader reads,
    // and skips ahead where the reader stalled.
    offset + (stream0 + h.secs + h.skipped - t)
}

fn check_one_continuous_call(mut gens: Vec<Gen>, kill: &str) {
    let lost = gens.iter_mut().find(|g| g.name == "g2-lost").expect("lost one");
    // The lost generator ends by itself (--orphan-after 10s), exit status 0.
    let (status, _) = wait_exit(&mut lost.child, Duration::from_secs(20));
    assert!(status.success(), "{kill}: the lost generator: {status:?}");
    let log = std::fs::read_to_string(&lost.log).unwrap_or_default();
    assert!(
        log.contains("orphaned generator") && log.contains("1795734134"),
        "{log}"
    );
    let all: Vec<Heard> = gens.iter_mut().map(heard).collect();
    let by = |n: &str| all.iter().find(|h| h.name == n).expect("generator");
    let (g1, g3, g4) = (by("g1"), by("g3"), by("g4"));
    // Each streamed until its signal (asserted in `replay`): read, or
    // skipped while its reader stalled. Their lives are 8 s, 1 s and 0.7 s
    // of wall time, but a process's start-up is not part of its stream: on
    // a loaded machine g3 once had its first frame 0.6 s after its spawn.
    // So the bounds only say that each streamed, and g1 for most of its life.
    let lived = |h: &Heard| h.read + h.skipped;
    assert!(
        lived(g1) > 5.0 && lived(g3) > 0.0 && lived(g4) > 0.0,
        "{kill}: {} {} {}",
        lived(g1),
        lived(g3),
        lived(g4)
    );

    // One music bed: each respawn goes on from what the previous reader
    // heard, within 150 ms.
    for (prev, next) in [(g1, g3), (g3, g4)] {
        let went_on = events(&next.tl, "music_start")[0]["offset"]
            .as_f64()
            .expect("offset");
        let was = offset_heard(prev);
        assert!(
            (went_on - was).abs() <= 0.15,
            "{kill}: {} resumed the music at {went_on:.3} s, {} was heard up to {was:.3} s",
            next.name,
            prev.name
        );
    }
    // The welcome once; no advice twice; position 2 said once.
    let heard_gens = [g1, g3, g4];
    let welcome: usize = heard_gens.iter().map(|h| files(h, "welcome").len()).sum();
    assert_eq!(welcome, 1, "{kill}");
    let mut advices: Vec<String> = heard_gens.iter().flat_map(|h| files(h, "advice/")).collect();
    let n = advices.len();
    // How many advices fit depends on the engine time the generators
    // covered, and a loaded machine starts each a little late (its lead-in
    // silence is outside the engine's time): g1 once reached only the
    // first. That they go on without repeats is what is asserted here.
    assert!(n >= 1, "{kill}: advices {advices:?}");
    advices.sort();
    advices.dedup();
    assert_eq!(advices.len(), n, "{kill}: an advice was played twice");
    let positions: usize = heard_gens
        .iter()
        .map(|h| {
            files(h, "position")
                .iter()
                .filter(|f| *f == "you-are.wav")
                .count()
        })
        .sum();
    assert_eq!(positions, 1, "{kill}: position 2 announced again");
    // The one killed at 2 ms played nothing of its own. On a loaded
    // machine the signal can land after its first write, which is the
    // 120 ms lead queued before any read: never more than that.
    let quick = by("g-2ms");
    assert!(quick.secs <= 0.125, "{kill}: {}", quick.secs);
    // Stream time goes on across processes (the caller lived through the gaps).
    let resumed = events(&g4.tl, "resume")[0]["from"].as_f64().expect("from");
    assert!(resumed > 20.0, "{kill}: g4 resumed at stream time {resumed}");
}

#[test]
fn a_respawn_storm_sounds_like_one_call() {
    // Bob's captured timeline, twice at once: killed as Asterisk kills
    // (SIGHUP), and with SIGKILL only.
    let (hup, kill) = (tempdir(), tempdir());
    let (hp, kp) = (hup.path().to_path_buf(), kill.path().to_path_buf());
    let with_kill = std::thread::spawn(move || replay(&kp, "1795734134.39", &bob(libc::SIGKILL)));
    let with_hup = replay(&hp, "1795734134.39", &bob(libc::SIGHUP));
    check_one_continuous_call(with_hup, "SIGHUP");
    check_one_continuous_call(with_kill.join().expect("SIGKILL call"), "SIGKILL");
}

#[test]
fn debounce_clocks_and_the_music_choice_carry_over() {
    let dir = tempdir();
    let pl = storm_playlist(dir.path());
    // The debounce clock is the call's stream time, so the presses wait on
    // each generator's stream, not on the wall clock.
    let mut g1 = spawn(dir.path(), &pl, "1795734200.7", "g1", true);
    g1.wait_stream(1500);
    writeln!(g1.keys, "dtmf 3").expect("key");
    g1.wait_stream(2000);
    signal(&g1.child, libc::SIGKILL);
    wait_exit(&mut g1.child, Duration::from_secs(5));
    let mut g2 = spawn(dir.path(), &pl, "1795734200.7", "g2", true);
    g2.wait_stream(300);
    // About a second of the call after the first press: inside its 3 s
    // debounce.
    writeln!(g2.keys, "dtmf 3").expect("key");
    g2.wait_stream(3300);
    writeln!(g2.keys, "dtmf 3").expect("key");
    g2.wait_stream(3600);
    signal(&g2.child, libc::SIGHUP);
    assert!(wait_exit(&mut g2.child, Duration::from_secs(5)).0.success());
    let (h1, h2) = (heard(&mut g1), heard(&mut g2));
    let actions: Vec<&str> = events(&h2.tl, "dtmf")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["debounced", "next-music"], "{:?}", h2.tl);
    assert_eq!(events(&h1.tl, "music_switch").len(), 1);
    // The call's own file is the only one left for it.
    let left = checkpoint_files(&dir.path().join("calls"), Some("1795734200.7"));
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn a_hangup_ends_the_call_and_its_state() {
    let dir = tempdir();
    let pl = storm_playlist(dir.path());
    let mut g = spawn(dir.path(), &pl, "1795734300.1", "g", true);
    // A second of the call (its state written), however late it started.
    g.wait_heard(1000);
    writeln!(g.keys, "hangup").expect("hangup");
    assert!(wait_exit(&mut g.child, Duration::from_secs(20)).0.success());
    let calls = dir.path().join("calls");
    assert!(calls.is_dir(), "no state directory");
    let left = checkpoint_files(&calls, Some("1795734300.1"));
    assert_eq!(left, [""; 0], "a call that is over leaves nothing to resume");
    assert!(!calls.join("1795734300.1").exists(), "nor its directory");
    heard(&mut g);
}

#[test]
fn a_call_key_carries_the_call_across_channels_and_its_hangup() {
    // `--call-key`: each hold a new channel (a new Uniqueid), one call. The
    // first channel's hangup keeps the call's state; the second goes on.
    let dir = tempdir();
    let pl = storm_playlist(dir.path());
    let key = ["--call-key", "a84b4c76e66710@pbx.example.com"];
    let mut g1 = spawn_args(dir.path(), &pl, "1795734400.1", "g1", true, &key);
    // Past the welcome: what the next channel must not say again.
    assert!(
        wait_for_event(&g1.timeline, "prompt_end", Duration::from_secs(30)),
        "no prompt_end:\n{}",
        std::fs::read_to_string(&g1.log).unwrap_or_default()
    );
    writeln!(g1.keys, "hangup").expect("hangup");
    assert!(wait_exit(&mut g1.child, Duration::from_secs(20)).0.success());
    let first = heard(&mut g1);
    let mut g2 = spawn_args(dir.path(), &pl, "1795734500.7", "g2", true, &key);
    // 1.5 s of the call itself (where a welcome would be), however late a
    // loaded machine starts it.
    g2.wait_heard(1500);
    writeln!(g2.keys, "hangup").expect("hangup");
    assert!(wait_exit(&mut g2.child, Duration::from_secs(20)).0.success());
    let second = heard(&mut g2);
    assert_eq!(files(&first, "welcome").len(), 1, "{:?}", first.tl);
    let resume = events(&second.tl, "resume");
    assert_eq!(resume.len(), 1, "{:?}", second.tl);
    assert!(resume[0]["from"].as_f64().expect("from") > 1.0, "{:?}", second.tl);
    assert!(
        files(&second, "welcome").is_empty(),
        "no welcome again: {:?}",
        second.tl
    );
    // Without the key, the second channel is another call.
    let mut g3 = spawn(dir.path(), &pl, "1795734600.9", "g3", true);
    g3.wait_heard(1500);
    writeln!(g3.keys, "hangup").expect("hangup");
    assert!(wait_exit(&mut g3.child, Duration::from_secs(20)).0.success());
    assert!(events(&heard(&mut g3).tl, "resume").is_empty());
    // A key no call has (empty, control characters) is refused at once.
    for bad in ["", "a\u{1b}[2Jb"] {
        let out = holdmix(dir.path())
            .args(["run", "--call-key", bad])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("a call key is 1 to 200 characters"));
    }
}

/// A `run` whose stdout is read as `read` says; returns it and when it started.
fn orphan_run(dir: &Path, orphan_after: &str) -> Child {
    holdmix(dir)
        .arg("--log")
        .arg(dir.join("run.log"))
        .args(["run", "--playlist"])
        .arg(root().join("playlists/demo.toml"))
        .args([
            "--uniqueid",
            "1795734400.2",
            "--orphan-after",
            orphan_after,
            "--state-dir",
        ])
        .arg(dir.join("calls"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run")
}

#[test]
fn a_generator_nobody_reads_exits_by_itself() {
    // Never read: gone within --orphan-after + 1 s, status 0, one line.
    let dir = tempdir();
    let mut child = orphan_run(dir.path(), "2s");
    let _pipe = child.stdout.take();
    let (status, took) = wait_exit(&mut child, Duration::from_secs(3));
    assert!(status.success(), "{status:?}");
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    let log = log_text(dir.path());
    assert_eq!(log.matches("orphaned generator").count(), 1, "{log}");
    assert!(log.contains("uniqueid=1795734400.2"), "{log}");

    // Read for 2 s, then not at all.
    let dir = tempdir();
    let mut child = orphan_run(dir.path(), "2s");
    let mut out = child.stdout.take().expect("stdout");
    let started = Instant::now();
    let mut buf = [0u8; 640];
    while started.elapsed() < Duration::from_secs(2) {
        use std::io::Read;
        out.read_exact(&mut buf).expect("read");
        std::thread::sleep(Duration::from_millis(40));
    }
    let (status, took) = wait_exit(&mut child, Duration::from_secs(4));
    assert!(
        status.success() && took >= Duration::from_millis(1500),
        "{status:?} {took:?}"
    );
    assert!(log_text(dir.path()).contains("orphaned generator"));
}

#[test]
fn a_reader_that_pauses_briefly_keeps_its_generator_and_gets_the_present() {
    use std::io::Read;
    let dir = tempdir();
    let mut child = orphan_run(dir.path(), "3s");
    let mut out = child.stdout.take().expect("stdout");
    fn read_for(out: &mut std::process::ChildStdout, d: Duration) -> usize {
        let mut buf = [0u8; 640];
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed() < d {
            out.read_exact(&mut buf).expect("read");
            n += buf.len();
            std::thread::sleep(Duration::from_millis(40));
        }
        n
    }
    read_for(&mut out, Duration::from_secs(1));
    std::thread::sleep(Duration::from_secs(1));
    // After the pause: no burst of the second that was missed, just the
    // present (the lead in the pipe, then real time).
    let t = Instant::now();
    let mut after = 0;
    let mut buf = [0u8; 640];
    while t.elapsed() < Duration::from_millis(200) {
        let n = out.read(&mut buf).expect("read");
        after += n;
        if n == 0 {
            break;
        }
    }
    // At most: the lead left in the pipe (6 frames before the read size is
    // learned), 200 ms of real time, and what the pacer lets a reader catch
    // up by design (up to STALL_FRAMES, 10 frames; more is skipped). The
    // missed second itself would be 16,000 bytes more.
    assert!(
        after <= 16 * 200 + 320 * (6 + 10),
        "{after} bytes in 200 ms after a 1 s pause: a burst\n{}",
        log_text(dir.path())
    );
    read_for(&mut out, Duration::from_secs(2));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the generator was kept"
    );
    signal(&child, libc::SIGHUP);
    assert!(wait_exit(&mut child, Duration::from_secs(20)).0.success());
    assert!(!log_text(dir.path()).contains("orphaned"));
}
