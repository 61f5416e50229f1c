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

/// Where the sample recordings' maps are: the source tree (relative to
/// the working directory), then where the Debian package installs them.
const MAP_PLACES: [&str; 2] = ["sample-audio/words", "/usr/share/holdmix/words"];

/// The sample recordings' map for `lang`, from the first of [`MAP_PLACES`]
/// that has one.
fn default_map(lang: Lang) -> Result<PathBuf> {
    map_in(&MAP_PLACES.map(PathBuf::from), lang)
}

fn map_in(places: &[PathBuf], lang: Lang) -> Result<PathBuf> {
    let maps: Vec<PathBuf> = places
        .iter()
        .map(|p| p.join(lang.code()).join("map.toml"))
        .collect();
    match maps.iter().find(|m| m.is_file()) {
        Some(m) => Ok(m.clone()),
        None => {
            let tried: Vec<String> = maps.iter().map(|m| m.display().to_string()).collect();
            bail!("no sound map: give --map FILE (none at {})", tried.join(" or "))
        }
    }
}

fn write(output: Option<&Path>, format: Format, samples: &[f32]) -> Result<()> {
    let mut bytes = Vec::with_capacity(samples.len() * 2);
    format.encode(samples, &mut bytes);
    let mut sink = Sink::open(output.unwrap_or(Path::new("-")), format)?;
    sink.write(format, &bytes)?;
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_map_is_the_first_place_that_has_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (tree, package) = (tmp.path().join("tree"), tmp.path().join("package"));
        std::fs::create_dir_all(package.join("en")).unwrap();
        std::fs::write(package.join("en/map.toml"), "").unwrap();
        let places = [tree.clone(), package.clone()];
        assert_eq!(map_in(&places, Lang::En).unwrap(), package.join("en/map.toml"));
        std::fs::create_dir_all(tree.join("en")).unwrap();
        std::fs::write(tree.join("en/map.toml"), "").unwrap();
        assert_eq!(map_in(&places, Lang::En).unwrap(), tree.join("en/map.toml"));
        let e = format!("{:#}", map_in(&places, Lang::Ru).unwrap_err());
        assert_eq!(
            e,
            format!(
                "no sound map: give --map FILE (none at {} or {})",
                tree.join("ru/map.toml").display(),
                package.join("ru/map.toml").display()
            )
        );
    }
}
