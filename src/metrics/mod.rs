//! The hub's Prometheus metrics (`hub --metrics HOST:PORT`, issue 20): what
//! the hub sees itself (calls on hold, generators connected, realtime
//! lookups, its AMI session) and what its generators report over the hub
//! socket ([`report`]: starts, resumes, exits, keys, prompts, stalls,
//! store errors, billing lookups). docs/metrics.md lists every series.
//!
//! The counters are process-wide, as a hub is one per process: one
//! registry ([`get`]) that the hub's threads count into, rather than a
//! handle passed through every constructor from the socket to the
//! realtime server. A generator's side is [`send`]: it counts nothing
//! itself, it sends each report to its hub, off the audio thread. The
//! scrape is served by [`serve`].
//!
//! Every label value comes from a fixed set (prompt queues: a fixed shape,
//! at most [`MAX_PROMPT_QUEUES`] of them): series are bounded whatever a
//! client sends.

pub mod report;
pub mod send;
pub mod serve;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use report::Report;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// A series' one label, its name fixed and its value from a fixed set.
type Label = [(&'static str, String); 1];
type Histograms = Family<Label, Histogram, fn() -> Histogram>;

/// Prompt queues with a series of their own; more count as `other`.
pub const MAX_PROMPT_QUEUES: usize = 64;

/// The hub's metrics.
pub struct Metrics {
    registry: Registry,
    on_hold: Gauge,
    connected: Gauge,
    ami_connected: Gauge,
    starts: Counter,
    resumes: Counter,
    stalls: Counter,
    reconnects: Counter,
    ignored: Counter,
    exits: Family<Label, Counter>,
    keys: Family<Label, Counter>,
    prompts: Family<Label, Counter>,
    store_errors: Family<Label, Counter>,
    billing: Histograms,
    realtime: Histograms,
    /// Prompt queues with a series already (bounded).
    queues: Mutex<HashSet<String>>,
    /// The AMI session logged in once: each login after it is a reconnect.
    logged_in: AtomicBool,
}

/// The hub's registry: counted into from any thread of the process.
pub fn get() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Realtime lookups are answered from memory: tens of microseconds.
fn realtime_buckets() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    ])
}

/// Billing lookups go over HTTP: tens of milliseconds to its timeouts.
fn billing_buckets() -> Histogram {
    Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

fn label(key: &'static str, value: &str) -> Label {
    [(key, value.to_string())]
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("holdmix");
        let m = Metrics {
            registry: Registry::default(),
            on_hold: Gauge::default(),
            connected: Gauge::default(),
            ami_connected: Gauge::default(),
            starts: Counter::default(),
            resumes: Counter::default(),
            stalls: Counter::default(),
            reconnects: Counter::default(),
            ignored: Counter::default(),
            exits: Family::default(),
            keys: Family::default(),
            prompts: Family::default(),
            store_errors: Family::default(),
            billing: Family::new_with_constructor(billing_buckets),
            realtime: Family::new_with_constructor(realtime_buckets),
            queues: Mutex::new(HashSet::new()),
            logged_in: AtomicBool::new(false),
        };
        r.register(
            "calls_on_hold",
            "Calls Asterisk has on hold now (MusicOnHoldStart without its stop or hangup)",
            m.on_hold.clone(),
        );
        r.register(
            "generators_connected",
            "Generators subscribed to the hub now",
            m.connected.clone(),
        );
        r.register(
            "ami_connected",
            "1 while the hub's AMI session is logged in",
            m.ami_connected.clone(),
        );
        r.register(
            "ami_reconnects",
            "AMI logins after the first",
            m.reconnects.clone(),
        );
        r.register(
            "realtime_lookup_seconds",
            "Realtime class lookups answered, by answer (row, empty), and how long each took",
            m.realtime.clone(),
        );
        r.register(
            "generator_starts",
            "Generators that started streaming",
            m.starts.clone(),
        );
        r.register(
            "generator_resumes",
            "Generators that took up a call an earlier one played",
            m.resumes.clone(),
        );
        r.register(
            "generator_exits",
            "Generators that ended, by reason",
            m.exits.clone(),
        );
        r.register("keys", "Keys pressed, by action", m.keys.clone());
        r.register("prompts", "Prompts started, by speaker queue", m.prompts.clone());
        r.register(
            "reader_stalls",
            "Stalls of a generator's reader (at most one a minute per generator)",
            m.stalls.clone(),
        );
        r.register(
            "store_errors",
            "Failures of the callers' store, by operation (load, write)",
            m.store_errors.clone(),
        );
        r.register(
            "billing_lookup_seconds",
            "Billing lookups, by outcome (accounts, none, failed), and how long each took",
            m.billing.clone(),
        );
        r.register(
            "reports_ignored",
            "Report lines from generators that were not valid reports",
            m.ignored.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// The OpenMetrics text of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a generator's report line; a line that is not a report is
    /// counted as ignored, and nothing else.
    pub fn report_line(&self, line: &str) {
        match Report::parse(line) {
            Some(r) => self.report(&r),
            None => {
                self.ignored.inc();
            }
        }
    }

    /// Counts a generator's report.
    pub fn report(&self, r: &Report) {
        match r {
            Report::Start => {
                self.starts.inc();
            }
            Report::Resume => {
                self.resumes.inc();
            }
            Report::Stall => {
                self.stalls.inc();
            }
            Report::Exit(reason) => {
                self.exits.get_or_create(&label("reason", reason)).inc();
            }
            Report::Key(action) => {
                self.keys.get_or_create(&label("action", action)).inc();
            }
            Report::Prompt(queue) => {
                let queue = self.bounded_queue(queue);
                self.prompts.get_or_create(&label("queue", &queue)).inc();
            }
            Report::StoreError(op) => {
                self.store_errors.get_or_create(&label("op", op)).inc();
            }
            Report::Billing { outcome, seconds } => {
                self.billing
                    .get_or_create(&label("outcome", outcome))
                    .observe(*seconds);
            }
        }
    }

    /// `queue`, or `other` once [`MAX_PROMPT_QUEUES`] others have series.
    fn bounded_queue(&self, queue: &str) -> String {
        let mut seen = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(queue) {
            return queue.to_string();
        }
        if seen.len() < MAX_PROMPT_QUEUES {
            seen.insert(queue.to_string());
            return queue.to_string();
        }
        "other".to_string()
    }

    /// A realtime lookup was answered (`row`: with a class's row).
    pub fn realtime_lookup(&self, row: bool, took: Duration) {
        let answer = if row { "row" } else { "empty" };
        self.realtime
            .get_or_create(&label("answer", answer))
            .observe(took.as_secs_f64());
    }

    /// The hub's AMI session logged in (a reconnect, after the first).
    pub fn ami_up(&self) {
        if self.logged_in.swap(true, Ordering::Relaxed) {
            self.reconnects.inc();
        }
        self.ami_connected.set(1);
    }

    /// The hub's AMI session ended (or an attempt failed).
    pub fn ami_down(&self) {
        self.ami_connected.set(0);
    }

    /// Calls on hold now, as the hub's call table counts them.
    pub fn set_on_hold(&self, n: usize) {
        self.on_hold.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A generator subscribed; it counts until the guard is dropped.
    pub fn generator_connected(&self) -> Connected {
        self.connected.inc();
        Connected(self.connected.clone())
    }
}

/// A subscribed generator, counted in `generators_connected` while it lives.
pub struct Connected(Gauge);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series `name` (with its labels, as encoded).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn reports_move_their_series_and_bad_lines_only_the_ignored_count() {
        let m = Metrics::new();
        m.report_line("COUNT exit reason=hangup");
        m.report_line("COUNT exit reason=hangup");
        m.report_line("COUNT key action=next-music");
        m.report_line("OBSERVE billing outcome=none 0.2");
        m.report_line("COUNT made_up x=1");
        m.report_line(&format!("COUNT prompt queue=advice/{}", "x".repeat(5000)));
        let text = m.encode();
        assert_eq!(
            value(&text, "holdmix_generator_exits_total{reason=\"hangup\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(&text, "holdmix_keys_total{action=\"next-music\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "holdmix_billing_lookup_seconds_count{outcome=\"none\"}"),
            Some(1.0)
        );
        assert_eq!(value(&text, "holdmix_reports_ignored_total"), Some(2.0));
        assert!(!text.contains("made_up") && !text.contains("xxxxx"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn prompt_queues_past_the_bound_share_one_series() {
        let m = Metrics::new();
        for i in 0..MAX_PROMPT_QUEUES + 20 {
            m.report(&Report::Prompt(format!("advice/g{i}")));
        }
        m.report(&Report::Prompt("advice/g0".into()));
        let text = m.encode();
        let series = text
            .lines()
            .filter(|l| l.starts_with("holdmix_prompts_total{"))
            .count();
        assert_eq!(series, MAX_PROMPT_QUEUES + 1, "{text}");
        assert_eq!(value(&text, "holdmix_prompts_total{queue=\"other\"}"), Some(20.0));
        assert_eq!(
            value(&text, "holdmix_prompts_total{queue=\"advice/g0\"}"),
            Some(2.0)
        );
    }

    #[test]
    fn the_first_login_is_not_a_reconnect() {
        let m = Metrics::new();
        m.ami_up();
        m.ami_down();
        m.ami_up();
        let text = m.encode();
        assert_eq!(value(&text, "holdmix_ami_reconnects_total"), Some(1.0));
        assert_eq!(value(&text, "holdmix_ami_connected"), Some(1.0));
        let g = m.generator_connected();
        assert_eq!(value(&m.encode(), "holdmix_generators_connected"), Some(1.0));
        drop(g);
        assert_eq!(value(&m.encode(), "holdmix_generators_connected"), Some(0.0));
    }
}
