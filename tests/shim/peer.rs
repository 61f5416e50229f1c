//! A stand-in hub for `holdmix-shim`'s tests: a real Unix socket that speaks
//! the hand-over protocol (docs/hub-audio.md) from the hub's side, as the
//! AMI tests' servers speak captured transcripts: it takes the message and
//! the pipe that rides on it as `SCM_RIGHTS`, and says what a test scripts.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Peer {
    listener: UnixListener,
    pub path: PathBuf,
}

/// One hand-over as the hub received it.
pub struct Handover {
    pub conn: UnixStream,
    /// The shim's stdout: the pipe to the reader.
    pub pipe: std::fs::File,
    /// The body's NUL-terminated entries, in order.
    pub entries: Vec<String>,
}

impl Peer {
    pub fn bind(dir: &Path) -> Peer {
        Peer::bind_as(dir, "hub.sock")
    }

    /// A second stand-in (a standby hub) at `dir/name`.
    pub fn bind_as(dir: &Path, name: &str) -> Peer {
        let path = dir.join(name);
        let listener = UnixListener::bind(&path).expect("bind the hub socket");
        listener.set_nonblocking(true).expect("nonblocking");
        Peer { listener, path }
    }

    /// The next hand-over, waiting at most `limit` for the shim.
    pub fn accept(&self, limit: Duration) -> Handover {
        let start = Instant::now();
        let conn = loop {
            match self.listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("no hand-over within {limit:?}: {e}"),
            }
        };
        conn.set_nonblocking(false).expect("blocking");
        conn.set_read_timeout(Some(limit)).expect("timeout");
        let (mut bytes, pipe) = recv_with_fd(&conn);
        let pipe = pipe.expect("the hand-over carries one fd");
        let head_end = loop {
            if let Some(i) = bytes.iter().position(|&b| b == b'\n') {
                break i;
            }
            read_more(&conn, &mut bytes);
        };
        let head = std::str::from_utf8(&bytes[..head_end]).expect("ASCII header");
        let len: usize = head
            .strip_prefix("HANDOVER ")
            .unwrap_or_else(|| panic!("header {head:?}"))
            .parse()
            .expect("decimal length");
        while bytes.len() < head_end + 1 + len {
            read_more(&conn, &mut bytes);
        }
        let body = &bytes[head_end + 1..];
        assert_eq!(body.len(), len, "nothing after the body before the answer");
        assert_eq!(body.last(), Some(&0), "entries end with NUL");
        let entries = body[..len - 1]
            .split(|&b| b == 0)
            .map(|e| String::from_utf8(e.to_vec()).expect("UTF-8 entry"))
            .collect();
        Handover {
            conn,
            pipe: std::fs::File::from(pipe),
            entries,
        }
    }
}

impl Handover {
    /// A line to the shim (`OK`, `NO …`, `END n`).
    pub fn say(&mut self, line: &str) {
        self.conn.write_all(format!("{line}\n").as_bytes()).expect("say");
    }

    /// Writes through the pipe the shim handed over.
    pub fn write_audio(&mut self, bytes: &[u8]) {
        self.pipe
            .write_all(bytes)
            .expect("write through the handed-over pipe");
    }

    /// The `arg=` words, in order.
    pub fn args(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter_map(|e| e.strip_prefix("arg="))
            .collect()
    }

    /// Everything the shim sends after the hand-over, until it closes.
    pub fn rest(&mut self) -> String {
        let mut out = String::new();
        self.conn
            .read_to_string(&mut out)
            .expect("read until the shim closes");
        out
    }
}

fn read_more(conn: &UnixStream, bytes: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    let n = (&*conn).read(&mut buf).expect("read the hand-over");
    assert!(n > 0, "the shim closed mid-message");
    bytes.extend_from_slice(&buf[..n]);
}

/// One `recvmsg`: the bytes and the fd that rode on them (at most one is
/// expected; any other is closed by dropping).
fn recv_with_fd(conn: &UnixStream) -> (Vec<u8>, Option<OwnedFd>) {
    let mut buf = vec![0u8; 70_000];
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: the msghdr points at live buffers of the sizes given; the
    // fds the kernel installs are taken into OwnedFds at once.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.as_mut_ptr().cast();
        hdr.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(conn.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC);
        assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
        let mut fds = Vec::new();
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                let data = libc::CMSG_DATA(c).cast::<i32>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
        assert!(fds.len() <= 1, "one fd, not {}", fds.len());
        buf.truncate(n as usize);
        (buf, fds.pop())
    }
}
