//! What holdmix needs to know and set about its stdout when Asterisk reads it
//! through a pipe: is it a pipe, how much is waiting in it (`FIONREAD`), a
//! smaller buffer (`F_SETPIPE_SZ`) and non-blocking writes, so a stalled
//! reader never blocks the audio loop and no write is ever partial.
//!
//! The tick's two calls (`write`, and `FIONREAD` when the pacer measures)
//! are made directly (rustix): libc's wrappers are cancellation points, which
//! in a process with threads means extra calls and their cold pages around
//! each one.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};

/// True when `fd` is a FIFO (a pipe).
pub fn is_pipe(fd: RawFd) -> bool {
    // SAFETY: fstat fills the zeroed struct; any fd value is safe to pass.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstat(fd, &mut st) };
    r == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO
}

/// Bytes waiting in the pipe (written, not yet read).
pub fn queued_bytes(fd: RawFd) -> io::Result<usize> {
    // SAFETY: the caller's fd stays open for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(rustix::io::ioctl_fionread(fd)? as usize)
}

/// True when the pipe's read end is closed (`POLLERR` on the write end):
/// nobody will ever read it again.
pub fn reader_gone(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Sets the pipe buffer size; returns the size the kernel chose.
pub fn set_pipe_size(fd: RawFd, bytes: usize) -> io::Result<usize> {
    // SAFETY: plain fcntl on an fd.
    let r = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, bytes as libc::c_int) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain fcntl on an fd.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One `write(2)`; pipes make writes of at most 4096 bytes atomic.
pub fn write_once(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: the caller's fd stays open for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(rustix::io::write(fd, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn fionread_counts_pipe_content() {
        let (r, w) = std::io::pipe().unwrap();
        let wfd = w.as_raw_fd();
        assert!(is_pipe(wfd));
        assert_eq!(write_once(wfd, &[0u8; 640]).unwrap(), 640);
        assert_eq!(queued_bytes(wfd).unwrap(), 640);
        assert!(set_pipe_size(wfd, 8192).unwrap() >= 8192);
        assert!(!reader_gone(wfd));
        drop(r);
        assert!(reader_gone(wfd));
    }
}
