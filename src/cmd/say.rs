//! `holdmix say`: one value spoken through a sound map, to a file or
//! stdout, or (`--list`) the recordings it takes, one per line.

use crate::audio::cache::Cache;
use crate::audio::format::Format;
use crate::audio::loudness;
use crate::audio::sink::Sink;
use crate::cli::SayArgs;
use crate::speech::{self, Lang, map::SoundMap};
use anyhow::{Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Loudness every word is brought to (as playlists' default).
const TARGET_LUFS: f64 = -20.0;
/// Fade at each word's edges, so joins never click.
const EDGE_MS: u32 = 5;

pub fn say(opts: &SayArgs, cache: &Cache) -> Result<()> {
    // The value is checked before the map is read: a bad value is the
    // caller's error whatever the map.
    speech::say_as(opts.lang, opts.kind, &opts.value, opts.gender).map_err(|e| anyhow::anyhow!("{e}"))?;
    let map_path = match &opts.map {
        Some(p) => p.clone(),
        None => default_map(opts.lang)?,
    };
    let map = SoundMap::load(&map_path)?;
    if map.lang != opts.lang {
        bail!(
            "{}: a {} map, not {}",
            map_path.display(),
            map.lang.code(),
            opts.lang.code()
        );
    }
    let spoken = speech::speak(&map, opts.kind, &opts.value, opts.gender).map_err(|e| match e {
        speech::Unsaid::NoRecording(t) => anyhow::anyhow!(
            "{}: no recording for token {t:?} in any form; the value cannot be said whole",
            map_path.display()
        ),
        speech::Unsaid::Value(e) => anyhow::anyhow!("{e}"),
    })?;
    for (wanted, used) in &spoken.substituted {
        tracing::warn!("no recording for {wanted:?}: said with {used:?}");
    }
    if opts.list {
        let mut out = std::io::stdout().lock();
        for f in &spoken.files {
            writeln!(out, "{}", f.display())?;
        }
        return Ok(());
    }
    let rate = opts.format.rate();
    let mut samples = Vec::new();
    let edge = (rate * EDGE_MS / 1000) as usize;
    for f in &spoken.files {
        let clip = cache.load(f, rate)?;
        let gain = loudness::gain_for(clip.lufs(), TARGET_LUFS);
        let s = clip.samples();
        let n = s.len();
        for (i, x) in s.iter().enumerate() {
            let fade = (i.min(n - 1 - i) as f32 / edge.max(1) as f32).min(1.0);
            samples.push((x * gain * fade).clamp(-1.0, 1.0));
        }
    }
    write(opts.output.as_deref(), opts.format, &samples)
}

/// The sample recordings' map, when run from the source tree.
fn default_map(lang: Lang) -> Result<PathBuf> {
    let p = PathBuf::from(format!("sample-audio/words/{}/map.toml", lang.code()));
    if p.is_file() {
        Ok(p)
    } else {
        bail!(
            "no sound map: give --map FILE (the sample one is sample-audio/words/{}/map.toml)",
            lang.code()
        )
    }
}

fn write(output: Option<&Path>, format: Format, samples: &[f32]) -> Result<()> {
    let mut bytes = Vec::with_capacity(samples.len() * 2);
    format.encode(samples, &mut bytes);
    let mut sink = Sink::open(output.unwrap_or(Path::new("-")), format)?;
    sink.write(format, &bytes)?;
    sink.finish()
}
