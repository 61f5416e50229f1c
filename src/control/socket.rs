//! The Unix sockets of control and of the hub: created with a mode (a
//! stale socket of ours replaced, anything else left alone and named in
//! the error), removed when dropped, and who is at the other end
//! (`SO_PEERCRED`).

use anyhow::{Context, bail};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A listening socket that is removed from the file system when dropped.
pub struct Bound {
    pub listener: UnixListener,
    path: PathBuf,
    /// The socket file's identity: only ours is removed (another process
    /// may have replaced a stale one since).
    ino: u64,
}

impl Bound {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            std::fs::remove_file(&self.path).ok();
        }
    }
}

/// Binds `path` with `mode`. Something already at `path` is replaced only
/// when it is a stale socket of our own: a socket (not a symlink, file or
/// directory), owned by our uid, that refuses connections. `flag` names
/// the option that chose the path, for the error.
pub fn bind(path: &Path, mode: u32, flag: &str) -> anyhow::Result<Bound> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            let kind = meta.file_type();
            if !kind.is_socket() {
                let what = if kind.is_symlink() {
                    "a symlink"
                } else if kind.is_dir() {
                    "a directory"
                } else if kind.is_file() {
                    "a regular file"
                } else {
                    "not a socket"
                };
                bail!(
                    "{}: {what} is there; not replacing it (remove it, or choose another {flag})",
                    path.display()
                );
            }
            let ours = own_uid();
            if meta.uid() != ours {
                bail!(
                    "{}: a socket owned by uid {}, not ours ({ours}); not replacing it",
                    path.display(),
                    meta.uid()
                );
            }
            match UnixStream::connect(path) {
                Ok(_) => bail!("{}: another process is listening there", path.display()),
                // Nobody listens: a stale socket from a previous run.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).with_context(|| path.display().to_string())?;
                }
                Err(e) => bail!("{}: {e}; not replacing it", path.display()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("{}: {e}", path.display()),
    }
    // Between the bind and the chmod, another user could connect: the
    // listener checks every peer's uid anyway (see `listener`).
    let listener = UnixListener::bind(path).with_context(|| path.display().to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| path.display().to_string())?;
    let ino = std::fs::symlink_metadata(path)
        .with_context(|| path.display().to_string())?
        .ino();
    Ok(Bound {
        listener,
        path: path.to_path_buf(),
        ino,
    })
}

/// The uid this process runs as.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The uid of the process at the other end (`SO_PEERCRED`: what it was
/// when it connected, set by the kernel).
pub fn peer_uid(stream: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    // Hand-written: std's `peer_cred` is unstable, and rustix's needs its
    // `net` feature (a rebuild of every crate on rustix) for one call.
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is
    // a valid, properly sized ucred for the duration of the call.
    let ok = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    } == 0;
    (ok && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}
