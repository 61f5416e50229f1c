//! Where rendered audio goes: a WAV file (when the name ends in `.wav`), a
//! raw file in the output format, or stdout for `-`.

use super::format::Format;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

pub enum Sink {
    Wav(hound::WavWriter<BufWriter<File>>),
    Raw(Box<dyn Write>),
}

impl Sink {
    pub fn open(path: &Path, format: Format) -> Result<Sink> {
        if path == Path::new("-") {
            return Ok(Sink::Raw(Box::new(BufWriter::new(std::io::stdout().lock()))));
        }
        let is_wav = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        let file = File::create(path).with_context(|| format!("{}: cannot create output", path.display()))?;
        if is_wav {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: format.rate(),
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            Ok(Sink::Wav(hound::WavWriter::new(BufWriter::new(file), spec)?))
        } else {
            Ok(Sink::Raw(Box::new(BufWriter::new(file))))
        }
    }

    /// Writes encoded audio (`bytes` in `format`).
    pub fn write(&mut self, format: Format, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Wav(w) => {
                for s in format.decode(bytes) {
                    w.write_sample(s)?;
                }
            }
            Sink::Raw(w) => w.write_all(bytes)?,
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Wav(w) => w.finalize()?,
            Sink::Raw(mut w) => w.flush()?,
        }
        Ok(())
    }
}
