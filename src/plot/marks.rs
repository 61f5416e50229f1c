//! The timeline as the picture draws it: spans (music tracks, prompts,
//! ducks) and point markers (keys, positions, source errors, the exit),
//! and the prompts gathered into the phrases their labels name.

use crate::engine::timeline::{Entry, TimelineEvent};
use std::path::Path;

/// Something that lasts from `start` to `end` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub start: f64,
    pub end: f64,
    pub label: String,
    /// Colour index: music tracks keep theirs when they come back.
    pub tone: usize,
    /// A prompt's queue: `welcome`, `advice/<group>`, `position`, … (empty
    /// for music and ducks).
    pub group: String,
}

/// Prompts closer than this, of one queue, are one phrase (the speaker
/// starts a phrase's next prompt a frame after the last one ends).
const PHRASE_GAP: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    Key,
    Position,
    Error,
    Exit,
}

/// Something that happens at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub t: f64,
    pub kind: MarkerKind,
    pub label: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Marks {
    pub music: Vec<Span>,
    pub prompts: Vec<Span>,
    pub ducks: Vec<Span>,
    pub markers: Vec<Marker>,
}

impl Marks {
    /// Spans still open when the timeline ends run to `end`.
    pub fn from_timeline(timeline: &[Entry], end: f64) -> Self {
        let mut builder = Builder::default();
        for entry in timeline {
            builder.add(entry.t, &entry.event);
        }
        builder.finish(end)
    }
}

struct Open {
    start: f64,
    label: String,
    tone: usize,
    group: String,
}

#[derive(Default)]
struct Builder {
    marks: Marks,
    music: Option<Open>,
    prompt: Option<Open>,
    duck: Option<f64>,
    /// Music file names in order of first appearance, for stable colours.
    tracks: Vec<String>,
}

impl Builder {
    // The wildcard is unreachable today; it keeps variants added later
    // from breaking the build (they are simply not drawn).
    #[allow(unreachable_patterns)]
    fn add(&mut self, t: f64, event: &TimelineEvent) {
        match event {
            TimelineEvent::MusicStart { file, .. } => self.music_begins(t, file),
            TimelineEvent::MusicSwitch { to, .. } => self.music_begins(t, to),
            TimelineEvent::DuckStart => {
                self.duck.get_or_insert(t);
            }
            TimelineEvent::DuckEnd => {
                let open = self.duck.take().map(|start| Open {
                    start,
                    label: String::new(),
                    tone: 0,
                    group: String::new(),
                });
                close(open, t, &mut self.marks.ducks);
            }
            TimelineEvent::PromptStart { file, queue } => {
                let open = Open {
                    start: t,
                    label: file_name(file),
                    tone: 0,
                    group: queue.to_string(),
                };
                close(self.prompt.replace(open), t, &mut self.marks.prompts);
            }
            TimelineEvent::PromptEnd { .. } => close(self.prompt.take(), t, &mut self.marks.prompts),
            TimelineEvent::Dtmf { digit, action } => {
                let label = match action {
                    Some(action) => format!("{digit} {action}"),
                    None => digit.to_string(),
                };
                self.marker(t, MarkerKind::Key, label);
            }
            TimelineEvent::Position { value } => self.marker(t, MarkerKind::Position, format!("pos {value}")),
            TimelineEvent::SourceError { file } => {
                self.marker(t, MarkerKind::Error, format!("error {}", file_name(file)));
            }
            TimelineEvent::Exit { reason } => self.marker(t, MarkerKind::Exit, format!("exit {reason}")),
            _ => {}
        }
    }

    /// A switch is followed by the start of the same track at the same
    /// moment; the empty band between them is dropped by `close`.
    fn music_begins(&mut self, t: f64, file: &str) {
        let label = file_name(file);
        let tone = self.tone_of(&label);
        let open = Open {
            start: t,
            label,
            tone,
            group: String::new(),
        };
        close(self.music.replace(open), t, &mut self.marks.music);
    }

    fn tone_of(&mut self, name: &str) -> usize {
        if let Some(i) = self.tracks.iter().position(|n| n == name) {
            return i;
        }
        self.tracks.push(name.to_string());
        self.tracks.len() - 1
    }

    fn marker(&mut self, t: f64, kind: MarkerKind, label: String) {
        self.marks.markers.push(Marker { t, kind, label });
    }

    fn finish(mut self, end: f64) -> Marks {
        let duck = self.duck.take().map(|start| Open {
            start,
            label: String::new(),
            tone: 0,
            group: String::new(),
        });
        close(duck, end, &mut self.marks.ducks);
        close(self.music.take(), end, &mut self.marks.music);
        close(self.prompt.take(), end, &mut self.marks.prompts);
        self.marks
    }
}

fn close(open: Option<Open>, end: f64, spans: &mut Vec<Span>) {
    if let Some(open) = open
        && end > open.start
    {
        spans.push(Span {
            start: open.start,
            end,
            label: open.label,
            tone: open.tone,
            group: open.group,
        });
    }
}

/// The prompts as phrases: back-to-back prompts of one queue become one
/// span, labelled with the queue and every file in it
/// (`welcome: welcome.wav, key-help.wav`), so the group an advice came
/// from shows and a spoken number is one label, not one per word.
pub fn phrases(prompts: &[Span]) -> Vec<Span> {
    let mut out: Vec<(Span, Vec<&str>)> = Vec::new();
    for p in prompts {
        if let Some((phrase, files)) = out.last_mut()
            && phrase.group == p.group
            && p.start - phrase.end <= PHRASE_GAP
        {
            phrase.end = phrase.end.max(p.end);
            files.push(&p.label);
            continue;
        }
        out.push((p.clone(), vec![&p.label]));
    }
    out.into_iter()
        .map(|(phrase, files)| {
            let files = files.join(", ");
            let label = match phrase.group.as_str() {
                "" => files,
                group => format!("{group}: {files}"),
            };
            Span { label, ..phrase }
        })
        .collect()
}

/// Events carry full paths; the picture has room for the name only.
fn file_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(t: f64, event: TimelineEvent) -> Entry {
        Entry { t, event }
    }

    fn music_start(t: f64, file: &str) -> Entry {
        entry(
            t,
            TimelineEvent::MusicStart {
                file: Arc::from(file),
                track: 0,
                offset: 0.0,
            },
        )
    }

    fn span(start: f64, end: f64, label: &str, tone: usize) -> Span {
        Span {
            start,
            end,
            label: label.to_string(),
            tone,
            group: String::new(),
        }
    }

    fn prompt(start: f64, end: f64, file: &str, group: &str) -> Span {
        Span {
            group: group.to_string(),
            ..span(start, end, file, 0)
        }
    }

    /// The 90 s demo's prompts: the welcome is two files a frame or two apart,
    /// each advice its own phrase, named with its group.
    #[test]
    fn back_to_back_prompts_of_one_queue_are_one_phrase() {
        let prompts = [
            prompt(1.02, 6.26, "welcome.wav", "welcome"),
            prompt(6.3, 10.86, "key-help.wav", "welcome"),
            prompt(21.02, 25.3, "01-online.ogg", "advice/first"),
            prompt(25.32, 26.0, "music-changed.wav", "key"),
            prompt(51.32, 54.54, "02-app.ogg", "advice/first"),
        ];
        let labels: Vec<_> = phrases(&prompts)
            .into_iter()
            .map(|p| (p.start, p.end, p.label))
            .collect();
        assert_eq!(
            labels,
            [
                (1.02, 10.86, "welcome: welcome.wav, key-help.wav".to_string()),
                (21.02, 25.3, "advice/first: 01-online.ogg".to_string()),
                (25.32, 26.0, "key: music-changed.wav".to_string()),
                (51.32, 54.54, "advice/first: 02-app.ogg".to_string()),
            ]
        );
    }

    #[test]
    fn switch_then_start_is_one_band_and_tracks_keep_their_tone() {
        let timeline = [
            music_start(0.0, "/moh/a.wav"),
            entry(
                10.0,
                TimelineEvent::MusicSwitch {
                    from: Some(Arc::from("/moh/a.wav")),
                    to: Arc::from("/moh/b.wav"),
                },
            ),
            music_start(10.0, "/moh/b.wav"),
            music_start(20.0, "/moh/a.wav"),
        ];
        let marks = Marks::from_timeline(&timeline, 30.0);
        assert_eq!(
            marks.music,
            [
                span(0.0, 10.0, "a.wav", 0),
                span(10.0, 20.0, "b.wav", 1),
                span(20.0, 30.0, "a.wav", 0)
            ]
        );
    }

    #[test]
    fn open_spans_run_to_the_end() {
        let timeline = [
            entry(1.0, TimelineEvent::DuckStart),
            entry(
                2.0,
                TimelineEvent::PromptStart {
                    file: Arc::from("prompts/en/welcome.wav"),
                    queue: Arc::from("welcome"),
                },
            ),
        ];
        let marks = Marks::from_timeline(&timeline, 5.0);
        assert_eq!(marks.ducks, [span(1.0, 5.0, "", 0)]);
        assert_eq!(marks.prompts, [prompt(2.0, 5.0, "welcome.wav", "welcome")]);
    }

    #[test]
    fn markers_are_labelled() {
        let timeline = [
            entry(
                1.0,
                TimelineEvent::Dtmf {
                    digit: '3',
                    action: Some(Arc::from("next-music")),
                },
            ),
            entry(
                2.0,
                TimelineEvent::Dtmf {
                    digit: '9',
                    action: None,
                },
            ),
            entry(3.0, TimelineEvent::Position { value: 4 }),
            entry(
                4.0,
                TimelineEvent::SourceError {
                    file: Arc::from("/x/bad.mp3"),
                },
            ),
            entry(
                5.0,
                TimelineEvent::Exit {
                    reason: "hangup".to_string(),
                },
            ),
        ];
        let labels: Vec<_> = Marks::from_timeline(&timeline, 5.0)
            .markers
            .into_iter()
            .map(|m| (m.kind, m.label))
            .collect();
        assert_eq!(
            labels,
            [
                (MarkerKind::Key, "3 next-music".to_string()),
                (MarkerKind::Key, "9".to_string()),
                (MarkerKind::Position, "pos 4".to_string()),
                (MarkerKind::Error, "error bad.mp3".to_string()),
                (MarkerKind::Exit, "exit hangup".to_string()),
            ]
        );
    }
}
