//! What reaches the audio thread from elsewhere (keys, queue events,
//! billing answers, reloads, decoded sources) and what it asks of others
//! (lookups, redirects). Both are rare next to the ticks, so they live out
//! of line and are only looked at when the doorbell rang or the engine
//! asked: the tick's own code stays small (see [`crate::util::bell`]).

use super::reload::Reloaded;
use super::signals::unsignalled;
use crate::ami::client::Command;
use crate::audio::cache::Cache;
use crate::billing::{BalanceAnswer, BillingConfig, Lookups};
use crate::engine::{Engine, Event, EventKind, Request};
use crate::sources::{self, Loaded};
use crate::util::bell::{self, Bell};
use std::sync::mpsc;

pub struct Inbox<'a> {
    /// Rung by every channel below; a tick reads only this.
    pub bell: Bell,
    loaders: Vec<Loaded>,
    reloads: mpsc::Receiver<Reloaded>,
    /// Kept for the playlist's watchers and the event feed to clone.
    reload_tx: bell::Sender<Reloaded>,
    events: mpsc::Receiver<EventKind>,
    /// Keys and queue events (the event feed, AMI) and billing answers,
    /// all in one queue.
    event_tx: bell::SyncSender<EventKind>,
    billing_cfg: Option<BillingConfig>,
    billing: Option<Lookups<EventKind>>,
    /// The hold plan's asks (see [`crate::webhook`]), and what is sent
    /// with them of the call.
    plan_cfg: Option<crate::webhook::PlanConfig>,
    plan: Option<crate::webhook::Asker<EventKind>>,
    call: crate::webhook::Call,
    caller: Option<String>,
    /// No billing and no event feed: a lookup fails at once.
    answer_balance: bool,
    ami_tx: crate::ami::wake::Sender<Command>,
    /// A hosted call's commands go to its host instead (in-process).
    route: Option<Box<dyn Fn(Command) + Send>>,
    cache: &'a Cache,
    rate: u32,
    /// A hub hosts the call in-process: its loaders run on threads the
    /// hub keeps (`util::workers`: a reload of a playlist a thousand calls
    /// share starts a thousand).
    hosted: bool,
}

/// Events waiting between the reader threads and the audio thread.
const EVENT_CHANNEL: usize = 256;

impl<'a> Inbox<'a> {
    /// The audio thread's channels, made before the threads that write them,
    /// and the receiving end of what the call asks of Asterisk (redirects),
    /// for the session that carries it out (dropped when there is none, so
    /// nothing queues). `answer_balance`: no billing and no event feed, so a
    /// lookup fails at once. `hosted`: a hub hosts the call in-process and
    /// takes its commands so (`route_commands`), not a session.
    pub fn new(
        billing: Option<BillingConfig>,
        caller: Option<String>,
        answer_balance: bool,
        cache: &'a Cache,
        rate: u32,
        hosted: bool,
    ) -> (Inbox<'a>, crate::ami::wake::Receiver<Command>) {
        let bell = Bell::new();
        let (reload_tx, reloads) = bell.channel::<Reloaded>();
        let (event_tx, events) = bell.sync_channel(EVENT_CHANNEL);
        let (ami_tx, commands) = if hosted {
            crate::ami::wake::channel_without_bell()
        } else {
            crate::ami::wake::channel()
        };
        // Billing answers come back through the same queue as keys.
        let lookups = billing
            .clone()
            .map(|b| Lookups::new(b, caller.clone(), event_tx.clone(), EventKind::Balance));
        let inbox = Inbox {
            bell,
            loaders: Vec::new(),
            reloads,
            reload_tx,
            events,
            event_tx,
            billing_cfg: billing,
            billing: lookups,
            plan_cfg: None,
            plan: None,
            call: crate::webhook::Call::default(),
            caller,
            answer_balance,
            ami_tx,
            route: None,
            cache,
            rate,
            hosted,
        };
        (inbox, commands)
    }

    /// The playlist's hold plan and the call it is asked for (the caller's
    /// number is this inbox's, sent only while the identity is trusted).
    pub fn set_plan(&mut self, cfg: Option<crate::webhook::PlanConfig>, call: crate::webhook::Call) {
        self.call = crate::webhook::Call {
            caller: self.caller.clone(),
            ..call
        };
        self.plan = cfg.clone().map(|p| {
            crate::webhook::Asker::new(p, self.call.clone(), self.event_tx.clone(), EventKind::Plan)
        });
        self.plan_cfg = cfg;
    }

    /// Where new playlist versions go.
    pub fn reload_sender(&self) -> bell::Sender<Reloaded> {
        self.reload_tx.clone()
    }

    /// Where what the call asks of Asterisk or tells the hub goes.
    pub fn command_sender(&self) -> crate::ami::wake::Sender<Command> {
        self.ami_tx.clone()
    }

    /// The call's commands (its redirects) go to `to` rather than to the
    /// receiver [`Inbox::new`] returned: the hub hosting the call.
    pub fn route_commands(&mut self, to: Box<dyn Fn(Command) + Send>) {
        self.route = Some(to);
    }

    /// Where keys and queue events go.
    pub fn event_sender(&self) -> bell::SyncSender<EventKind> {
        self.event_tx.clone()
    }

    /// A loader thread whose sources are to be handed to the engine.
    pub fn add_loader(&mut self, loader: Option<Loaded>) {
        self.loaders.extend(loader);
    }

    #[cold]
    #[inline(never)]
    pub fn take_mail(&mut self, engine: &mut Engine) {
        self.loaders.retain(|l| sources::take_loaded(l, engine));
        for r in self.reloads.try_iter() {
            match r {
                Ok(s) => {
                    if s.billing != self.billing_cfg {
                        self.billing_cfg = s.billing.clone();
                        self.billing = self.billing_cfg.clone().map(|b| {
                            Lookups::new(b, self.caller.clone(), self.event_tx.clone(), EventKind::Balance)
                        });
                    }
                    if s.plan != self.plan_cfg {
                        self.plan_cfg = s.plan.clone();
                        self.plan = self.plan_cfg.clone().map(|p| {
                            crate::webhook::Asker::new(
                                p,
                                self.call.clone(),
                                self.event_tx.clone(),
                                EventKind::Plan,
                            )
                        });
                    }
                    let added = engine.reload(&s);
                    let (cache, rate, bell, hosted) = (self.cache, self.rate, &self.bell, self.hosted);
                    self.loaders.extend(unsignalled(|| {
                        sources::spawn_loader(engine.library(), added, cache, rate, bell, hosted)
                    }));
                }
                Err(reason) => engine.reload_refused(&reason),
            }
        }
        for kind in self.events.try_iter() {
            let at = engine.now();
            engine.push(Event { at, kind });
        }
    }

    #[cold]
    #[inline(never)]
    pub fn serve_requests(&mut self, engine: &mut Engine) {
        for r in engine.take_requests().collect::<Vec<_>>() {
            match r {
                Request::Balance if self.billing.is_some() => {
                    if let Some(b) = &mut self.billing {
                        // The lookup thread must not take the stop signals.
                        unsignalled(|| b.ask());
                    }
                }
                Request::Balance if self.answer_balance => {
                    let at = engine.now();
                    engine.push(Event {
                        at,
                        kind: EventKind::Balance(BalanceAnswer::Failed),
                    });
                }
                Request::Balance => {}
                // Nobody listens without --ami: the redirect is in the timeline only.
                Request::Redirect(to) => match &self.route {
                    Some(route) => route(Command::Redirect(to)),
                    None => {
                        self.ami_tx.send(Command::Redirect(to)).ok();
                    }
                },
                Request::Plan(ask) => match &mut self.plan {
                    // The ask thread must not take the stop signals.
                    Some(p) => unsignalled(|| p.ask(ask)),
                    None => {
                        let at = engine.now();
                        engine.push(Event {
                            at,
                            kind: EventKind::Plan(Err("no [plan] in the playlist".into())),
                        });
                    }
                },
            }
        }
    }
}
