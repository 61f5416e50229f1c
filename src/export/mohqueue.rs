//! `holdmix render PLAYLIST --mohqueue DIR`: the hold experience as the
//! files Kamailio's mohqueue module has rtpproxy play, one seamless loop
//! per RTP payload type, named `mohfile.<payload type>`.
//!
//! rtpproxy's player (`rtpp_server.c`) opens `<mohdir>/<mohfile>.<pt>`
//! and reads raw payload with no header: per packet of `ptime` ms (10 by
//! default) 8 bytes a millisecond for PCMU, PCMA and G.722, and it jumps
//! back to the file's start when a read comes up short, dropping the
//! partial packet. So each file here is the bare codec stream, its length
//! a whole number of 120 ms (every `ptime` of 10, 20, 30, 40 or 60 ms
//! divides it, so nothing is dropped at the jump), and its end crossfaded
//! into its start ([`super::seamless`]).
//!
//! One render at 16 kHz feeds every file: G.722 is a 16 kHz codec, so its
//! wideband file is encoded straight from the render (rtpproxy's own
//! `makeann` feeds it 8 kHz audio and wastes the upper band); the 8 kHz
//! G.711 files and the 44.1 kHz L16 files are resampled from the same
//! render, so every file plays the same call to the sample. (An L16 file
//! carries the 16 kHz render's band: the sources are telephone music, and
//! rtpproxy's player does not stream L16 anyway — see docs/kamailio.md.)

use super::seamless::{Looper, Out};
use crate::audio::cache::Cache;
use crate::audio::format::{Format, to_i16};
use crate::audio::{g722, resample};
use crate::cmd::render::{RenderOptions, RenderSummary, drive};
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's base name, mohqueue's `mohfile` column.
pub const BASE_NAME: &str = "mohfile";
/// The render's rate.
const RENDER_RATE: u32 = 16_000;
/// Loop lengths are a whole number of this many ms.
pub const GRAIN_MS: u64 = 120;
/// The crossfade of the end into the start.
const FADE_MS: u64 = 50;
/// The shortest loop written.
const MIN_LOOP_MS: u64 = 1_000;

/// The payload types written, in mohqueue's order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    G722,
    Pcmu,
    Pcma,
    /// L16/44100, two channels (RFC 3551's payload type 10).
    L16Stereo,
    /// L16/44100, one channel (payload type 11).
    L16Mono,
}

impl Payload {
    pub const ALL: [Payload; 5] = [
        Payload::G722,
        Payload::Pcmu,
        Payload::Pcma,
        Payload::L16Stereo,
        Payload::L16Mono,
    ];

    pub fn payload_type(self) -> u8 {
        match self {
            Payload::Pcmu => 0,
            Payload::Pcma => 8,
            Payload::G722 => 9,
            Payload::L16Stereo => 10,
            Payload::L16Mono => 11,
        }
    }

    /// The audio rate of the file's samples.
    pub fn rate(self) -> u32 {
        match self {
            Payload::Pcmu | Payload::Pcma => 8_000,
            Payload::G722 => g722::RATE,
            Payload::L16Stereo | Payload::L16Mono => 44_100,
        }
    }

    pub fn bytes_per_second(self) -> u64 {
        match self {
            Payload::Pcmu | Payload::Pcma => 8_000,
            Payload::G722 => g722::BYTES_PER_SECOND,
            Payload::L16Stereo => 44_100 * 4,
            Payload::L16Mono => 44_100 * 2,
        }
    }

    pub fn file_name(self) -> String {
        format!("{BASE_NAME}.{}", self.payload_type())
    }
}

/// The loop's length: `duration` to the nearest whole [`GRAIN_MS`].
pub fn loop_length(duration: Duration) -> Result<Duration> {
    let ms = duration.as_millis() as u64;
    if ms < MIN_LOOP_MS {
        bail!("--mohqueue: a loop of {ms} ms is too short; give --duration 1s or more (30m is typical)");
    }
    let grains = (ms + GRAIN_MS / 2) / GRAIN_MS;
    Ok(Duration::from_millis(grains * GRAIN_MS))
}

/// One payload type's file, written under a temporary name and renamed
/// into place at the end (a player reading the old file keeps it whole).
struct PayloadFile {
    payload: Payload,
    tmp: PathBuf,
    path: PathBuf,
    file: BufWriter<File>,
    g722: Option<g722::Encoder>,
    pcm: Vec<i16>,
    bytes: Vec<u8>,
    written: u64,
}

impl PayloadFile {
    fn create(dir: &Path, payload: Payload) -> Result<PayloadFile> {
        let path = dir.join(payload.file_name());
        let tmp = dir.join(format!(".{}.tmp", payload.file_name()));
        let file = File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
        Ok(PayloadFile {
            payload,
            tmp,
            path,
            file: BufWriter::new(file),
            g722: (payload == Payload::G722).then(g722::Encoder::new),
            pcm: Vec::new(),
            bytes: Vec::new(),
            written: 0,
        })
    }

    fn encode(&mut self, samples: &[f32]) {
        self.bytes.clear();
        match self.payload {
            Payload::Pcmu => Format::Ulaw.encode(samples, &mut self.bytes),
            Payload::Pcma => Format::Alaw.encode(samples, &mut self.bytes),
            Payload::G722 => {
                self.pcm.clear();
                self.pcm.extend(samples.iter().map(|&s| to_i16(s)));
                if let Some(e) = &mut self.g722 {
                    e.encode(&self.pcm, &mut self.bytes);
                }
            }
            // Network byte order (RFC 3551 section 4.5.11); stereo frames
            // are left then right, the same mono render in both.
            Payload::L16Stereo => {
                for &s in samples {
                    let b = to_i16(s).to_be_bytes();
                    self.bytes.extend_from_slice(&[b[0], b[1], b[0], b[1]]);
                }
            }
            Payload::L16Mono => {
                for &s in samples {
                    self.bytes.extend_from_slice(&to_i16(s).to_be_bytes());
                }
            }
        }
    }
}

/// The files at one rate, fed by one looper.
struct Fan(Vec<PayloadFile>);

impl Out for Fan {
    fn prime(&mut self, head: &[f32]) -> std::io::Result<()> {
        // Only G.722 has state: it runs through the audio that precedes the
        // file's start, which is also what the file's end fades into, so
        // the decoder is where it should be when the loop jumps.
        for f in &mut self.0 {
            if f.g722.is_some() {
                f.encode(head);
            }
        }
        Ok(())
    }

    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        for f in &mut self.0 {
            f.encode(samples);
            f.file.write_all(&f.bytes)?;
            f.written += f.bytes.len() as u64;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        for f in &mut self.0 {
            f.file.flush()?;
            f.file.get_ref().sync_all()?;
        }
        Ok(())
    }
}

/// One rate's chain: a resampler from the render's rate, then the looper.
struct Chain {
    resampler: resample::Stream,
    looper: Looper<Fan>,
    scratch: Vec<f32>,
}

impl Chain {
    fn push(&mut self, frame: &[f32]) -> Result<()> {
        self.scratch.clear();
        self.resampler.push(frame, &mut self.scratch)?;
        self.looper.push(&self.scratch)?;
        Ok(())
    }

    fn finish(mut self) -> Result<Fan> {
        self.scratch.clear();
        self.resampler.finish(&mut self.scratch)?;
        self.looper.push(&self.scratch)?;
        Ok(self.looper.finish()?)
    }
}

/// Renders the playlist once and writes every payload type's loop into
/// `dir` (created if missing); with `opts.routes`, one subdirectory per
/// route, each with its route's playlist.
pub fn export(opts: &RenderOptions, dir: &Path, cache: &Cache) -> Result<RenderSummary> {
    let Some(routes_file) = &opts.routes else {
        return export_one(opts, dir, cache);
    };
    let routes = crate::routes::parse::load_valid(routes_file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", routes_file.display()))?;
    let (mut last, mut errors) = (None, 0);
    for route in routes.all() {
        let sub = dir.join(&route.name);
        let per_route = RenderOptions {
            playlist: route.playlist.clone(),
            routes: None,
            mohqueue: Some(sub.clone()),
            timeline: None,
            plot: None,
            events: opts.events.clone(),
            caller: opts.caller.clone(),
            output: opts.output.clone(),
            ..*opts
        };
        tracing::info!(route = %route.name, dir = %sub.display(), "mohqueue route");
        let summary = export_one(&per_route, &sub, cache)?;
        errors += summary.playlist_errors;
        last = Some(summary);
    }
    let mut summary = last.context("the routes file names no route")?;
    summary.playlist_errors = errors;
    Ok(summary)
}

fn export_one(opts: &RenderOptions, dir: &Path, cache: &Cache) -> Result<RenderSummary> {
    let len = loop_length(opts.duration)?;
    if len != opts.duration {
        tracing::warn!(
            "--mohqueue: the loop lasts {:.3} s, a whole number of {GRAIN_MS} ms packets (asked {:.3} s)",
            len.as_secs_f64(),
            opts.duration.as_secs_f64()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let len_ms = len.as_millis() as usize;
    let mut chains = Vec::new();
    for rate in [8_000u32, RENDER_RATE, 44_100] {
        let files = Payload::ALL
            .iter()
            .filter(|p| p.rate() == rate)
            .map(|&p| PayloadFile::create(dir, p))
            .collect::<Result<Vec<_>>>()?;
        let per_ms = rate as usize / 1000;
        let per_ms_frac = rate as usize % 1000;
        // 44.1 samples a millisecond: lengths are in whole 120 ms grains,
        // which hold a whole number of samples at every rate here.
        let samples = |ms: usize| ms * per_ms + ms * per_ms_frac / 1000;
        chains.push(Chain {
            resampler: resample::Stream::new(RENDER_RATE, rate)?,
            looper: Looper::new(Fan(files), samples(len_ms), samples(FADE_MS as usize)),
            scratch: Vec::new(),
        });
    }
    // The render runs past the loop by the fade, and a frame more so the
    // resamplers' last outputs are the render's, not their padding.
    let total = len + Duration::from_millis(FADE_MS + 20);
    let summary = drive(opts, cache, RENDER_RATE, total, &mut |frame| {
        for c in &mut chains {
            c.push(frame)?;
        }
        Ok(())
    })?;
    for c in chains {
        let fan = c.finish()?;
        for f in fan.0 {
            let expected = len.as_millis() as u64 * f.payload.bytes_per_second() / 1000;
            if f.written != expected {
                bail!(
                    "{}: wrote {} bytes, expected {expected} (a bug: please report it)",
                    f.path.display(),
                    f.written
                );
            }
            std::fs::rename(&f.tmp, &f.path)
                .with_context(|| format!("{}: cannot rename into place", f.path.display()))?;
            tracing::info!(file = %f.path.display(), bytes = f.written, "mohqueue file written");
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_are_whole_grains() {
        assert_eq!(
            loop_length(Duration::from_secs(1800)).unwrap(),
            Duration::from_secs(1800)
        );
        assert_eq!(
            loop_length(Duration::from_secs(1)).unwrap(),
            Duration::from_millis(960)
        );
        assert!(loop_length(Duration::from_millis(500)).is_err());
    }

    #[test]
    fn sizes_per_second() {
        assert_eq!(Payload::L16Stereo.bytes_per_second(), 176_400);
        assert_eq!(Payload::G722.bytes_per_second(), 8_000);
        assert_eq!(Payload::Pcma.file_name(), "mohfile.8");
    }
}
