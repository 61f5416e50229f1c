//! Which route the hub picked for each call, written into the call's
//! timeline (`hub --routes … --timeline-dir DIR`) as a `route` line, so
//! `holdmix report --by route` can split the calls. The generator is not
//! told its route: the row has no bytes to spare (see `row`).
//!
//! The lookup must not wait for a disk: it hands the pair to one writer
//! thread through a bounded queue, and a full queue drops the line (logged
//! once a minute) rather than slow Asterisk's lookup.

use crate::engine::timeline::{Entry, TimelineEvent};
use crate::run::timeline_file::{CallTimeline, TimelineDir};
use std::sync::Arc;
use std::sync::mpsc::{TrySendError, sync_channel};
use std::time::{Duration, Instant};

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
            let mut warned: Option<Instant> = None;
            for (uniqueid, name) in rx {
                let entry = Entry {
                    t: 0.0,
                    event: TimelineEvent::Route { name },
                };
                match CallTimeline::open_quietly(&dir, &uniqueid, chrono::Utc::now()) {
                    Ok(mut file) => file.write(std::slice::from_ref(&entry)),
                    Err(e) => {
                        if warned.is_none_or(|w| w.elapsed() >= Duration::from_secs(60)) {
                            tracing::warn!("the call's route is not written to its timeline: {e}");
                            warned = Some(Instant::now());
                        }
                    }
                }
            }
        })?;
    let dropped = std::sync::Mutex::new(None::<Instant>);
    Ok(Arc::new(move |uniqueid: &str, route: &str| {
        if let Err(TrySendError::Full(_)) = tx.try_send((uniqueid.to_string(), Arc::from(route))) {
            let mut last = dropped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_none_or(|w| w.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!("{QUEUE} route lines waiting for the disk: dropping new ones");
                *last = Some(Instant::now());
            }
        }
    }))
}
