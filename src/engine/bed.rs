//! The music bed: plays its track list in a gapless loop (or one track
//! over and over, `repeat-one`), and crossfades (equal power) to another
//! track when the music is switched. The call's first track may start
//! inside it: where a resumed or remembered call was, or at a random place
//! (`random-start`).

use super::library::{Library, SourceId};
use super::random_start;
use super::timeline::TimelineEvent;
use crate::audio::ramp::{Curve, Ramp};
use crate::audio::voice::{DECLICK_MS, Voice};

/// Voices still fading out after switches; a fourth switch inside one
/// crossfade replaces the quietest of them.
const FADING: usize = 3;

/// The shortest track the bed plays, in ms. A shorter one (a file cut to
/// its header, a stray click) is skipped: looped, it would start again
/// many times a second, each start a timeline event and a log line.
/// `check` says so (`cmd::check`).
pub const MIN_TRACK_MS: u32 = 500;

/// Where the first track of the call starts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FirstStart {
    /// At its top: nothing chose a place.
    Top,
    /// This many samples in: a place given (a resumed or remembered call).
    At(usize),
    /// At a random place (`random-start`): this fraction (0..1, from the
    /// call's seed) of the way through the places [`random_start`] allows,
    /// known once the track is loaded.
    Random(f64),
}

pub struct Bed {
    tracks: Vec<SourceId>,
    current: usize,
    main: Option<Voice>,
    /// The source of `main` (the track list may change under it on reload).
    playing: Option<SourceId>,
    fading: [Option<(SourceId, Voice)>; FADING],
    crossfade: u32,
    rate: u32,
    /// Where the first track starts, consumed on start.
    start: FirstStart,
    /// A finished track starts again instead of the next (`repeat-one`).
    repeat_one: bool,
    /// A track was skipped as too short and said so (once a call).
    told_short: std::cell::Cell<bool>,
}

impl Bed {
    pub fn new(tracks: Vec<SourceId>, crossfade_samples: u32, rate: u32) -> Self {
        let min = rate * DECLICK_MS / 1000;
        Bed {
            tracks,
            current: 0,
            main: None,
            playing: None,
            fading: [None; FADING],
            crossfade: crossfade_samples.max(min),
            rate,
            start: FirstStart::Top,
            repeat_one: false,
            told_short: std::cell::Cell::new(false),
        }
    }

    /// Whether a finished track plays again (`repeat-one`) or the next one does.
    pub fn set_repeat_one(&mut self, on: bool) {
        self.repeat_one = on;
    }

    /// Starts the bed at track `index`, `offset` samples in (before the first frame).
    pub fn start_at(&mut self, index: usize, offset: usize) {
        if !self.tracks.is_empty() {
            self.current = index % self.tracks.len();
            self.start = FirstStart::At(offset);
        }
    }

    /// Starts the bed at track `index`, at a random place in it given by
    /// `fraction` (0..1, drawn from the call's seed) (before the first frame).
    pub fn start_randomly(&mut self, index: usize, fraction: f64) {
        if !self.tracks.is_empty() {
            self.current = index % self.tracks.len();
            self.start = FirstStart::Random(fraction);
        }
    }

    /// Whether the first track's place was given ([`Bed::start_at`]: a
    /// resumed or remembered call), which a random start must not replace.
    pub fn start_is_given(&self) -> bool {
        matches!(self.start, FirstStart::At(_))
    }

    /// The track the bed will start with (before the first frame).
    pub fn first_track(&self) -> Option<SourceId> {
        self.tracks.get(self.current).copied()
    }

    pub fn set_crossfade(&mut self, samples: u32) {
        self.crossfade = samples.max(self.rate * DECLICK_MS / 1000);
    }

    /// A new track list (a reloaded playlist, or music for a window). The
    /// playing track goes on: at its place in the new list if it is there,
    /// else to its end, and the new list then starts from its top. Before
    /// the first frame, the track the bed would start with (a remembered
    /// or resumed one) keeps its place and offset if the new list has it;
    /// else the new list starts at its top, from the beginning.
    pub fn set_tracks(&mut self, tracks: Vec<SourceId>) {
        let first = (self.main.is_none() && self.playing.is_none())
            .then(|| self.tracks.get(self.current).copied())
            .flatten();
        self.tracks = tracks;
        let n = self.tracks.len();
        let place = |id: SourceId| self.tracks.iter().position(|&t| t == id);
        self.current = match self.playing.and_then(place) {
            Some(i) => i,
            None if self.main.is_some() => n.saturating_sub(1),
            None => match first.and_then(place) {
                Some(i) => i,
                None => {
                    self.start = FirstStart::Top;
                    0
                }
            },
        };
    }

    /// The playing track and the next sample in it.
    pub fn now_playing(&self) -> Option<(SourceId, usize)> {
        Some((self.playing?, self.main?.pos))
    }

    /// Notes what [`Bed::now_playing`] reads (see `Warm`).
    pub fn note_progress(&self, w: &mut crate::util::prefetch::Warm) {
        w.add(&self.playing);
        w.add(&self.main);
    }

    /// The track list, in play order.
    pub fn tracks(&self) -> &[SourceId] {
        &self.tracks
    }

    /// Where `id` is in the track list.
    pub fn index_of(&self, id: SourceId) -> Option<usize> {
        self.tracks.iter().position(|&t| t == id)
    }

    /// Index of the playing track and the next sample in it.
    pub fn position(&self) -> (usize, usize) {
        (self.current, self.main.map_or(0, |v| v.pos))
    }

    /// The first ready track at or after `from` going in direction `step`
    /// that is long enough to play ([`MIN_TRACK_MS`]).
    fn pick_ready(&self, lib: &Library, from: usize, step: isize) -> Option<usize> {
        let n = self.tracks.len() as isize;
        let min = (self.rate * MIN_TRACK_MS / 1000) as usize;
        (0..n)
            .map(|k| (from as isize + k * step).rem_euclid(n) as usize)
            .find(|&i| match lib.ready(self.tracks[i]) {
                Some((clip, _)) if clip.len() < min => {
                    self.tell_short(lib, self.tracks[i], clip.len());
                    false
                }
                ready => ready.is_some(),
            })
    }

    #[cold]
    fn tell_short(&self, lib: &Library, id: SourceId, len: usize) {
        if !self.told_short.replace(true) {
            tracing::warn!(
                file = %lib.name(id),
                ms = len as u64 * 1000 / u64::from(self.rate),
                "music track shorter than {MIN_TRACK_MS} ms: skipped"
            );
        }
    }

    /// The voice the quiet path moves on (see [`crate::engine::QuietMark`]).
    pub fn main_voice(&self) -> Option<Voice> {
        self.main
    }

    /// Puts back a voice [`Bed::main_voice`] gave, frames later.
    pub fn set_main_voice(&mut self, voice: Option<Voice>) {
        self.main = voice;
    }

    /// Writes one block of music into `out` when the bed is steady: one
    /// track playing at full gain, clear of its edges, nothing fading out.
    /// The same samples as zeroing `out` and calling [`Bed::render`].
    /// Returns false (and leaves `out` alone) otherwise.
    #[inline]
    pub fn render_steady(&mut self, lib: &Library, out: &mut [f32]) -> bool {
        let (Some(voice), Some(id)) = (self.main.as_mut(), self.playing) else {
            return false;
        };
        let Some((clip, _)) = lib.ready(id) else {
            return false;
        };
        if !voice.is_steady_for(clip, out.len()) || self.fading.iter().any(Option::is_some) {
            return false;
        }
        voice.play_steady(clip, out);
        true
    }

    /// Notes what the next steady block touches (see `Warm`).
    pub fn note_hot(&self, lib: &Library, w: &mut crate::util::prefetch::Warm) {
        w.add(&self.main);
        w.add(&self.playing);
        w.add(&self.fading);
        if let (Some(v), Some(id)) = (&self.main, self.playing) {
            lib.note_hot(id, v.pos, w);
        }
    }

    /// Adds one block of music into `out` (which the caller zeroed).
    pub fn render(&mut self, lib: &Library, out: &mut [f32], events: &mut Vec<TimelineEvent>) {
        let mut filled = 0;
        // Each pass either fills the block or moves to the next track; a list
        // of very short tracks cannot make this loop unbounded.
        for _ in 0..=self.tracks.len() {
            if filled == out.len() {
                break;
            }
            if self.main.is_none() {
                let Some(i) = self.pick_ready(lib, self.current, 1) else {
                    break;
                };
                let (offset, ramp) = self.start_place(lib, i);
                self.begin(lib, i, offset, ramp, events);
            }
            let Some(id) = self.playing else { break };
            let (Some(voice), Some((clip, _))) = (self.main.as_mut(), lib.ready(id)) else {
                break;
            };
            filled += voice.mix_into(clip, &mut out[filled..]);
            if voice.finished(clip) {
                self.main = None;
                self.playing = None;
                if !self.repeat_one {
                    self.current = (self.current + 1) % self.tracks.len().max(1);
                }
            }
        }
        for slot in &mut self.fading {
            if let Some((id, voice)) = slot {
                let done = match lib.ready(*id) {
                    Some((clip, _)) => {
                        voice.mix_into(clip, out);
                        voice.finished(clip) || (voice.ramp.is_done() && voice.ramp.target() == 0.0)
                    }
                    None => true,
                };
                if done {
                    *slot = None;
                }
            }
        }
    }

    /// Where the track at `index` starts and how it fades in: the call's
    /// first track at its given or random place, every later one at its top.
    fn start_place(&mut self, lib: &Library, index: usize) -> (usize, Ramp) {
        let place = std::mem::replace(&mut self.start, FirstStart::Top);
        let offset = match place {
            FirstStart::Top => 0,
            FirstStart::At(offset) => offset,
            FirstStart::Random(fraction) => {
                let len = lib.ready(self.tracks[index]).map_or(0, |(c, _)| c.len());
                random_start::offset(fraction, len, self.rate)
            }
        };
        let ramp = match place {
            // Mid-track the first sample is not a clip edge. A resumed call
            // goes on with what the caller heard: fade in over the declick
            // time only.
            FirstStart::At(o) if o > 0 => Ramp::new(0.0, 1.0, self.rate * DECLICK_MS / 1000, Curve::PowerIn),
            // A new caller hears the music come in, as a track switched to
            // does, rather than cut in mid-phrase.
            FirstStart::Random(_) if offset > 0 => Ramp::new(0.0, 1.0, self.crossfade, Curve::PowerIn),
            _ => Ramp::hold(1.0),
        };
        (offset, ramp)
    }

    fn begin(
        &mut self,
        lib: &Library,
        index: usize,
        offset: usize,
        ramp: Ramp,
        events: &mut Vec<TimelineEvent>,
    ) {
        self.current = index;
        let id = self.tracks[index];
        self.playing = Some(id);
        let gain = lib.ready(id).map_or(1.0, |(_, g)| g);
        let len = lib.ready(id).map_or(0, |(c, _)| c.len());
        let offset = if offset < len { offset } else { 0 };
        self.main = Some(Voice::new(offset, gain, ramp, self.rate));
        events.push(TimelineEvent::MusicStart {
            file: lib.name(id).clone(),
            track: index,
            offset: offset as f64 / f64::from(self.rate),
        });
    }

    /// Crossfades to the next (`step` = 1) or previous (`step` = -1) ready track.
    pub fn switch(&mut self, lib: &Library, step: isize, events: &mut Vec<TimelineEvent>) -> bool {
        if self.tracks.is_empty() {
            return false;
        }
        let start = (self.current as isize + step).rem_euclid(self.tracks.len() as isize) as usize;
        self.cross_to(lib, start, step, events)
    }

    /// The index of the track named `name` (its file name, or that without
    /// its extension), if the list has one.
    pub fn index_named(&self, lib: &Library, name: &str) -> Option<usize> {
        self.tracks.iter().position(|&id| {
            let file = lib.name(id);
            **file == *name
                || std::path::Path::new(&**file)
                    .file_stem()
                    .is_some_and(|s| s == name)
        })
    }

    /// Crossfades to the track at `index` (or the next ready one after it).
    pub fn switch_to(&mut self, lib: &Library, index: usize, events: &mut Vec<TimelineEvent>) -> bool {
        if index >= self.tracks.len() {
            return false;
        }
        self.cross_to(lib, index, 1, events)
    }

    /// Crossfades to the first ready track at or after `start` going in
    /// direction `step`.
    fn cross_to(
        &mut self,
        lib: &Library,
        start: usize,
        step: isize,
        events: &mut Vec<TimelineEvent>,
    ) -> bool {
        let from = self
            .playing
            .filter(|_| self.main.is_some())
            .map(|id| lib.name(id).clone());
        let Some(next) = self.pick_ready(lib, start, step) else {
            return false;
        };
        if let Some(mut old) = self.main.take() {
            old.fade_to(0.0, self.crossfade, Curve::PowerOut);
            let slot = self.free_fading_slot();
            if let Some(id) = self.playing {
                self.fading[slot] = Some((id, old));
            }
        }
        events.push(TimelineEvent::MusicSwitch {
            from,
            to: lib.name(self.tracks[next]).clone(),
        });
        self.begin(
            lib,
            next,
            0,
            Ramp::new(0.0, 1.0, self.crossfade, Curve::PowerIn),
            events,
        );
        true
    }

    fn free_fading_slot(&self) -> usize {
        if let Some(i) = self.fading.iter().position(Option::is_none) {
            return i;
        }
        let gain = |i: usize| self.fading[i].map_or(0.0, |(_, v)| v.ramp.current());
        (0..FADING)
            .min_by(|&a, &b| gain(a).total_cmp(&gain(b)))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Music for a window replacing the list before the first frame: a
    /// remembered track (and offset) it also has keeps its place; a list
    /// without it starts at its top, from the beginning (never mid-way
    /// into another track).
    #[test]
    fn a_new_list_before_the_start_keeps_or_drops_the_start_place() {
        let ids = |v: &[u32]| v.iter().map(|&i| SourceId(i)).collect::<Vec<_>>();
        let mut bed = Bed::new(ids(&[1, 2, 3]), 0, 8000);
        bed.start_at(1, 4000);
        bed.set_tracks(ids(&[9, 2]));
        assert_eq!(
            (bed.first_track(), bed.start),
            (Some(SourceId(2)), FirstStart::At(4000))
        );
        bed.set_tracks(ids(&[7, 8]));
        assert_eq!(
            (bed.first_track(), bed.start),
            (Some(SourceId(7)), FirstStart::Top)
        );
    }

    /// Tracks under [`MIN_TRACK_MS`] (a file cut to its header, a 50 ms
    /// click) are skipped: looped, each would start again at every block,
    /// a timeline event and a log line each time.
    #[test]
    fn tracks_too_short_to_be_music_are_skipped() {
        use crate::audio::clip::Clip;
        use std::sync::Arc;
        let mut lib = Library::new(-20.0);
        let lengths = [0, 400, 3999, 8000];
        let ids: Vec<SourceId> = lengths
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let id = lib.add(std::path::Path::new(&format!("/t{i}.wav")));
                lib.set_ready(
                    id,
                    Arc::new(Clip::from_vec(
                        Arc::from(format!("t{i}.wav")),
                        vec![0.25; n],
                        None,
                    )),
                );
                id
            })
            .collect();
        let mut bed = Bed::new(ids, 0, 8000);
        let (mut events, mut out) = (Vec::new(), vec![0.0f32; 160]);
        // Ten seconds in 20 ms blocks: the one-second track, ten times.
        for _ in 0..500 {
            out.fill(0.0);
            bed.render(&lib, &mut out, &mut events);
            // Every block has music (its edges are declicked, not cut).
            assert!(out.iter().any(|&x| x.abs() > 0.1), "a gap in the music");
        }
        let started: Vec<usize> = events
            .iter()
            .map(|e| match e {
                TimelineEvent::MusicStart { track, .. } => *track,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(started, vec![3; 10]);
        // Asked for by name or by a key, a short track is passed over too.
        assert!(bed.switch_to(&lib, 1, &mut events));
        assert!(matches!(
            events.last(),
            Some(TimelineEvent::MusicStart { track: 3, .. })
        ));
    }
}
