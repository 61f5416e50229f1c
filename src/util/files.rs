//! One rule for every file holdmix reads by name (playlists, sound maps,
//! accounts files, checkpoints, secret files): open without blocking, take
//! only a regular file, and never more than the limit of its kind.
//!
//! A name can point at anything: a FIFO (whose `open` waits for a writer
//! forever, with the process deaf to signals), a device (`/dev/zero` never
//! ends), a directory, or a file far larger than any real one. Each of
//! those once hung a call or filled the host. So the name is looked at
//! first (a device is never opened at all), then opened with `O_NONBLOCK`
//! (a FIFO swapped in since cannot block the open), and the opened file
//! itself is looked at again with `fstat` (what the name pointed at can
//! change between the two; the descriptor cannot). At most limit + 1 bytes
//! are read: `st_size` is not trusted alone (a `/proc` file says 0, a file
//! may grow while it is read).
//!
//! | kind          | limit   | what real ones hold                       |
//! |---------------|---------|-------------------------------------------|
//! | playlist      | 4 MiB   | a few KiB; 20,000 track lines ≈ 1.5 MiB   |
//! | sound map     | 1 MiB   | a few hundred tokens, ≈ 2 KiB             |
//! | accounts file | 16 MiB  | demo ≈ 0.5 KiB; read whole at each lookup |
//! | checkpoint    | 128 KiB | always 65,712 bytes (two 32 KiB slots)    |
//! | secret file   | 64 KiB  | one line: a password or a bearer token    |

use rustix::fs::{FileType, Mode, OFlags};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a file is for; each kind has its own size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Playlist,
    SoundMap,
    Accounts,
    Checkpoint,
    Secret,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

impl Kind {
    /// The largest file of this kind that is read, in bytes.
    pub const fn limit(self) -> u64 {
        match self {
            Kind::Playlist => 4 * MIB,
            Kind::SoundMap => MIB,
            Kind::Accounts => 16 * MIB,
            Kind::Checkpoint => 128 * KIB,
            Kind::Secret => 64 * KIB,
        }
    }

    /// As errors name it.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Playlist => "playlist",
            Kind::SoundMap => "sound map",
            Kind::Accounts => "accounts file",
            Kind::Checkpoint => "checkpoint",
            Kind::Secret => "secret file",
        }
    }

    /// Checkpoints live in a private directory where a symlink can only be
    /// a plant: they are never followed. Names an operator wrote (a
    /// playlist, a map) may well be links, and are.
    const fn follows_links(self) -> bool {
        !matches!(self, Kind::Checkpoint)
    }
}

/// Why a file was not read. Names the file and its kind; the caller adds
/// where the name came from (a key, a line and column).
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub kind: Kind,
    pub problem: Problem,
}

#[derive(Debug)]
pub enum Problem {
    /// The name could not be opened (or looked at): missing, no permission...
    Open(std::io::Error),
    /// Not a regular file: what it is instead ("a FIFO", "a directory").
    NotRegular(&'static str),
    /// Larger than the kind's limit; `None` when the size was found by
    /// reading (the file grew, or says nothing of its size in advance).
    TooLarge(Option<u64>),
    Read(std::io::Error),
    NotUtf8,
}

impl FileError {
    /// The name does not exist (a file being replaced, say): worth trying
    /// again later rather than reporting.
    pub fn is_missing(&self) -> bool {
        matches!(&self.problem, Problem::Open(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, kind) = (self.path.display(), self.kind.name());
        let limit = size(self.kind.limit());
        match &self.problem {
            Problem::Open(e) => write!(f, "{path}: cannot open the {kind}: {e}"),
            Problem::NotRegular(what) => {
                write!(
                    f,
                    "{path}: is {what}, not a regular file (the {kind} must be one)"
                )
            }
            Problem::TooLarge(Some(n)) => {
                write!(f, "{path}: the {kind} is {}, over its limit of {limit}", size(*n))
            }
            Problem::TooLarge(None) => {
                write!(f, "{path}: the {kind} holds more than its limit of {limit}")
            }
            Problem::Read(e) => write!(f, "{path}: cannot read the {kind}: {e}"),
            Problem::NotUtf8 => write!(f, "{path}: the {kind} is not UTF-8 text"),
        }
    }
}

impl std::error::Error for FileError {}

/// A byte count as people read it. Hand-written: six lines, where a crate
/// would bring its own formats and options.
fn size(n: u64) -> String {
    if n < KIB {
        format!("{n} bytes")
    } else if n < MIB {
        format!("{:.1} KiB", n as f64 / KIB as f64)
    } else {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    }
}

/// What a file type is called in an error; `None` for a regular file.
fn not_regular(t: FileType) -> Option<&'static str> {
    match t {
        FileType::RegularFile => None,
        FileType::Directory => Some("a directory"),
        FileType::Fifo => Some("a FIFO"),
        FileType::CharacterDevice => Some("a character device"),
        FileType::BlockDevice => Some("a block device"),
        FileType::Socket => Some("a socket"),
        FileType::Symlink => Some("a symbolic link"),
        FileType::Unknown => Some("not a file"),
    }
}

/// Opens `path` as a file of `kind`: a regular file within the kind's
/// limit. Returns the file and its size; never blocks on a FIFO or a device.
pub fn open(path: &Path, kind: Kind) -> Result<(File, u64), FileError> {
    let fail = |problem| FileError {
        path: path.to_path_buf(),
        kind,
        problem,
    };
    let checked = |st: &rustix::fs::Stat| {
        if let Some(what) = not_regular(FileType::from_raw_mode(st.st_mode)) {
            return Err(fail(Problem::NotRegular(what)));
        }
        // Never negative for a regular file.
        let len = u64::try_from(st.st_size).unwrap_or(0);
        if len > kind.limit() {
            return Err(fail(Problem::TooLarge(Some(len))));
        }
        Ok(len)
    };
    // The name first: a device is refused without being opened (opening
    // one can have effects of its own: a tape rewinds, a modem hangs up).
    let named = if kind.follows_links() {
        rustix::fs::stat(path)
    } else {
        rustix::fs::lstat(path)
    };
    checked(&named.map_err(|e| fail(Problem::Open(e.into())))?)?;
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if !kind.follows_links() {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| fail(Problem::Open(e.into())))?;
    // Then what was opened: the name may point elsewhere by now.
    let len = checked(&rustix::fs::fstat(&fd).map_err(|e| fail(Problem::Open(e.into())))?)?;
    Ok((File::from(fd), len))
}

/// The bytes of a file of `kind` (see [`open`]).
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, FileError> {
    let (file, len) = open(path, kind)?;
    let limit = kind.limit();
    // `len` is a hint only (a /proc file says 0); capped, as it may lie.
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(limit)).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError {
            path: path.to_path_buf(),
            kind,
            problem: Problem::Read(e),
        })?;
    if bytes.len() as u64 > limit {
        return Err(FileError {
            path: path.to_path_buf(),
            kind,
            problem: Problem::TooLarge(None),
        });
    }
    Ok(bytes)
}

/// The text of a file of `kind` (see [`open`]); it must be UTF-8.
pub fn read_string(path: &Path, kind: Kind) -> Result<String, FileError> {
    String::from_utf8(read(path, kind)?).map_err(|_| FileError {
        path: path.to_path_buf(),
        kind,
        problem: Problem::NotUtf8,
    })
}

/// The first line of a secret file, without its line ending: where
/// passwords and tokens are kept out of command lines and configs.
pub fn read_secret_line(path: &Path) -> Result<String, FileError> {
    let text = read_string(path, Kind::Secret)?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }

    #[test]
    fn a_regular_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, "[music]\n").unwrap();
        assert_eq!(read_string(&p, Kind::Playlist).unwrap(), "[music]\n");
        let (_, len) = open(&p, Kind::Playlist).unwrap();
        assert_eq!(len, 8);
        std::fs::write(&p, "s3cret\nsecond line\n").unwrap();
        assert_eq!(read_secret_line(&p).unwrap(), "s3cret");
    }

    #[test]
    fn a_fifo_is_refused_at_once_for_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        mkfifo(&p);
        for kind in [
            Kind::Playlist,
            Kind::SoundMap,
            Kind::Accounts,
            Kind::Checkpoint,
            Kind::Secret,
        ] {
            let start = Instant::now();
            let e = read(&p, kind).unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(5), "blocked");
            assert!(matches!(e.problem, Problem::NotRegular("a FIFO")), "{e:?}");
            let text = e.to_string();
            assert!(
                text.contains("fifo: is a FIFO, not a regular file") && text.contains(kind.name()),
                "{text}"
            );
        }
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = read(Path::new("/dev/zero"), Kind::Accounts).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file (the accounts file must be one)"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), Kind::SoundMap).unwrap_err();
        assert!(matches!(e.problem, Problem::NotRegular("a directory")), "{e}");
        let e = read(&dir.path().join("none"), Kind::Playlist).unwrap_err();
        assert!(e.is_missing(), "{e}");
        assert!(e.to_string().contains("No such file"), "{e}");
    }

    #[test]
    fn a_file_over_its_limit_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        // Sparse: 300 MiB that take no disk.
        let f = File::create(&p).unwrap();
        f.set_len(300 * MIB).unwrap();
        for kind in [Kind::Playlist, Kind::SoundMap, Kind::Accounts, Kind::Secret] {
            let e = read(&p, kind).unwrap_err();
            assert!(
                matches!(e.problem, Problem::TooLarge(Some(n)) if n == 300 * MIB),
                "{e:?}"
            );
            assert!(e.to_string().contains("is 300.0 MiB, over its limit of"), "{e}");
        }
        // At the limit is fine; one byte more is not.
        for kind in [Kind::Checkpoint, Kind::Secret, Kind::SoundMap] {
            f.set_len(kind.limit()).unwrap();
            assert_eq!(read(&p, kind).unwrap().len() as u64, kind.limit());
            f.set_len(kind.limit() + 1).unwrap();
            let e = read(&p, kind).unwrap_err();
            assert!(e.to_string().contains(&size(kind.limit())), "{e}");
        }
    }

    #[test]
    fn a_proc_file_is_read_though_it_says_it_is_empty() {
        let p = Path::new("/proc/self/status");
        assert_eq!(open(p, Kind::Secret).unwrap().1, 0, "procfs gives no size");
        let text = read_string(p, Kind::Secret).unwrap();
        assert!(text.starts_with("Name:"), "{text}");
    }

    #[test]
    fn checkpoints_are_never_followed_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read(&link, Kind::Playlist).unwrap(), b"x");
        let e = read(&link, Kind::Checkpoint).unwrap_err();
        assert!(matches!(e.problem, Problem::NotRegular("a symbolic link")), "{e}");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("latin1.toml");
        std::fs::write(&p, b"name = \"caf\xe9\"\n").unwrap();
        let e = read_string(&p, Kind::Playlist).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: the playlist is not UTF-8 text", p.display())
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(65_712), "64.2 KiB");
        assert_eq!(size(4 * MIB), "4.0 MiB");
    }
}
