//! One info line per timeline event, so an operator's log says what each
//! caller heard without a timeline file: each prompt, music change,
//! position, key and action. Never the caller's data: a key is logged by
//! its action, not its digit (keys may carry what a caller types), a
//! balance by its answer without counts, an unspoken value without the
//! value. The ducking pair is debug (it doubles every prompt's lines), and
//! so are stalls, a late start, reloads and failed sounds, which have lines
//! of their own where they happen (a stall's limited to one a minute: a
//! stalled reader skips every 240 ms); `exit` has its own line too (see
//! `Stream::finish`). While the control socket's `debug on` holds, the
//! debug ones are logged at info too.

use crate::engine::timeline::{Entry, TimelineEvent as E};

/// Logs each entry.
pub fn log(entries: &[Entry]) {
    for e in entries {
        line(e);
    }
}

fn line(e: &Entry) {
    let t = e.t;
    // `debug on` (the control socket): the debug lines at info.
    macro_rules! detail {
        ($($arg:tt)*) => {
            if crate::control::debug::on() {
                tracing::info!($($arg)*)
            } else {
                tracing::debug!($($arg)*)
            }
        };
    }
    match &e.event {
        E::MusicStart { file, track, offset } => {
            tracing::info!(t, file = %file, track, offset, "timeline: music starts")
        }
        E::MusicSwitch { from, to } => {
            tracing::info!(t, from = %from.as_deref().unwrap_or("-"), to = %to, "timeline: music switches")
        }
        E::Route { name } => tracing::info!(t, route = %name, "timeline: route"),
        E::DuckStart => detail!(t, "timeline: music ducks"),
        E::DuckEnd => detail!(t, "timeline: music back up"),
        E::PromptStart { file, queue } => {
            tracing::info!(t, file = %file, queue = %queue, "timeline: prompt starts")
        }
        E::PromptEnd { file, skipped } => {
            tracing::info!(t, file = %file, skipped, "timeline: prompt ends")
        }
        E::Dtmf { action, .. } => {
            tracing::info!(t, action = %action.as_deref().unwrap_or("none"), "timeline: key pressed")
        }
        E::Position { value } => tracing::info!(t, position = value, "timeline: queue position"),
        // These four have lines of their own where they happen (a stall's
        // rate-limited: a stalled reader skips every 240 ms).
        E::SourceError { file } => detail!(t, file = %file, "timeline: a sound failed"),
        E::Unspoken { .. } => tracing::info!(t, "timeline: a value had no recording to say it"),
        E::Request { what } => tracing::info!(t, what = %what, "timeline: request"),
        E::Balance { answer, .. } => tracing::info!(t, answer = %answer, "timeline: balance answer"),
        E::Plan { ok, items, .. } => tracing::info!(t, ok, items, "timeline: hold plan"),
        E::Resume { from, gap } => tracing::info!(t, from, gap, "timeline: resumed"),
        E::Remembered { music, heard } => {
            tracing::info!(t, music, heard, "timeline: caller remembered")
        }
        E::Identity { verified } => tracing::info!(t, verified, "timeline: identity"),
        E::Stall { skipped } => detail!(t, skipped, "timeline: reader stalled"),
        E::Late { silence } => detail!(t, silence, "timeline: late start"),
        E::Reload { ok, reason } => {
            detail!(t, ok, reason = %reason.as_deref().unwrap_or("-"), "timeline: playlist reload")
        }
        E::Redirect {
            context,
            exten,
            priority,
        } => tracing::info!(t, context = %context, exten = %exten, priority, "timeline: redirect"),
        E::Language { code, by, offered } => {
            tracing::info!(t, language = %code, by, offered, "timeline: language")
        }
        E::Exit { .. } => {}
    }
}
