//! `holdmix report`: what callers heard, from the per-call timelines that
//! `run --timeline-dir` / `hub --timeline-dir` write
//! (`DIR/<YYYY-MM-DD>/<uniqueid>.jsonl`), joined when given with
//! Asterisk's `queue_log` (answered or abandoned, and the queue).
//!
//! Directories of any size are streamed: a file is read a line at a time
//! into a per-call summary ([`call`]), added to its groups ([`stats`]) and
//! dropped. Broken lines (a timeline's or queue_log's) are counted, the
//! first ones listed with file:line, and never stop the report. The text
//! is written by [`text`], the JSON is [`Report`] serialised (schema in
//! docs/report.md), the picture by `plot::report`.

pub mod call;
pub mod queue_log;
pub mod queue_log_db;
pub mod stats;
pub mod text;

use anyhow::{Context, Result};
use call::{CallSummary, LineReader};
use chrono::NaiveDate;
use queue_log::{Outcome, QueueCalls};
use serde::Serialize;
use stats::{End, Figures, Group};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The JSON's `schema` value; bumped when a field changes meaning or goes.
pub const SCHEMA: &str = "holdmix-report/1";
/// The `within` threshold the text spells out as a sentence (5 s).
pub const WITHIN_SENTENCE: usize = 0;
/// Broken lines listed by file:line (all are counted).
pub const MAX_LISTED: usize = 50;

/// How the groups are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// The UTC day the call started (its timeline's directory).
    Day,
    /// The queue queue_log names (`-` without queue_log).
    Queue,
    /// The hub's route for the call (its `route` line; `-` for calls
    /// without one: not through a hub with routes).
    Route,
}

/// Where the queue_log comes from.
#[derive(Debug, Clone)]
pub enum QueueLogSource {
    File(PathBuf),
    /// The realtime table.
    Db(queue_log_db::Db),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub queue_log: Option<QueueLogSource>,
    /// Days (UTC, the timelines' directories), inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub by: By,
}

/// The report (`--json` prints it as is).
#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub timeline_dir: String,
    /// The days asked for (`YYYY-MM-DD`, UTC), `null` when open.
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: By,
    /// `queue_log` (answered and abandoned told apart) or `timeline`
    /// (only a caller's hangup on hold is seen: counted as an abandon).
    pub outcome_source: &'static str,
    pub queue_log: Option<QueueLogFigures>,
    /// Timeline files read.
    pub files: u64,
    pub total: Figures,
    pub groups: Vec<Keyed>,
    pub broken: Broken,
}

#[derive(Debug, Serialize)]
pub struct QueueLogFigures {
    pub source: String,
    pub lines: u64,
    /// Lines of the events the report uses.
    pub used: u64,
    /// Calls it names in the period that have no timeline (callers who
    /// never heard holdmix, or whose timeline was swept).
    pub without_timeline: u64,
}

#[derive(Debug, Serialize)]
pub struct Keyed {
    pub key: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Default, Serialize)]
pub struct Broken {
    pub count: u64,
    /// The first [`MAX_LISTED`].
    pub lines: Vec<BrokenLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokenLine {
    pub file: String,
    /// 0: the file itself could not be read.
    pub line: u64,
    pub error: String,
}

impl Broken {
    fn add(&mut self, file: &Path, line: u64, error: String) {
        self.count += 1;
        if self.lines.len() < MAX_LISTED {
            self.lines.push(BrokenLine {
                file: file.display().to_string(),
                line,
                error,
            });
        }
    }
}

/// Reads the directory (and queue_log) and adds everything up. Errors
/// only when the directory itself cannot be listed or the queue_log
/// cannot be opened; everything else is a broken line.
pub fn report(opts: &Options) -> Result<Report> {
    let mut broken = Broken::default();
    let mut queue = match &opts.queue_log {
        Some(QueueLogSource::File(path)) => {
            Some((path.display().to_string(), read_queue_log(path, &mut broken)?))
        }
        Some(QueueLogSource::Db(db)) => {
            let shown = db.shown();
            let mut q = QueueCalls::default();
            queue_log_db::read(db, &mut q, |n, e| broken.add(Path::new(&shown), n, e))?;
            Some((shown, q))
        }
        None => None,
    };
    let mut total = Group::default();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut files = 0;
    for (day, dir) in days(&opts.dir, opts.from, opts.to)? {
        for path in call_files(&dir, &mut broken) {
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    broken.add(&path, 0, format!("cannot read: {e}"));
                    continue;
                }
            };
            files += 1;
            let summary = match call::read(BufReader::new(file), |b| {
                broken.add(&path, b.line, b.error.clone())
            }) {
                Ok(s) => s,
                Err(e) => {
                    broken.add(&path, 0, format!("cannot read: {e}"));
                    continue;
                }
            };
            let uniqueid = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let (end, queue_name) = match &mut queue {
                Some((_, q)) => match q.calls.remove(uniqueid) {
                    Some(c) => (c.outcome.map_or(End::Unknown, end_of), c.queue),
                    None => (End::Unknown, "-".to_string()),
                },
                None => (timeline_end(&summary), "-".to_string()),
            };
            let key = match opts.by {
                By::Day => day.to_string(),
                By::Queue => queue_name,
                By::Route => summary.route.clone().unwrap_or_else(|| "-".to_string()),
            };
            total.add(&summary, end);
            groups.entry(key).or_default().add(&summary, end);
        }
    }
    let queue_log = queue.map(|(source, q)| QueueLogFigures {
        source,
        lines: q.lines,
        used: q.used,
        without_timeline: q
            .calls
            .values()
            .filter(|c| {
                c.entered
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .is_some_and(|t| in_range(t.date_naive(), opts.from, opts.to))
            })
            .count() as u64,
    });
    Ok(Report {
        schema: SCHEMA,
        timeline_dir: opts.dir.display().to_string(),
        from: opts.from.map(|d| d.to_string()),
        to: opts.to.map(|d| d.to_string()),
        by: opts.by,
        outcome_source: if queue_log.is_some() {
            "queue_log"
        } else {
            "timeline"
        },
        queue_log,
        files,
        total: total.figures(),
        groups: groups
            .into_iter()
            .map(|(key, g)| Keyed {
                key,
                figures: g.figures(),
            })
            .collect(),
        broken,
    })
}

fn end_of(o: Outcome) -> End {
    match o {
        Outcome::Answered => End::Answered,
        Outcome::Abandoned => End::Abandoned,
        Outcome::Timeout => End::Timeout,
        Outcome::Key => End::Key,
        Outcome::Empty => End::Empty,
    }
}

/// Without queue_log: a caller's hangup on hold is an abandon; any other
/// end (the music stopped, for an agent or for a hangup Asterisk reported
/// later) cannot be told apart.
fn timeline_end(c: &CallSummary) -> End {
    match c.exit.as_deref() {
        Some("hangup") => End::Abandoned,
        _ => End::Unknown,
    }
}

fn in_range(day: NaiveDate, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t)
}

/// The day directories in range, oldest first (names of other shapes are
/// not ours and are passed over).
fn days(dir: &Path, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Vec<(NaiveDate, PathBuf)>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the timeline directory", dir.display()))?;
    let mut days: Vec<(NaiveDate, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let day = NaiveDate::parse_from_str(e.file_name().to_str()?, "%Y-%m-%d").ok()?;
            (in_range(day, from, to) && e.file_type().ok()?.is_dir()).then(|| (day, e.path()))
        })
        .collect();
    days.sort();
    Ok(days)
}

/// A day's `*.jsonl` files, sorted (names only are held: one day's).
fn call_files(dir: &Path, broken: &mut Broken) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            broken.add(dir, 0, format!("cannot read the day's directory: {e}"));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Reads a queue_log file a line at a time into per-call summaries.
fn read_queue_log(path: &Path, broken: &mut Broken) -> Result<QueueCalls> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open the queue_log", path.display()))?;
    let mut q = QueueCalls::default();
    let mut lines = LineReader::new(BufReader::new(file));
    let mut n = 0;
    while let Some(line) = lines
        .next_line()
        .with_context(|| format!("{}: cannot read the queue_log", path.display()))?
    {
        n += 1;
        let result = line.and_then(|l| {
            let text = std::str::from_utf8(l).map_err(|_| "not UTF-8 text".to_string())?;
            if text.trim().is_empty() {
                return Ok(());
            }
            q.add(text)
        });
        if let Err(e) = result {
            broken.add(path, n, e);
        }
    }
    Ok(q)
}
