//! A hosted call's side of the hub (`hub --audio`), in-process: the hub's
//! greeting and the call's messages are turned into engine events by the
//! call's own [`ChannelWatch`], on the hub's AMI thread, and handed to
//! the call's inbox with `try_send` (never a wait on that thread). Until
//! the call streams (it is being prepared: it has no inbox yet), what the
//! events meant waits here, bounded.
//!
//! A full inbox (the pacing thread has not taken [`WAITING`] events) drops
//! the event that does not fit, and only it: the subscription stays (a
//! socket's generator is cut off and comes back with a fresh greeting; a
//! hosted call has no thread to come back with). The caller then misses
//! that key or that announcement of a place; the watch keeps the place, so
//! the next change says the right number. A dropped end of the call
//! (`Hangup`) is not lost for good: Asterisk then stops the call's client,
//! which stops the call.

use super::super::local::{Local, Subscribed};
use super::super::protocol::{Greeting, Known};
use super::Subscription;
use crate::ami::channel_watch::ChannelWatch;
use crate::ami::codec::Message;
use crate::control::relay::Inbound;
use crate::engine::EventKind;
use crate::util::bell::SyncSender;
use crate::util::ratelimit::{Limiter, WINDOW};
use std::sync::mpsc::TrySendError;
use std::sync::{Arc, Mutex, MutexGuard};

/// Events kept for a call not streaming yet (its inbox holds as many).
const WAITING: usize = 256;

/// A hosted call's subscription and what its events meant so far.
pub(super) struct Hosted {
    feed: Arc<Mutex<Feed>>,
    /// Shared with the call's command route (`HubLink::commands`): the
    /// subscription ends when both are gone.
    pub sub: Arc<Subscribed>,
}

struct Feed {
    watch: ChannelWatch,
    /// The call's inbox, once it streams.
    to: Option<SyncSender<EventKind>>,
    /// Until then, the events for it.
    waiting: Vec<EventKind>,
}

fn lock(feed: &Mutex<Feed>) -> MutexGuard<'_, Feed> {
    feed.lock().unwrap_or_else(|e| e.into_inner())
}

/// Greets the call `local` and subscribes it, on the preparation thread
/// (the greeting may be held: see `hub::local`). `channel`: the channel
/// to follow besides its Uniqueid (as a generator's `--channel`).
pub(super) fn subscribe(local: &Local, channel: Option<&str>) -> (Subscription, Hosted) {
    let feed = Arc::new(Mutex::new(Feed {
        watch: ChannelWatch::new(channel, Some(local.uniqueid())),
        to: None,
        waiting: Vec::new(),
    }));
    let (hello, sub) = local.subscribe(|hello: &Greeting| {
        // Under the fan-out's lock: the greeting's place is the watch's
        // before any message moves it.
        lock(&feed).greeted(hello);
        let feed = feed.clone();
        move |m: &Message| lock(&feed).take(m)
    });
    if hello.known == Known::No {
        // Started for a call that ended (Asterisk can start a generator
        // after the stop that should have cancelled it).
        tracing::warn!(uniqueid = %local.uniqueid(), "no such call on Asterisk: the call is over, exiting");
    }
    let hosted = Hosted {
        feed,
        sub: Arc::new(sub),
    };
    (Subscription::greeted(hello, Vec::new()), hosted)
}

impl Hosted {
    /// The call streams: its events go to `tx` from now on, after its
    /// identity's word (first, as a generator's follower says it) and the
    /// events that waited. Its control target is the hub's to ask.
    pub(super) fn attach(
        self,
        verified: bool,
        sub: &Subscription,
        tx: SyncSender<EventKind>,
        control: Option<Inbound>,
    ) {
        if let Some(c) = &control {
            c.learn(&sub.channel, &sub.caller, &sub.queue, &sub.route);
            if let Some(target) = c.target() {
                self.sub.set_control(target);
            }
        }
        let mut f = lock(&self.feed);
        for e in std::iter::once(EventKind::Identity(verified)).chain(f.waiting.drain(..)) {
            if tx.try_send(e).is_err() {
                dropped();
            }
        }
        f.to = Some(tx);
    }
}

impl Feed {
    /// What the greeting says: the queue, its size and the caller's place
    /// (the engine has them at its first frame), the channel's language,
    /// or that the call is over.
    fn greeted(&mut self, hello: &Greeting) {
        self.watch.set_queue(&hello.queue);
        if let Some(n) = hello.count {
            self.watch.set_size_known(n);
        }
        let known = hello.position.and_then(|p| self.watch.set_position_known(p));
        let size = self.watch.size_news();
        size.into_iter().chain(known).for_each(|e| {
            self.put(e);
        });
        if !hello.language.is_empty() {
            self.put(EventKind::Language(hello.language.clone()));
        }
        if hello.known == Known::No {
            self.put(EventKind::Hangup);
        }
    }

    /// One message for the call (false: the call is over, unsubscribe).
    fn take(&mut self, m: &Message) -> bool {
        for e in self.watch.events(m) {
            let over = e.ends_stream();
            if !self.put(e) || over {
                return false;
            }
        }
        true
    }

    /// Hands `e` on, or keeps it until the call streams; false once the
    /// call's inbox is gone.
    fn put(&mut self, e: EventKind) -> bool {
        match &self.to {
            Some(tx) => match tx.try_send(e) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    dropped();
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
            None if self.waiting.len() < WAITING => {
                self.waiting.push(e);
                true
            }
            None => {
                dropped();
                true
            }
        }
    }
}

/// An event a hosted call did not take in time (see the module).
fn dropped() {
    static DROPPED: Limiter = Limiter::new(WINDOW);
    if let Some(more) = DROPPED.check() {
        tracing::warn!("a hosted call's inbox is full: an event dropped{more}");
    }
}
