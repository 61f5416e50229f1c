//! One `run` call as a control [`Target`]: commands become events in the
//! audio thread's inbox, and `status` is a copy the audio thread makes
//! when asked, after its next frame (so a `position 3` just sent shows),
//! at the end of a tick: the control thread waits for it, the audio
//! thread never waits for anyone. `play FILE` is decoded here, on the
//! client's thread, bounded in size and length.

use super::listener::Target;
use super::protocol::{Answer, Command, mask_caller};
use crate::audio::cache::Cache;
use crate::audio::format::FRAME_MS;
use crate::engine::ahead::Ahead;
use crate::engine::{EventKind, MusicPick, Sound, Status};
use crate::util::bell::SyncSender;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest file `play` reads (a minute of 48 kHz stereo WAV is 11 MB).
pub const MAX_PLAY_BYTES: u64 = 16 << 20;
/// Longest sound `play` says.
pub const MAX_PLAY: Duration = Duration::from_secs(120);
/// Different files `play` may say in one call: each stays a source of
/// the call's (a map of its cache entry), so their number is bounded.
pub const MAX_PLAY_FILES: usize = 32;
/// How long `status` waits for the audio thread (it answers at its next
/// tick; a reader that stopped reading stops the ticks' frames too).
const STATUS_WAIT: Duration = Duration::from_secs(2);
/// Status requests waiting for the audio thread at most.
pub const ASKS: usize = 16;

/// What is known of the call from outside the engine.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub uniqueid: Option<String>,
    pub channel: Option<String>,
    /// The caller's number (shown masked).
    pub caller: Option<String>,
    pub queue: Option<String>,
    /// The route the hub picked for the call (its greeting says).
    pub route: Option<String>,
}

impl Facts {
    /// Fills what is not known yet from what the hub says (empty: not
    /// known to it either).
    pub fn learn(&mut self, channel: &str, caller: &str, queue: &str, route: &str) {
        for (field, v) in [
            (&mut self.channel, channel),
            (&mut self.caller, caller),
            (&mut self.queue, queue),
            (&mut self.route, route),
        ] {
            if field.is_none() && !v.is_empty() {
                *field = Some(v.to_string());
            }
        }
    }
}

/// A status request: where the copy goes.
pub type Ask = mpsc::SyncSender<Status>;

pub struct CallTarget {
    /// Shared with the hub's relay, which learns them from the hub's
    /// greeting (it may come after the start).
    facts: Arc<Mutex<Facts>>,
    events: SyncSender<EventKind>,
    asks: SyncSender<Ask>,
    cache: Cache,
    rate: u32,
    played: Mutex<BTreeSet<PathBuf>>,
    started: Instant,
}

impl CallTarget {
    pub fn new(
        facts: Facts,
        events: SyncSender<EventKind>,
        asks: SyncSender<Ask>,
        cache: Cache,
        rate: u32,
    ) -> Self {
        CallTarget {
            facts: Arc::new(Mutex::new(facts)),
            events,
            asks,
            cache,
            rate,
            played: Mutex::new(BTreeSet::new()),
            started: Instant::now(),
        }
    }

    /// What the call's relay updates when the hub greets it.
    pub fn facts(&self) -> Arc<Mutex<Facts>> {
        self.facts.clone()
    }

    fn known(&self) -> Facts {
        self.facts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn send(&self, kind: EventKind) -> Result<(), Answer> {
        match self.events.try_send(kind) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Answer::error("the call is busy; try again")),
            Err(TrySendError::Disconnected(_)) => Err(Answer::error("the call is ending")),
        }
    }

    /// A copy of the engine's state after the audio thread's next frame.
    fn snapshot(&self) -> Result<Status, Answer> {
        let (tx, rx) = mpsc::sync_channel(1);
        match self.asks.try_send(tx) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Answer::error("the call is busy; try again")),
            Err(TrySendError::Disconnected(_)) => return Err(Answer::error("the call is ending")),
        }
        rx.recv_timeout(STATUS_WAIT)
            .map_err(|_| Answer::error("the call did not answer in time (is its audio read?)"))
    }

    fn status(&self) -> Answer {
        match self.snapshot() {
            Ok(s) => Answer::with(self.describe(&s)),
            Err(a) => a,
        }
    }

    /// The status's fields (see docs/control.md).
    fn describe(&self, s: &Status) -> Map<String, Value> {
        let mut m = Map::new();
        let f = &self.known();
        m.insert("call".into(), json!(f.uniqueid));
        m.insert("channel".into(), json!(f.channel));
        m.insert("caller".into(), json!(f.caller.as_deref().map(mask_caller)));
        m.insert("queue".into(), json!(f.queue));
        m.insert("route".into(), json!(f.route));
        m.insert("position".into(), json!(s.position));
        m.insert("music".into(), json!(s.music.as_deref()));
        m.insert("prompt".into(), json!(s.prompt.as_deref()));
        m.insert(
            "next".into(),
            match s.next {
                Some((at, what)) => json!({
                    "what": what,
                    "in": secs(at.saturating_sub(s.now)),
                }),
                None => Value::Null,
            },
        );
        m.insert("language".into(), json!(s.language));
        m.insert("time".into(), json!(secs(s.now)));
        m.insert("uptime".into(), json!(secs(self.started.elapsed())));
        m.insert("debug".into(), json!(super::debug::on()));
        m
    }

    /// Reads `path` for `play`, within the bounds (and the call's count
    /// of different files).
    fn decode(&self, path: &Path) -> Result<Sound, String> {
        {
            let played = self.played.lock().unwrap_or_else(|e| e.into_inner());
            if played.len() >= MAX_PLAY_FILES && !played.contains(path) {
                return Err(format!(
                    "this call has played {MAX_PLAY_FILES} different files already"
                ));
            }
        }
        let sound = decode_play(&self.cache, self.rate, path)?;
        self.played
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_path_buf());
        Ok(sound)
    }

    fn act(&self, cmd: Command) -> Result<Answer, Answer> {
        match cmd {
            Command::Status => return Ok(self.status()),
            Command::Position(_) | Command::SayPosition(_) | Command::Dtmf(_) => {
                for e in events_for(&cmd).unwrap_or_default() {
                    self.send(e)?;
                }
            }
            Command::Play(path) => {
                let sound = self.decode(&path).map_err(Answer::error)?;
                let mut m = Map::new();
                m.insert(
                    "seconds".into(),
                    json!(secs(Duration::from_secs_f64(
                        sound.clip.len() as f64 / f64::from(self.rate)
                    ))),
                );
                self.send(EventKind::Play(sound))?;
                return Ok(Answer::with(m));
            }
            Command::Music(ref pick) => {
                self.send(EventKind::Music(pick.clone()))?;
                let s = self.snapshot()?;
                if let MusicPick::Named(name) = pick
                    && !s.music.as_deref().is_some_and(|m| {
                        m == name || Path::new(m).file_stem().is_some_and(|x| x == name.as_str())
                    })
                {
                    return Err(Answer::error(format!(
                        "no track {name:?} ready in the music playing now"
                    )));
                }
                return Ok(Answer::with(self.describe(&s)));
            }
            Command::Debug(on) => {
                super::debug::set(on);
                tracing::info!(on, "control: debug logging");
                return Ok(Answer::ok());
            }
            Command::Stop => {
                for e in events_for(&cmd).unwrap_or_default() {
                    self.send(e)?;
                }
                return Ok(Answer::ok());
            }
        }
        Ok(self.status())
    }
}

/// Reads `path` for `play` (through the cache, at `rate`), within the
/// bounds: an absolute path to a regular file of at most
/// [`MAX_PLAY_BYTES`], at most [`MAX_PLAY`] long. Any target may use it
/// (an AudioSocket server's calls too); call it off the audio thread.
pub fn decode_play(cache: &Cache, rate: u32, path: &Path) -> Result<Sound, String> {
    if !path.is_absolute() {
        return Err(format!("{}: play takes an absolute path", path.display()));
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > MAX_PLAY_BYTES {
        return Err(format!(
            "{}: larger than {} MB",
            path.display(),
            MAX_PLAY_BYTES >> 20
        ));
    }
    let clip = cache.load(path, rate).map_err(|e| format!("{e:#}"))?;
    let len = Duration::from_secs_f64(clip.len() as f64 / f64::from(rate));
    if len > MAX_PLAY {
        return Err(format!(
            "{}: longer than {} s",
            path.display(),
            MAX_PLAY.as_secs()
        ));
    }
    if clip.is_empty() {
        return Err(format!("{}: no audio in it", path.display()));
    }
    Ok(Sound {
        path: path.to_path_buf(),
        clip: Arc::new(clip),
    })
}

/// The events a command is for a call's engine, in order (`None`: not an
/// engine's: `status`, `debug`, and `play`, whose file is decoded first
/// with [`decode_play`] and sent as [`EventKind::Play`]). What another
/// target (`serve --audiosocket`) sends a call for each command.
pub fn events_for(cmd: &Command) -> Option<Vec<EventKind>> {
    Some(match cmd {
        Command::Position(n) => vec![EventKind::Position(*n)],
        Command::SayPosition(n) => n
            .map(EventKind::Position)
            .into_iter()
            .chain([EventKind::SayPosition])
            .collect(),
        Command::Music(pick) => vec![EventKind::Music(pick.clone())],
        Command::Dtmf(d) => vec![EventKind::Dtmf(*d)],
        // As Asterisk stopping the music does: the call may go on.
        Command::Stop => vec![EventKind::MusicStopped],
        Command::Status | Command::Debug(_) | Command::Play(_) => return None,
    })
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl Target for CallTarget {
    fn list(&self) -> Vec<Value> {
        let f = &self.known();
        // The engine's, as `status` gives it (the hub's list has its own
        // from AMI); null when the call does not answer in time.
        let position = self.snapshot().ok().and_then(|s| s.position);
        vec![json!({
            "call": f.uniqueid,
            "channel": f.channel,
            "caller": f.caller.as_deref().map(mask_caller),
            "queue": f.queue,
            "route": f.route,
            "position": position,
        })]
    }

    fn command(&self, call: Option<&str>, cmd: Command) -> Answer {
        let f = self.known();
        if let Some(c) = call
            && Some(c) != f.uniqueid.as_deref()
            && Some(c) != f.channel.as_deref()
        {
            return Answer::error("not this call");
        }
        self.act(cmd).unwrap_or_else(|a| a)
    }
}

/// The audio thread's side: status requests taken when its bell rings,
/// answered once a frame after them is rendered.
pub struct Answering {
    asks: mpsc::Receiver<Ask>,
    /// Requests and the frame count (of frames written) when they came.
    waiting: Vec<(Ask, u64)>,
}

impl Answering {
    pub fn new(asks: mpsc::Receiver<Ask>) -> Answering {
        Answering {
            asks,
            waiting: Vec::with_capacity(ASKS),
        }
    }

    /// Takes the requests in (before the events that came with them are
    /// handed to the engine: those sent before a request are then in it).
    #[cold]
    #[inline(never)]
    pub fn take_asks(&mut self, ahead: &Ahead) {
        let written = ahead.engine().frames() - ahead.ready() as u64;
        for ask in self.asks.try_iter().take(ASKS) {
            if self.waiting.len() < ASKS {
                self.waiting.push((ask, written));
            }
        }
    }

    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Answers the requests the engine has rendered a frame past; the
    /// time is of what was written, not of the frames rendered ahead.
    #[cold]
    #[inline(never)]
    pub fn answer(&mut self, ahead: &Ahead) {
        let engine = ahead.engine();
        let frames = engine.frames();
        if !self.waiting.iter().any(|(_, at)| frames > *at) {
            return;
        }
        let mut s = engine.status();
        s.now = s
            .now
            .saturating_sub(Duration::from_millis(ahead.ready() as u64 * u64::from(FRAME_MS)));
        self.waiting.retain(|(tx, at)| {
            if frames > *at {
                tx.try_send(s.clone()).ok();
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn say_position_with_a_value_sets_it_first() {
        assert_eq!(
            events_for(&Command::SayPosition(Some(4))),
            Some(vec![EventKind::Position(4), EventKind::SayPosition])
        );
        assert_eq!(
            events_for(&Command::SayPosition(None)),
            Some(vec![EventKind::SayPosition])
        );
        assert_eq!(events_for(&Command::Stop), Some(vec![EventKind::MusicStopped]));
        assert_eq!(events_for(&Command::Status), None);
    }

    #[test]
    fn play_refuses_what_is_not_a_small_absolute_file() {
        let cache = Cache::in_memory();
        let dir = tempfile::tempdir().unwrap();
        assert!(
            decode_play(&cache, 8000, Path::new("a.wav"))
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            decode_play(&cache, 8000, dir.path())
                .unwrap_err()
                .contains("not a regular file")
        );
        let big = dir.path().join("big.wav");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_PLAY_BYTES + 1)
            .unwrap();
        assert!(decode_play(&cache, 8000, &big).unwrap_err().contains("larger"));
        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"not audio").unwrap();
        assert!(decode_play(&cache, 8000, &junk).is_err());
    }
}
