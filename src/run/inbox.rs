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
    pub bell: Bell,
    loaders: Vec<Loaded>,
    reloads: mpsc::Receiver<Reloaded>,
    events: mpsc::Receiver<EventKind>,
    billing_cfg: Option<BillingConfig>,
    billing: Option<Lookups<EventKind>>,
    caller: Option<String>,
    billing_tx: bell::SyncSender<EventKind>,
    /// No billing and no event feed: a lookup fails at once.
    answer_balance: bool,
    ami_tx: mpsc::Sender<Command>,
    cache: &'a Cache,
    rate: u32,
}

/// The channels an [`Inbox`] reads, made before the threads that write them.
pub struct Mailboxes {
    pub bell: Bell,
    pub reloads: (bell::Sender<Reloaded>, mpsc::Receiver<Reloaded>),
    pub events: (bell::SyncSender<EventKind>, mpsc::Receiver<EventKind>),
    pub commands: (mpsc::Sender<Command>, mpsc::Receiver<Command>),
}

/// Events waiting between the reader threads and the audio thread.
const EVENT_CHANNEL: usize = 256;

impl Mailboxes {
    pub fn new() -> Mailboxes {
        let bell = Bell::new();
        let reloads = bell.channel::<Reloaded>();
        // Keys and queue events, from the event feed and from AMI, in one queue.
        let events = bell.sync_channel(EVENT_CHANNEL);
        Mailboxes {
            bell,
            reloads,
            events,
            commands: mpsc::channel(),
        }
    }
}

/// What the inbox needs besides its channels.
pub struct InboxParts<'a> {
    pub billing: Option<BillingConfig>,
    pub caller: Option<String>,
    /// No billing and no event feed: a lookup fails at once.
    pub answer_balance: bool,
    pub cache: &'a Cache,
    pub rate: u32,
    pub loaders: Vec<Loaded>,
}

impl<'a> Inbox<'a> {
    pub fn new(
        bell: Bell,
        reloads: mpsc::Receiver<Reloaded>,
        events: (bell::SyncSender<EventKind>, mpsc::Receiver<EventKind>),
        ami_tx: mpsc::Sender<Command>,
        parts: InboxParts<'a>,
    ) -> Inbox<'a> {
        let (billing_tx, events) = events;
        // Billing answers come back through the same queue as keys.
        let billing = parts
            .billing
            .clone()
            .map(|b| Lookups::new(b, parts.caller.clone(), billing_tx.clone(), EventKind::Balance));
        Inbox {
            bell,
            loaders: parts.loaders,
            reloads,
            events,
            billing_cfg: parts.billing,
            billing,
            caller: parts.caller,
            billing_tx,
            answer_balance: parts.answer_balance,
            ami_tx,
            cache: parts.cache,
            rate: parts.rate,
        }
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
                            Lookups::new(
                                b,
                                self.caller.clone(),
                                self.billing_tx.clone(),
                                EventKind::Balance,
                            )
                        });
                    }
                    let added = engine.reload(&s);
                    let (cache, rate, bell) = (self.cache, self.rate, &self.bell);
                    self.loaders.extend(unsignalled(|| {
                        sources::spawn_loader(engine.library(), added, cache, rate, bell)
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
                Request::Redirect(to) => {
                    self.ami_tx.send(Command::Redirect(to)).ok();
                }
            }
        }
    }
}
