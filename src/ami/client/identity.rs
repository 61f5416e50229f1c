//! Whether this generator may speak personally to the call: Asterisk must
//! confirm the channel exists with the caller number this process was
//! given, that it is on hold or in a queue, and that no other running
//! generator has claimed it. `ENV()` is process-wide in Asterisk, so a
//! generator can inherit another call's number; unconfirmed, nothing
//! personal is said.

use super::config::AmiConfig;
use crate::ami::connection::Connection;
use std::time::Duration;

/// Asks Asterisk whether the channel exists and carries the caller number
/// this process was given. `ENV()` is process-wide in Asterisk, so a
/// generator can inherit another call's number; unconfirmed, nothing
/// personal is said.
pub(super) fn confirm_identity(cfg: &AmiConfig, conn: &mut Connection) -> Verdict {
    let Some(ch) = &cfg.channel else {
        tracing::warn!("no --channel to confirm the call's identity: no personal announcements");
        return Verdict::NotConfirmed;
    };
    let answer = conn
        .send("Getvar", &[("Channel", ch), ("Variable", "CALLERID(num)")])
        .and_then(|id| conn.response(&id, Duration::from_secs(2)));
    let verdict = match &answer {
        Ok(r) if r.get("Response") == Some("Success") => match (&cfg.caller, r.get("Value")) {
            (Some(mine), Some(theirs)) if mine != theirs => {
                Err(format!("the channel's caller is not {mine}"))
            }
            _ => Ok(()),
        },
        Ok(r) if r.get("Message") == Some("No such channel") => {
            tracing::warn!(channel = %ch, "no such channel: the call is over, exiting");
            return Verdict::NoChannel;
        }
        Ok(r) => Err(r.get("Message").unwrap_or("refused").to_string()),
        Err(e) => Err(e.clone()),
    };
    let verdict = verdict
        .and_then(|()| held_or_queued(cfg, conn, ch))
        .and_then(|()| claim(conn, ch));
    match verdict {
        Ok(()) => {
            tracing::info!(channel = %ch, "identity confirmed");
            Verdict::Confirmed
        }
        Err(why) => {
            tracing::warn!(channel = %ch, "identity not confirmed ({why}): no personal announcements");
            Verdict::NotConfirmed
        }
    }
}

/// Whether Asterisk has the channel on hold (`CHANNEL(onhold)`, a bridge
/// hold) or waiting in a queue (an entry of `QueueStatus`): a channel that
/// is neither is not one hold music is playing to. (`MusicOnHold()` in the
/// dialplan is neither: such calls get nothing personal in this mode.)
fn held_or_queued(cfg: &AmiConfig, conn: &mut Connection, ch: &str) -> Result<(), String> {
    let id = conn.send("Getvar", &[("Channel", ch), ("Variable", "CHANNEL(onhold)")])?;
    let onhold = conn.response(&id, Duration::from_secs(2))?;
    if onhold.get("Value") == Some("1") {
        return Ok(());
    }
    let q: Vec<(&str, &str)> = cfg.queue.iter().map(|q| ("Queue", q.as_str())).collect();
    let id = conn.send("QueueStatus", &q)?;
    let entries = conn.list(&id, Duration::from_secs(2))?;
    if entries
        .iter()
        .any(|m| m.is("QueueEntry") && m.get("Channel") == Some(ch))
    {
        return Ok(());
    }
    Err("the channel is neither on hold nor in a queue".into())
}

/// The channel variable naming the generator that speaks for the call.
const CLAIM_VAR: &str = "HOLDMIX_GENERATOR";

/// Claims the channel for this generator, unless another one that is still
/// running has: two generators sure of the same call mean at least one of
/// them inherited another call's environment, so neither may be trusted by
/// the later one. A claim by a process that is gone (the last generator of
/// a respawned call) is taken over.
fn claim(conn: &mut Connection, ch: &str) -> Result<(), String> {
    let me = claim_token();
    let held = conn
        .send("Getvar", &[("Channel", ch), ("Variable", CLAIM_VAR)])
        .and_then(|id| conn.response(&id, Duration::from_secs(2)))?;
    let holder = held.get("Value").unwrap_or("").trim().to_string();
    if !holder.is_empty() && holder != me && claim_alive(&holder) {
        return Err(format!("another generator ({holder}) has claimed the call"));
    }
    let id = conn.send(
        "Setvar",
        &[("Channel", ch), ("Variable", CLAIM_VAR), ("Value", &me)],
    )?;
    match conn.response(&id, Duration::from_secs(2)) {
        Ok(r) if r.get("Response") == Some("Success") => Ok(()),
        Ok(r) => Err(format!(
            "cannot claim the call: {}",
            r.get("Message").unwrap_or("refused")
        )),
        Err(e) => Err(e),
    }
}

/// `host:pid` of this process.
fn claim_token() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// Whether the generator named by a claim may still be running: on this
/// host, its pid says; on another host (a cluster), it may be, so yes.
fn claim_alive(token: &str) -> bool {
    let Some((host, pid)) = token.rsplit_once(':') else {
        // Not a holdmix claim (set by hand?): ignore it.
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    host != hostname() || crate::state::alive(pid)
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the result is NUL-terminated
    // within it or truncated, and read up to the first NUL.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    }
}

pub(super) enum Verdict {
    Confirmed,
    NotConfirmed,
    /// Asterisk has no such channel: the call is gone.
    NoChannel,
}
