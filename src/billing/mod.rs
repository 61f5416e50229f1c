//! Balance lookups: a billing API over HTTP(S) or a local accounts file.
//! The engine asks (`Request::Balance`); a worker thread looks the caller
//! up and answers with an event, so the audio never waits for billing.
//! Answers are kept for the call; a failure is not, so a later press tries
//! again.

pub mod answer;
mod balance;
pub mod config;
mod file;
mod http;
pub mod php;

pub use balance::{Account, BalanceAnswer};
pub use config::{Auth, BillingConfig, Fields, Format, HttpConfig, Method, NumberRules, Secret, Source};
pub use http::{MAX_BODY, MAX_REDIRECTS, same_origin_redirects};

use std::sync::mpsc;

/// Looks a number up once, blocking (render, which runs on a virtual clock).
pub fn lookup_now(cfg: &BillingConfig, number: Option<&str>) -> BalanceAnswer {
    let mut w = Worker::new(cfg.clone(), number.map(str::to_string));
    w.answer()
}

/// The lookups of one call, on a thread started at the first request. Each
/// answer goes back wrapped in `T` (the caller's own message type: billing
/// knows nothing of the engine's events).
pub struct Lookups<T> {
    cfg: BillingConfig,
    number: Option<String>,
    answers: crate::util::bell::SyncSender<T>,
    wrap: fn(BalanceAnswer) -> T,
    asks: Option<mpsc::Sender<()>>,
}

impl<T: Send + 'static> Lookups<T> {
    pub fn new(
        cfg: BillingConfig,
        number: Option<String>,
        answers: crate::util::bell::SyncSender<T>,
        wrap: fn(BalanceAnswer) -> T,
    ) -> Lookups<T> {
        Lookups {
            cfg,
            number,
            answers,
            wrap,
            asks: None,
        }
    }

    /// Starts a lookup; its answer comes back through `answers`.
    /// Never blocks. (Callers block stop signals around the first call: the
    /// worker thread must not take them.)
    pub fn ask(&mut self) {
        if self.asks.is_none() {
            let (tx, rx) = mpsc::channel::<()>();
            let mut worker = Worker::new(self.cfg.clone(), self.number.clone());
            let (answers, wrap) = (self.answers.clone(), self.wrap);
            let span = tracing::Span::current();
            let spawned = std::thread::Builder::new().name("billing".into()).spawn(move || {
                let _g = span.enter();
                while rx.recv().is_ok() {
                    let a = worker.answer();
                    if answers.send(wrap(a)).is_err() {
                        break;
                    }
                }
            });
            match spawned {
                Ok(_) => self.asks = Some(tx),
                Err(e) => {
                    tracing::error!("cannot start the billing lookup: {e}");
                    self.answers.try_send((self.wrap)(BalanceAnswer::Failed)).ok();
                    return;
                }
            }
        }
        if let Some(tx) = &self.asks {
            tx.send(()).ok();
        }
    }
}

struct Worker {
    cfg: BillingConfig,
    number: Option<String>,
    /// Built at the first HTTP lookup: a thread with no billing costs nothing.
    rt: Option<(tokio::runtime::Runtime, reqwest::Client)>,
    cached: Option<BalanceAnswer>,
}

impl Worker {
    fn new(cfg: BillingConfig, number: Option<String>) -> Worker {
        Worker {
            cfg,
            number,
            rt: None,
            cached: None,
        }
    }

    fn answer(&mut self) -> BalanceAnswer {
        if let Some(a) = &self.cached {
            return a.clone();
        }
        let started = std::time::Instant::now();
        let result = self.lookup();
        let took = started.elapsed();
        let ms = took.as_millis() as u64;
        let outcome = match &result {
            Ok(BalanceAnswer::Accounts(_)) => "accounts",
            Ok(BalanceAnswer::None) => "none",
            Ok(BalanceAnswer::Failed) | Err(_) => "failed",
        };
        // For the hub's metrics, when there is one (see `metrics::send`).
        crate::metrics::send::send(&crate::metrics::report::Report::Billing {
            outcome,
            seconds: took.as_secs_f64(),
        });
        match result {
            Ok(a) => {
                let accounts = match &a {
                    BalanceAnswer::Accounts(v) => v.len(),
                    _ => 0,
                };
                tracing::info!(ms, accounts, "billing lookup done");
                self.cached = Some(a.clone());
                a
            }
            Err(why) => {
                tracing::warn!(ms, "billing lookup failed: {why}");
                BalanceAnswer::Failed
            }
        }
    }

    fn lookup(&mut self) -> Result<BalanceAnswer, String> {
        let raw = self.number.as_deref().ok_or("the caller's number is unknown")?;
        let number = self.cfg.number.apply(raw);
        if number.is_empty() {
            return Err("the caller's number is empty".into());
        }
        match &self.cfg.source {
            Source::File(path) => file::lookup(path, &number),
            Source::Http(h) => {
                if self.rt.is_none() {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("cannot start the billing runtime: {e}"))?;
                    let client = http::client(h)?;
                    self.rt = Some((rt, client));
                }
                let Some((rt, client)) = &self.rt else {
                    return Err("no billing client".into());
                };
                rt.block_on(http::lookup(client, h, &number))
            }
        }
    }
}

/// Checks what a playlist's billing needs at run time: the accounts file
/// parses, the secret can be read. For `holdmix check`.
pub fn check(cfg: &BillingConfig) -> Vec<String> {
    let mut problems = Vec::new();
    match &cfg.source {
        Source::File(p) => {
            if let Err(e) = file::read(p) {
                problems.push(e);
            }
        }
        Source::Http(h) => {
            if let Auth::Basic { secret, .. } | Auth::Bearer { secret } = &h.auth
                && let Err(e) = secret.read()
            {
                problems.push(e);
            }
        }
    }
    problems
}
