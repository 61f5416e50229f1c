//! Hold plans from a webhook: the call's plan is asked of an HTTP(S)
//! endpoint (Twilio's `<Enqueue waitUrl>`, done the holdmix way: prompts
//! ducked over music that never stops, resumed across respawns). The
//! engine asks (`Request::Plan`); a worker thread posts the ask and answers
//! with an event, so the audio never waits for the network; `render` asks
//! at its virtual time ([`ask_now`]). Like `billing`, this module knows
//! nothing of the engine: answers go back wrapped in the caller's type.
//!
//! `config`: the `[plan]` table's values; `request`: what an ask sends;
//! `answer`: what a server may answer, checked; `http`: one exchange.

pub mod answer;
pub mod config;
mod http;
pub mod request;

pub use answer::{Item, Plan, PlanAnswer, Say, SayPart};
pub use config::PlanConfig;
pub use request::{Ask, Call, Trigger};

use crate::util::ratelimit::{Limiter, WINDOW};
use std::sync::mpsc;

/// Failed asks log one line a minute (the count of the others with it).
static FAILED: Limiter = Limiter::new(WINDOW);

/// Asks once, blocking (render, which runs on a virtual clock).
pub fn ask_now(cfg: &PlanConfig, call: &Call, ask: &Ask) -> PlanAnswer {
    Worker::new(cfg.clone(), call.clone()).answer(ask)
}

/// The asks of one call, on a thread started at the first. Each answer
/// goes back wrapped in `T`. The engine never has two asks out at once;
/// were it to, they would queue here, one exchange at a time.
pub struct Asker<T> {
    cfg: PlanConfig,
    call: Call,
    answers: crate::util::bell::SyncSender<T>,
    wrap: fn(PlanAnswer) -> T,
    asks: Option<mpsc::Sender<Ask>>,
}

impl<T: Send + 'static> Asker<T> {
    pub fn new(
        cfg: PlanConfig,
        call: Call,
        answers: crate::util::bell::SyncSender<T>,
        wrap: fn(PlanAnswer) -> T,
    ) -> Asker<T> {
        Asker {
            cfg,
            call,
            answers,
            wrap,
            asks: None,
        }
    }

    /// Starts an ask; its answer comes back through `answers`. Never
    /// blocks. (Callers block stop signals around it: the worker thread
    /// must not take them.)
    pub fn ask(&mut self, ask: Ask) {
        if self.asks.is_none() {
            let (tx, rx) = mpsc::channel::<Ask>();
            let mut worker = Worker::new(self.cfg.clone(), self.call.clone());
            let (answers, wrap) = (self.answers.clone(), self.wrap);
            let span = tracing::Span::current();
            let spawned = std::thread::Builder::new().name("plan".into()).spawn(move || {
                let _g = span.enter();
                while let Ok(ask) = rx.recv() {
                    if answers.send(wrap(worker.answer(&ask))).is_err() {
                        break;
                    }
                }
            });
            match spawned {
                Ok(_) => self.asks = Some(tx),
                Err(e) => {
                    self.answers
                        .try_send((self.wrap)(Err(format!("cannot start the plan worker: {e}"))))
                        .ok();
                    return;
                }
            }
        }
        if let Some(tx) = &self.asks {
            tx.send(ask).ok();
        }
    }
}

struct Worker {
    cfg: PlanConfig,
    call: Call,
    /// Built at the first ask.
    rt: Option<(tokio::runtime::Runtime, reqwest::Client)>,
}

impl Worker {
    fn new(cfg: PlanConfig, call: Call) -> Worker {
        Worker { cfg, call, rt: None }
    }

    fn answer(&mut self, ask: &Ask) -> PlanAnswer {
        let started = std::time::Instant::now();
        let result = self.exchange(ask);
        let ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(p) => tracing::info!(
                ms,
                items = p.items.len(),
                trigger = ask.trigger.name(),
                "plan answered"
            ),
            Err(why) => {
                if let Some(more) = FAILED.check() {
                    tracing::warn!(ms, "plan ask failed: {why}; the playlist goes on{more}");
                }
            }
        }
        result
    }

    fn exchange(&mut self, ask: &Ask) -> PlanAnswer {
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the plan runtime: {e}"))?;
            self.rt = Some((rt, http::client(&self.cfg)?));
        }
        let Some((rt, client)) = &self.rt else {
            return Err("no plan client".into());
        };
        let body = request::body(ask, &self.call).to_string().into_bytes();
        rt.block_on(http::ask(client, &self.cfg, body))
    }
}
