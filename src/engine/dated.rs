//! The engine's side of windows: which music, welcome, repeats and keys
//! are open at the moment, read against the local date and time in the
//! playlist's zone (the host's when it names none).
//!
//! When a window opens or closes during a call: the music changes at the
//! next track boundary (the playing track is never cut), the welcome is
//! chosen once at the call's start, a repeat or advice is only said while
//! its window is open, and a key outside its window says its `closed`
//! prompts (or nothing) and does not act.

use super::Engine;
use super::library::{Library, SourceId};
use super::phrase::Values;
use super::timeline::TimelineEvent;
use crate::scenario::{MusicOrder, MusicStart, Scenario, Template, Window, zone};
use chrono::{NaiveDate, Timelike};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Default)]
pub(super) struct Dated {
    /// Each music variant's window and tracks, in playlist order.
    music: Vec<(Window, Vec<SourceId>)>,
    /// `[music] tracks` (as the bed was given them).
    base: Vec<SourceId>,
    /// The list in the bed: `None` the base, else a variant's index.
    in_bed: Option<usize>,
    /// A random first track (also in a variant chosen at the start).
    random_start: bool,
    welcome: Vec<(Window, Template)>,
    /// By the repeat's index in the playlist.
    repeats: Vec<Option<Window>>,
    keys: BTreeMap<char, (Window, Template)>,
    /// The start has been handled (frame 0).
    started: bool,
}

impl Dated {
    /// The windows of `scenario`; `base` are the bed's tracks. On a reload
    /// the music in the bed stays until the next check.
    pub(super) fn new(
        scenario: &Scenario,
        lib: &mut Library,
        base: &[SourceId],
        rng: &mut fastrand::Rng,
        before: &Dated,
    ) -> Dated {
        let shuffle = scenario.music.order == MusicOrder::Random;
        let music = scenario
            .music
            .variants
            .iter()
            .map(|v| {
                let mut ids: Vec<SourceId> = v.tracks.iter().map(|p| lib.add(p)).collect();
                if shuffle {
                    rng.shuffle(&mut ids);
                }
                (v.when.clone(), ids)
            })
            .collect();
        Dated {
            music,
            base: base.to_vec(),
            // A reload gives the bed the base list: say so, the next check
            // puts the open variant back.
            in_bed: None,
            random_start: scenario.music.order == MusicOrder::RandomStart
                || scenario.music.start == MusicStart::Random,
            welcome: scenario
                .welcome_variants
                .iter()
                .map(|w| (w.when.clone(), w.say.clone()))
                .collect(),
            repeats: scenario.repeats.iter().map(|r| r.when.clone()).collect(),
            keys: scenario
                .keys
                .iter()
                .filter_map(|(&c, k)| Some((c, (k.when.clone()?, k.closed.clone()))))
                .collect(),
            started: before.started,
        }
    }

    /// The music list open at (`date`, `minute`): the first open variant,
    /// else the base; `None` means keep what plays (a gap with no base
    /// tracks: music is never silence).
    fn music_open(&self, date: NaiveDate, minute: u32) -> Option<Option<usize>> {
        if let Some(i) = self
            .music
            .iter()
            .position(|(w, ids)| !ids.is_empty() && w.contains(date, minute))
        {
            return Some(Some(i));
        }
        if !self.base.is_empty() {
            return Some(None);
        }
        // Nothing open and nothing of its own: at the start the first
        // variant with tracks, later whatever plays.
        (!self.started)
            .then(|| self.music.iter().position(|(_, ids)| !ids.is_empty()))
            .flatten()
            .map(Some)
    }

    fn list(&self, which: Option<usize>) -> &[SourceId] {
        match which {
            Some(i) => self.music.get(i).map_or(&[][..], |(_, ids)| ids),
            None => &self.base,
        }
    }
}

impl Engine {
    /// The local date and minute of the day now, in the playlist's zone.
    pub(super) fn local_now(&self) -> (NaiveDate, u32) {
        let now = self.wall_start + chrono::Duration::milliseconds(self.now().as_millis() as i64);
        let t = zone::local(self.timezone.as_ref(), now);
        (t.date(), t.hour() * 60 + t.minute())
    }

    /// The welcome for a call starting now: the first open variant's, else
    /// `[welcome]`'s.
    pub(super) fn welcome_now(&self) -> Template {
        let (date, minute) = self.local_now();
        self.dated
            .welcome
            .iter()
            .find(|(w, _)| w.contains(date, minute))
            .map_or_else(|| self.welcome.clone(), |(_, say)| say.clone())
    }

    /// The first track of the music open now (for loading it first).
    pub(super) fn first_track_now(&self) -> Option<SourceId> {
        let (date, minute) = self.local_now();
        match self.dated.music_open(date, minute) {
            Some(Some(i)) => self.dated.list(Some(i)).first().copied(),
            _ => self.bed.first_track(),
        }
    }

    /// Puts the music open now in the bed, if it is not there: at the
    /// start before the first track, later for the next track boundary.
    pub(super) fn check_music(&mut self) {
        if self.dated.music.is_empty() {
            self.dated.started = true;
            return;
        }
        let (date, minute) = self.local_now();
        let start = !self.dated.started;
        // Asked before `started` is set: at the start a gap plays the first variant.
        let open = self.dated.music_open(date, minute);
        self.dated.started = true;
        let Some(open) = open else {
            return;
        };
        if open == self.dated.in_bed {
            return;
        }
        self.dated.in_bed = open;
        let tracks = self.dated.list(open).to_vec();
        let n = tracks.len();
        self.bed.set_tracks(tracks);
        if start && self.dated.random_start && n > 0 {
            // Drawn even when unused, so that a resumed call's later
            // random orders stay the ones its first process had.
            let (i, fraction) = (self.rng.usize(..n), self.rng.f64());
            // A resumed or remembered call goes on where it was, when the
            // music open now has its track.
            if !self.bed.start_is_given() {
                self.bed.start_randomly(i, fraction);
            }
        }
    }

    /// Is repeat `i` open now?
    pub(super) fn repeat_open(&self, i: usize) -> bool {
        match self.dated.repeats.get(i) {
            Some(Some(w)) => {
                let (date, minute) = self.local_now();
                w.contains(date, minute)
            }
            _ => true,
        }
    }

    /// A key pressed outside its window: says its `closed` prompts and
    /// returns true (the key does nothing else); false when it is open.
    pub(super) fn key_closed(&mut self, digit: char) -> bool {
        let Some((when, closed)) = self.dated.keys.get(&digit) else {
            return false;
        };
        let (date, minute) = self.local_now();
        if when.contains(date, minute) {
            return false;
        }
        let closed = closed.clone();
        self.scratch.push(TimelineEvent::Dtmf {
            digit,
            action: Some(Arc::from("closed")),
        });
        if !closed.is_empty() {
            let label = self.labels.key.clone();
            let priority = self.keys.get(&digit).map_or(5, |k| k.priority);
            self.answer(&closed, &Values::default(), priority, &label);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Part;
    use chrono::{DateTime, Utc};

    /// The welcome is chosen by the local date in the playlist's zone: at
    /// 14:00 UTC on 31 December it is already New Year in Vladivostok.
    #[test]
    fn the_zone_decides_what_today_is() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.wav", "hi.wav", "ny.wav"] {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::create(dir.path().join(name), spec).unwrap();
            w.write_sample(0i16).unwrap();
            w.finalize().unwrap();
        }
        let text = "timezone = \"Asia/Vladivostok\"\n[holidays]\nnew_year = \"01-01\"\n\
                    [prompts]\nhi = \"hi.wav\"\nny = \"ny.wav\"\n[music]\ntracks = [\"a.wav\"]\n\
                    [welcome]\nsay = [\"hi\"]\n[[welcome.variant]]\nname = \"ny\"\n\
                    when = { on = [\"new_year\"] }\nsay = [\"ny\"]\n";
        let loaded = Scenario::from_text(&dir.path().join("p.toml"), text);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let mut e = Engine::new(&loaded.scenario, 8000, 1);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let said = |e: &Engine| match e.welcome_now().first() {
            Some(Part::Prompt(p)) => p.clone(),
            other => panic!("{other:?}"),
        };
        e.set_wall_start(at("2026-12-31T13:59:59Z"));
        assert_eq!(said(&e), "hi");
        e.set_wall_start(at("2026-12-31T14:00:00Z"));
        assert_eq!(said(&e), "ny");
        assert_eq!(e.local_now(), (NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), 0));
        e.set_wall_start(at("2027-01-01T13:59:59Z"));
        assert_eq!(said(&e), "ny");
        e.set_wall_start(at("2027-01-01T14:00:00Z"));
        assert_eq!(said(&e), "hi");
    }
}
