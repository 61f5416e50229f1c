//! Which route the hub picked for each call, written into the call's
//! timeline (`hub --routes … --timeline-dir DIR`) as a `route` line, so
//! `holdmix report --by route` can split the calls. The generator is not
//! told its route: the row has no bytes to spare (see `row`).
//!
//! The lookup must not wait for a disk: it hands the pair to one writer
//! thread through a bounded queue, and a full queue drops the line (logged
//! at most once a minute, `util::ratelimit`) rather than slow Asterisk's lookup.

use crate::engine::timeline::{Entry, TimelineEvent};
use crate::run::timeline_file::{CallTimeline, TimelineDir};
use crate::util::ratelimit::{Limiter, WINDOW};
use std::sync::Arc;
use std::sync::mpsc::{TrySendError, sync_channel};

/// Lines waiting for the writer; past this the newest are dropped.
const QUEUE: usize = 4096;

/// What the row template calls with (Uniqueid, route name).
pub type RouteLogFn = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Starts the writer for `dir`; the returned function queues a line.
pub fn spawn(dir: TimelineDir) -> std::io::Result<RouteLogFn> {
    let (tx, rx) = sync_channel::<(String, Arc<str>)>(QUEUE);
    std::thread::Builder::new()
        .name("route-log".into())
        .spawn(move || {
            static FAILED: Limiter = Limiter::new(WINDOW);
            for (uniqueid, name) in rx {
                let entry = Entry {
                    t: 0.0,
                    event: TimelineEvent::Route { name },
                };
                match CallTimeline::open_quietly(&dir, &uniqueid, chrono::Utc::now()) {
                    Ok(mut file) => file.write(std::slice::from_ref(&entry)),
                    Err(e) => {
                        if let Some(more) = FAILED.check() {
                            tracing::warn!("the call's route is not written to its timeline: {e}{more}");
                        }
                    }
                }
            }
        })?;
    Ok(Arc::new(move |uniqueid: &str, route: &str| {
        static DROPPED: Limiter = Limiter::new(WINDOW);
        if let Err(TrySendError::Full(_)) = tx.try_send((uniqueid.to_string(), Arc::from(route)))
            && let Some(more) = DROPPED.check()
        {
            tracing::warn!("{QUEUE} route lines waiting for the disk: dropping new ones{more}");
        }
    }))
}
