//! Per-call timelines in production (`run --timeline-dir DIR`, put in
//! every hub realtime row by `hub --timeline-dir`): each call's timeline
//! goes to `DIR/<YYYY-MM-DD>/<uniqueid>.jsonl`, the date being the UTC
//! day the call's channel was created (Asterisk's Uniqueid counts its
//! seconds, so every respawned generator of a call finds the same file,
//! across midnight too). Generators of one call append to it: the file is
//! opened `O_APPEND` and each batch of lines goes out in one write, so two
//! processes never interleave inside a line.
//!
//! Bounded: past `max` bytes one `truncated` line is written and nothing
//! more; day directories are swept of files older than `days` days at most
//! every ten minutes per host (a marker file's age says when, as the state
//! dir's sweep does). The file is opened on the prepare thread (a FIFO or a
//! hung share must not stop the audio) and written by the process's
//! offload thread (`util::offload`: a disk in writeback must not stop the
//! audio thread, nor a hub's pacing thread with every hosted call); an
//! error is logged once and ends this timeline, never the call.

use crate::engine::timeline::Entry;
use crate::util::offload::{self, Dest};
use chrono::{DateTime, NaiveDate, Utc};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A sweep runs at most this often per host.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// A Uniqueid's seconds further than this from now are not its call's
/// start (a hand-made id such as `1.1`): today is used instead.
const PLAUSIBLE: i64 = 2 * 86_400;

/// What `--timeline-dir`, `--timeline-max` and `--timeline-days` say.
#[derive(Debug, Clone)]
pub struct TimelineDir {
    pub dir: PathBuf,
    /// Bytes a call's file may reach before its `truncated` line.
    pub max: u64,
    /// Days a file is kept.
    pub days: u32,
}

/// A timeline file as the offload thread writes it.
pub struct TimelineFile {
    file: File,
    path: PathBuf,
    /// A write failed: nothing more is written.
    failed: AtomicBool,
    /// Writes the offload refused (its queue full).
    missed: AtomicU64,
}

impl TimelineFile {
    pub fn new(file: File, path: PathBuf) -> Arc<TimelineFile> {
        Arc::new(TimelineFile {
            file,
            path,
            failed: AtomicBool::new(false),
            missed: AtomicU64::new(0),
        })
    }

    /// Queues `lines` (whole lines) for the file; whether they were taken.
    /// Refused, they are lost: the first loss is logged.
    pub fn append(self: &Arc<Self>, lines: Vec<u8>) -> bool {
        if offload::send(self.clone(), lines) {
            return true;
        }
        if self.missed.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(path = %self.path.display(), "the timeline's disk does not keep up: lines of it are lost");
        }
        false
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Dest for TimelineFile {
    fn write(&self, bytes: &[u8]) {
        if self.failed() {
            return;
        }
        // One write: O_APPEND puts it whole at the end, after any other
        // generator's lines (a regular file's write is not split short of
        // a full disk).
        if let Err(e) = (&self.file).write_all(bytes) {
            self.failed.store(true, Ordering::Relaxed);
            tracing::error!(path = %self.path.display(), "cannot write the timeline: {e}; no more of it is written");
        }
    }
}

/// One call's timeline file, appended to.
pub struct CallTimeline {
    file: Arc<TimelineFile>,
    /// The file's size as far as this process knows (others may append).
    size: u64,
    max: u64,
    /// Past the cap, or a write failed: nothing more is written.
    done: bool,
    line: Vec<u8>,
}

impl CallTimeline {
    /// Opens (creating) this call's file, then sweeps old days. `None`
    /// (logged) when there is no usable Uniqueid or the directory is
    /// refused: the call streams on without a file.
    pub fn open(opts: &TimelineDir, uniqueid: Option<&str>, now: DateTime<Utc>) -> Option<CallTimeline> {
        let Some(uniqueid) = uniqueid.filter(|u| safe_name(u)) else {
            tracing::warn!(dir = %opts.dir.display(), "no Uniqueid of Asterisk's shape: this call's timeline is not written");
            return None;
        };
        match open_file(opts, uniqueid, now) {
            Ok(t) => {
                // Only a directory found sound is swept, on a thread of
                // its own: a day of many files must not delay the call's
                // first note (the preparation waits for nothing else). It
                // inherits the preparation's blocked stop signals.
                // Not even the thread when the last sweep is recent.
                if crate::util::marker::looks_due(&opts.dir.join(".swept"), SWEEP_EVERY) {
                    let (dir, days) = (opts.dir.clone(), opts.days);
                    let swept = std::thread::Builder::new()
                        .name("timeline-sweep".into())
                        .spawn(move || sweep(&dir, days, now));
                    if let Err(e) = swept {
                        tracing::warn!("cannot sweep the timeline directory: {e}");
                    }
                }
                Some(t)
            }
            Err(e) => {
                tracing::error!("{e}; the call's timeline is not written");
                None
            }
        }
    }

    /// Opens this call's file for one writer that is not the call's
    /// generator (the hub's route line): no sweep (the generators sweep),
    /// and an error is returned, not logged.
    pub fn open_quietly(
        opts: &TimelineDir,
        uniqueid: &str,
        now: DateTime<Utc>,
    ) -> Result<CallTimeline, String> {
        if !safe_name(uniqueid) {
            return Err(format!("{uniqueid:?}: not a Uniqueid of Asterisk's shape"));
        }
        open_file(opts, uniqueid, now)
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Appends `entries` as whole lines in one write; past the cap, a
    /// `truncated` line instead and nothing after it.
    pub fn write(&mut self, entries: &[Entry]) {
        self.done |= self.file.failed();
        if self.done || entries.is_empty() {
            return;
        }
        self.line.clear();
        let mut cut = None;
        for e in entries {
            let start = self.line.len();
            if serde_json::to_writer(&mut self.line, e).is_err() {
                self.line.truncate(start);
                continue;
            }
            self.line.push(b'\n');
            if self.size + self.line.len() as u64 > self.max {
                self.line.truncate(start);
                cut = Some(e.t);
                break;
            }
        }
        if let Some(t) = cut {
            // The mark is written even when it passes the cap: a reader
            // must know the file is not the whole call.
            serde_json::to_writer(
                &mut self.line,
                &Truncated {
                    t,
                    event: "truncated",
                },
            )
            .ok();
            self.line.push(b'\n');
            self.done = true;
            tracing::warn!(path = %self.path().display(), max = self.max, "the call's timeline reached its size cap: truncated");
        }
        let lines = std::mem::take(&mut self.line);
        let n = lines.len() as u64;
        if self.file.append(lines) {
            self.size += n;
        }
    }
}

/// The last line of a file that reached its cap, shaped like the others.
#[derive(serde::Serialize)]
struct Truncated {
    t: f64,
    event: &'static str,
}

fn open_file(opts: &TimelineDir, uniqueid: &str, now: DateTime<Utc>) -> Result<CallTimeline, String> {
    crate::util::dirs::ensure_shared_dir(&opts.dir)?;
    let day = opts
        .dir
        .join(call_day(uniqueid, now).format("%Y-%m-%d").to_string());
    crate::util::dirs::ensure_shared_dir(&day)?;
    let path = day.join(format!("{uniqueid}.jsonl"));
    // Not through a link, never waiting on a FIFO planted there.
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("{}: cannot open the call's timeline: {e}", path.display()))?;
    let m = file
        .metadata()
        .map_err(|e| format!("{}: cannot open the call's timeline: {e}", path.display()))?;
    // SAFETY: getuid has no preconditions.
    if !m.is_file() || m.uid() != unsafe { libc::getuid() } {
        return Err(format!(
            "{}: not a regular file of this user: the call's timeline is not written there",
            path.display()
        ));
    }
    Ok(CallTimeline {
        file: TimelineFile::new(file, path),
        size: m.len(),
        done: m.len() >= opts.max,
        max: opts.max,
        line: Vec::new(),
    })
}

/// The UTC day the call started: its Uniqueid's seconds
/// (`[system-]seconds.sequence`), or today when they are not plausible.
pub fn call_day(uniqueid: &str, now: DateTime<Utc>) -> NaiveDate {
    let secs = uniqueid
        .rsplit('-')
        .next()
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| (s - now.timestamp()).abs() <= PLAUSIBLE)
        .and_then(|s| DateTime::from_timestamp(s, 0));
    secs.unwrap_or(now).date_naive()
}

/// Asterisk's Uniqueids are safe as file names; anything else (a slash, a
/// dot start, 65+ characters) is refused rather than escaped.
fn safe_name(uniqueid: &str) -> bool {
    !uniqueid.is_empty()
        && uniqueid.len() <= 64
        && !uniqueid.starts_with('.')
        && uniqueid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Removes timeline files older than `days` days, and day directories
/// before the cut-off once empty; at most once per ten minutes per host
/// (a process that ends mid-sweep leaves the rest to the next one).
/// Only names of ours are touched: `YYYY-MM-DD/*.jsonl`.
pub fn sweep(dir: &Path, days: u32, now: DateTime<Utc>) {
    if !crate::util::marker::due(&dir.join(".swept"), SWEEP_EVERY) {
        return;
    }
    let keep = Duration::from_secs(u64::from(days) * 86_400);
    let cutoff_day = now.date_naive() - chrono::Days::new(u64::from(days));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for d in entries.flatten().take(10_000) {
        let name = d.file_name();
        let Some(day) = name
            .to_str()
            .and_then(|n| NaiveDate::parse_from_str(n, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if !d.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for f in files.flatten().take(1_000_000) {
            let path = f.path();
            let old = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > keep);
            if old && path.extension().is_some_and(|e| e == "jsonl") {
                std::fs::remove_file(&path).ok();
            }
        }
        // Only a day before the cut-off: today's may be empty for a moment
        // while a generator is about to create its file there.
        if day < cutoff_day {
            std::fs::remove_dir(d.path()).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::timeline::TimelineEvent;
    use std::sync::Arc;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_day_is_the_calls_start_from_its_uniqueid() {
        let now = at("2026-12-05T00:10:00Z");
        // Created 20 minutes before midnight: yesterday's file, also for a
        // generator respawned after midnight.
        let id = format!("{}.7", at("2026-12-04T23:50:00Z").timestamp());
        assert_eq!(call_day(&id, now).to_string(), "2026-12-04");
        assert_eq!(call_day(&format!("pbx1-{id}"), now).to_string(), "2026-12-04");
        // Not a plausible start: today.
        assert_eq!(call_day("1.1", now).to_string(), "2026-12-05");
        assert_eq!(call_day("abc", now).to_string(), "2026-12-05");
    }

    #[test]
    fn the_cap_writes_one_truncated_line_and_nothing_more() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = TimelineDir {
            dir: tmp.path().join("tl"),
            // Each line here is 40 bytes: three fit.
            max: 130,
            days: 30,
        };
        let now = Utc::now();
        let id = format!("{}.1", now.timestamp());
        let mut t = CallTimeline::open(&opts, Some(&id), now).unwrap();
        let pos = |t: f64, value: u32| Entry {
            t,
            event: TimelineEvent::Position { value },
        };
        t.write(&[pos(1.0, 4), pos(2.0, 3)]);
        t.write(&[pos(3.0, 2), pos(4.0, 1)]);
        t.write(&[pos(5.0, 1)]);
        assert!(crate::util::offload::flush(Duration::from_secs(30)));
        let text = std::fs::read_to_string(t.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&r#"{"t":4.0,"event":"truncated"}"#), "{text}");
        assert_eq!(lines.len(), 4, "{text}");
        // A respawned generator finds the file full: it adds nothing.
        let mut again = CallTimeline::open(&opts, Some(&id), now).unwrap();
        again.write(&[pos(6.0, 1)]);
        assert!(crate::util::offload::flush(Duration::from_secs(30)));
        assert_eq!(std::fs::read_to_string(t.path()).unwrap(), text);
    }

    #[test]
    fn two_writers_of_one_call_never_interleave_inside_a_line() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = TimelineDir {
            dir: tmp.path().join("tl"),
            max: 1 << 30,
            days: 30,
        };
        let now = Utc::now();
        let id = format!("{}.2", now.timestamp());
        // Two handles, each O_APPEND, as two generators of the call have.
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let mut t = CallTimeline::open(&opts, Some(&id), now).unwrap();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let batch: Vec<Entry> = (0..8)
                            .map(|k| Entry {
                                t: f64::from(i),
                                event: TimelineEvent::PromptStart {
                                    file: Arc::from(format!("writer-{w}-{}", "x".repeat(k * 40)).as_str()),
                                    queue: Arc::from("advice/first"),
                                },
                            })
                            .collect();
                        t.write(&batch);
                    }
                    t.path().to_path_buf()
                })
            })
            .collect();
        let paths: Vec<_> = writers.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(crate::util::offload::flush(Duration::from_secs(30)));
        let text = std::fs::read_to_string(&paths[0]).unwrap();
        let files: Vec<String> = text
            .lines()
            .map(|line| {
                let v: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
                v["file"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(files.len(), 2 * 500 * 8);
        // Each batch is one write: its eight lines stay together.
        for batch in files.chunks(8) {
            let writer = &batch[0][..8];
            for (k, f) in batch.iter().enumerate() {
                assert_eq!(f, &format!("{writer}-{}", "x".repeat(k * 40)));
            }
        }
    }

    #[test]
    fn no_uniqueid_or_a_strange_one_writes_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = TimelineDir {
            dir: tmp.path().join("tl"),
            max: 100,
            days: 30,
        };
        assert!(CallTimeline::open(&opts, None, Utc::now()).is_none());
        assert!(CallTimeline::open(&opts, Some("../x"), Utc::now()).is_none());
        assert!(!opts.dir.exists());
    }
}
