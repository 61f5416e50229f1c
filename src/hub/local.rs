//! A call this hub hosts (`hub --audio`) follows its events in-process:
//! greeted from the call table with the facts a socket's generator gets
//! (held the same way, on the call's preparation thread: never the pacing
//! thread's or the accept loop's time), subscribed to the fan-out with a
//! function of its own instead of a socket (no thread, no second parse),
//! and its redirects go straight to the AMI session. The subscription
//! ends with the call, however it ends: it is removed when its
//! [`Subscribed`] is dropped.

use super::calls::{SharedCalls, hold_greeting};
use super::protocol::{Greeting, Redirect};
use super::session::RedirectAsk;
use super::subscribers::{Sink, Subscriber, Subscribers, next_id};
use crate::ami::codec::Message;
use crate::ami::wake::Sender;
use crate::control::Target;
use std::sync::Arc;
use std::time::Instant;

/// What the hub shares with the calls it hosts.
pub(super) struct Shared {
    pub subs: Subscribers,
    pub calls: SharedCalls,
    pub redirects: Sender<RedirectAsk>,
    /// When the hub started (greetings wait for its rebuilt view).
    pub started: Instant,
}

/// A hosted call's way to its hub, given when its hand-over is taken: for
/// the Uniqueid its token proved, and no other.
pub struct Local {
    shared: Arc<Shared>,
    uniqueid: String,
}

impl Local {
    pub(super) fn new(shared: Arc<Shared>, uniqueid: String) -> Local {
        Local { shared, uniqueid }
    }

    /// The call's Uniqueid (the one its token proved).
    pub fn uniqueid(&self) -> &str {
        &self.uniqueid
    }

    /// Greets the call and subscribes it to its messages: `greeted` makes
    /// what takes them from the greeting (see [`super::subscribers::Deliver`]:
    /// it runs on the AMI thread and must not block). Waits first as a socket's greeting waits (for the hub's
    /// lists after its start, for a call not seen yet): call it off the
    /// pacing thread. Greeting and subscription are one step under the
    /// fan-out's locks: every message is in the greeting or delivered
    /// after it, never both, never neither.
    pub fn subscribe<D>(&self, greeted: impl FnOnce(&Greeting) -> D) -> (Greeting, Subscribed)
    where
        D: FnMut(&Message) -> bool + Send + 'static,
    {
        let s = &self.shared;
        hold_greeting(&s.calls, s.started, &self.uniqueid);
        let id = next_id();
        let hello = {
            let mut list = s.subs.lock().unwrap_or_else(|e| e.into_inner());
            let hello = s
                .calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .greeting(&self.uniqueid);
            list.push(Subscriber {
                sink: Sink::Local {
                    deliver: Box::new(greeted(&hello)),
                    control: None,
                },
                id,
                uniqueid: self.uniqueid.clone(),
                queue: (!hello.queue.is_empty()).then(|| hello.queue.clone()),
            });
            hello
        };
        tracing::debug!(uniqueid = %self.uniqueid, "hosted call subscribed in-process");
        let sub = Subscribed {
            shared: s.clone(),
            id,
            uniqueid: self.uniqueid.clone(),
            _counted: crate::metrics::get().generator_connected(),
        };
        (hello, sub)
    }
}

/// A hosted call's subscription, counted in `generators_connected` and
/// removed from the fan-out when dropped.
pub struct Subscribed {
    shared: Arc<Shared>,
    id: u64,
    uniqueid: String,
    _counted: crate::metrics::Connected,
}

impl Subscribed {
    /// The call streams: the hub's control socket asks `target` for it.
    pub fn set_control(&self, target: Arc<dyn Target>) {
        let mut list = self.shared.subs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Subscriber {
            sink: Sink::Local { control, .. },
            ..
        }) = list.iter_mut().find(|s| s.id == self.id)
        {
            *control = Some(target);
        }
    }

    /// Redirects the call's own channel (as a socket's `REDIRECT` line).
    pub fn redirect(&self, to: Redirect) {
        tracing::info!(context = %to.context, exten = %to.exten, "caller redirected (by the hub hosting the call)");
        RedirectAsk::send_for(&self.uniqueid, to, &self.shared.calls, &self.shared.redirects);
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        let mut list = self.shared.subs.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|s| s.id != self.id);
    }
}
