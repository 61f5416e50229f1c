//! Where rendered audio goes: a WAV file (when the name ends in `.wav`), a
//! raw file in the output format, or stdout for `-`. A file is written
//! beside its name and renamed onto it when whole: a render that fails
//! leaves the last good file, not a header.

use super::format::Format;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::TempPath;

pub struct Sink {
    to: To,
    /// Renamed onto its path by [`Sink::finish`]; removed if dropped.
    pending: Option<(TempPath, PathBuf)>,
}

enum To {
    Wav(hound::WavWriter<BufWriter<File>>),
    Raw(Box<dyn Write>),
}

impl Sink {
    pub fn open(path: &Path, format: Format) -> Result<Sink> {
        if path == Path::new("-") {
            return Ok(Sink {
                to: To::Raw(Box::new(BufWriter::new(std::io::stdout().lock()))),
                pending: None,
            });
        }
        let cannot = || format!("{}: cannot create output", path.display());
        let is_wav = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        // A pipe or a device (`/dev/stdout`, a FIFO) is written as it is.
        let regular = std::fs::metadata(path).map_or(true, |m| m.is_file());
        let (file, pending) = if regular {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            let (file, tmp) = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".tmp")
                // As `File::create` would: the umask decides.
                .permissions(std::fs::Permissions::from_mode(0o666))
                .tempfile_in(dir)
                .map_err(without_temp_name)
                .with_context(cannot)?
                .into_parts();
            (file, Some((tmp, path.to_path_buf())))
        } else {
            (File::create(path).with_context(cannot)?, None)
        };
        let to = if is_wav {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: format.rate(),
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            To::Wav(hound::WavWriter::new(BufWriter::new(file), spec)?)
        } else {
            To::Raw(Box::new(BufWriter::new(file)))
        };
        Ok(Sink { to, pending })
    }

    /// Writes encoded audio (`bytes` in `format`).
    pub fn write(&mut self, format: Format, bytes: &[u8]) -> Result<()> {
        match &mut self.to {
            To::Wav(w) => {
                for s in format.decode(bytes) {
                    w.write_sample(s)?;
                }
            }
            To::Raw(w) => w.write_all(bytes)?,
        }
        Ok(())
    }

    /// Completes the file and puts it in place.
    pub fn finish(self) -> Result<()> {
        match self.to {
            To::Wav(w) => w.finalize()?,
            To::Raw(mut w) => w.flush()?,
        }
        if let Some((tmp, path)) = self.pending {
            tmp.persist(&path)
                .with_context(|| format!("{}: cannot create output", path.display()))?;
        }
        Ok(())
    }
}

/// A temporary file's failure without the temporary's own name, which
/// tempfile adds (` at path ".x.wav.Uad5Zd.tmp"`) and the user never
/// asked for: the message names the output they gave.
fn without_temp_name(e: std::io::Error) -> std::io::Error {
    let text = e.to_string();
    match text.split_once(" at path \"") {
        Some((cause, _)) => std::io::Error::new(e.kind(), cause.to_string()),
        None => e,
    }
}
