//! The hand-over's words (protocol v1, docs/hub-audio.md), both sides: a
//! per-call process (`run --hub`, `holdmix-shim`) hands its stdout pipe to
//! `hub --audio` in one `sendmsg(2)` carrying the fd as `SCM_RIGHTS` and
//! `HANDOVER <len>\n` + a body of NUL-terminated entries (`v1`, `cwd=`,
//! `arg=`…, `env=NAME=value`…); the hub answers `OK` or `NO <reason>`,
//! maybe `WATCHED` (with `OK`, or later) and `UNWATCHED` (later, when its
//! watchdog is gone), `CHECKPOINTS <name>` once the call streams keyed by
//! the call, later `END <code>`; the client may send `STOP <signal>` or
//! `TAKEN`.
//!
//! Bounded everywhere: a body over [`MAX_BODY`], a header over
//! [`MAX_HEADER`], more than one fd (the extras are closed), a body that is
//! not exactly the entries in order: an error, never a panic. The fd
//! passing is rustix's (`sendmsg`/`recvmsg` with ancillary buffers), not
//! hand-written cmsg arithmetic.

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::ffi::{OsStr, OsString};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Largest body taken (the args of a realtime row are a few hundred bytes).
pub const MAX_BODY: usize = 65536;
/// Longest first line (`HANDOVER 65536\n` is 15 bytes).
pub const MAX_HEADER: usize = 32;
/// The first word of a hand-over (a `SUBSCRIBE` line starts otherwise).
pub const MAGIC: &[u8] = b"HANDOVER ";
/// The protocol's version entry.
const VERSION: &[u8] = b"v1";
/// The environment a hand-over carries, and nothing else of it.
pub const ENV_NAMES: [&str; 5] = [
    crate::config::UNIQUEID_ENV,
    crate::config::CALLER_ENV,
    crate::config::CHANNEL_ENV,
    "HOLDMIX_AMI_SECRET",
    // The client's default checkpoint directory is under it: the hub keeps
    // a hosted call's checkpoints where a take-over will look.
    "XDG_RUNTIME_DIR",
];

/// One call handed over: where the client runs, its args after `run`, and
/// the few environment variables the call's config reads.
#[derive(Clone, PartialEq, Eq)]
pub struct Handover {
    pub cwd: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
}

// Never printed whole: the env may hold the AMI secret.
impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handover")
            .field("cwd", &self.cwd)
            .field("args", &self.args.len())
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// Why a hand-over was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    /// The first line is not `HANDOVER <len>` with `len` ≤ [`MAX_BODY`].
    Header,
    /// The body is not `v1`, `cwd=`, `arg=`…, `env=`… (which entry).
    Body(&'static str),
    /// No fd came with it.
    NoFd,
    /// The connection ended (or timed out) before the whole message.
    Short,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Header => f.write_str("bad hand-over header"),
            Bad::Body(what) => write!(f, "bad hand-over body: {what}"),
            Bad::NoFd => f.write_str("no descriptor with the hand-over"),
            Bad::Short => f.write_str("hand-over cut short"),
        }
    }
}

impl std::error::Error for Bad {}

impl Handover {
    /// The hand-over of this process: its cwd, `args`, and the variables of
    /// [`ENV_NAMES`] that `env` has.
    pub fn of_process(
        args: Vec<OsString>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> std::io::Result<Handover> {
        Ok(Handover {
            cwd: std::env::current_dir()?,
            args,
            env: ENV_NAMES
                .iter()
                .filter_map(|n| env(n).map(|v| (n.to_string(), v)))
                .collect(),
        })
    }

    /// The body: NUL-terminated entries.
    pub fn body(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let mut entry = |parts: &[&[u8]]| {
            for p in parts {
                b.extend_from_slice(p);
            }
            b.push(0);
        };
        entry(&[VERSION]);
        entry(&[b"cwd=", self.cwd.as_os_str().as_bytes()]);
        for a in &self.args {
            entry(&[b"arg=", a.as_bytes()]);
        }
        for (k, v) in &self.env {
            entry(&[b"env=", k.as_bytes(), b"=", v.as_bytes()]);
        }
        b
    }

    /// The whole message: header and body.
    pub fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let mut m = format!("HANDOVER {}\n", body.len()).into_bytes();
        m.extend_from_slice(&body);
        m
    }

    /// Parses a body: exactly `v1`, an absolute `cwd=`, `arg=`s, then
    /// `env=`s of [`ENV_NAMES`], each NUL-terminated.
    pub fn decode(body: &[u8]) -> Result<Handover, Bad> {
        if body.len() > MAX_BODY {
            return Err(Bad::Body("too long"));
        }
        let Some(body) = body.strip_suffix(&[0]) else {
            return Err(Bad::Body("an entry without its NUL"));
        };
        let mut entries = body.split(|&b| b == 0);
        if entries.next() != Some(VERSION) {
            return Err(Bad::Body("not v1"));
        }
        let cwd = entries
            .next()
            .and_then(|e| e.strip_prefix(b"cwd="))
            .map(|p| PathBuf::from(OsStr::from_bytes(p)))
            .filter(|p| p.is_absolute())
            .ok_or(Bad::Body("no absolute cwd"))?;
        let mut h = Handover {
            cwd,
            args: Vec::new(),
            env: Vec::new(),
        };
        for e in entries {
            if let Some(a) = e.strip_prefix(b"arg=") {
                if !h.env.is_empty() {
                    return Err(Bad::Body("an arg after the env"));
                }
                h.args.push(OsString::from_vec(a.to_vec()));
            } else if let Some(kv) = e.strip_prefix(b"env=") {
                let i = kv
                    .iter()
                    .position(|&b| b == b'=')
                    .ok_or(Bad::Body("env without ="))?;
                let name = std::str::from_utf8(&kv[..i]).map_err(|_| Bad::Body("env name"))?;
                if !ENV_NAMES.contains(&name) || h.env.iter().any(|(k, _)| k == name) {
                    return Err(Bad::Body("env name"));
                }
                h.env
                    .push((name.to_string(), OsString::from_vec(kv[i + 1..].to_vec())));
            } else {
                return Err(Bad::Body("unknown entry"));
            }
        }
        Ok(h)
    }

    /// The value of one of the carried variables.
    pub fn env(&self, name: &str) -> Option<&OsStr> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }
}

/// The header's length, from a complete first line (without its `\n`).
fn parse_header(line: &[u8]) -> Result<usize, Bad> {
    let n = line.strip_prefix(MAGIC).ok_or(Bad::Header)?;
    if n.is_empty() || n.len() > 6 || !n.iter().all(u8::is_ascii_digit) {
        return Err(Bad::Header);
    }
    let len: usize = std::str::from_utf8(n)
        .map_err(|_| Bad::Header)?
        .parse()
        .map_err(|_| Bad::Header)?;
    if len > MAX_BODY {
        return Err(Bad::Header);
    }
    Ok(len)
}

/// The one-line words after the hand-over, both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// hub → client: the hub writes the pipe now.
    Ok,
    /// hub → client: refused (why); the client streams standalone.
    No(String),
    /// hub → client, after `OK`: a watchdog kills the hub if its pacing
    /// stalls, so the client sees a hung hub as a closed connection and may
    /// look at its pipe rarely. A line of its own, not a word after `OK`:
    /// clients that predate it ignore it (they compare `OK` whole).
    /// Also later, when a watchdog starts after the call's `OK`.
    Watched,
    /// hub → client, after `WATCHED`: the watchdog is gone (none could be
    /// started again, or none has woken for 4 s), so the client looks at
    /// its pipe again. Clients that predate it ignore it.
    Unwatched,
    /// hub → client, once the hosted call is prepared: the name its
    /// checkpoints go by when it is keyed by the call (`call-<digest>` of
    /// its key, never the key: no caller's text on the way), so a take-over
    /// with no hub to greet it resumes from them. Clients that predate it
    /// ignore it.
    Checkpoints(String),
    /// hub → client: the call ended; exit with this code.
    End(u8),
    /// client → hub: a stop signal reached the client (its number).
    Stop(i32),
    /// client → hub: the client took the call over.
    Taken,
}

/// Longest reply line (a `NO` reason is a few words).
pub const MAX_LINE: usize = 128;

impl Line {
    pub fn to_line(&self) -> String {
        match self {
            Line::Ok => "OK\n".into(),
            // A reason is one line of our own words: no newline in it.
            Line::No(why) => format!("NO {}\n", why.replace(['\n', '\r'], " ")),
            Line::Watched => "WATCHED\n".into(),
            Line::Unwatched => "UNWATCHED\n".into(),
            Line::Checkpoints(name) => format!("CHECKPOINTS {name}\n"),
            Line::End(code) => format!("END {code}\n"),
            Line::Stop(sig) => format!("STOP {sig}\n"),
            Line::Taken => "TAKEN\n".into(),
        }
    }

    /// One line, without its `\n`; `None` for anything else.
    pub fn parse(line: &[u8]) -> Option<Line> {
        if line.len() > MAX_LINE {
            return None;
        }
        let text = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        match (word, rest) {
            ("OK", "") => Some(Line::Ok),
            ("NO", why) => Some(Line::No(why.to_string())),
            ("WATCHED", "") => Some(Line::Watched),
            ("UNWATCHED", "") => Some(Line::Unwatched),
            ("CHECKPOINTS", name) if crate::run::checkpoint::is_call_file_name(name) => {
                Some(Line::Checkpoints(name.to_string()))
            }
            ("END", code) => code.parse().ok().map(Line::End),
            ("STOP", sig) => sig.parse().ok().filter(|s| *s > 0).map(Line::Stop),
            ("TAKEN", "") => Some(Line::Taken),
            _ => None,
        }
    }
}

/// Splits complete lines off a byte stream, bounded: a line over
/// [`MAX_LINE`] is returned as garbage (`None`) rather than kept growing.
#[derive(Default)]
pub struct Lines {
    buf: Vec<u8>,
    overlong: bool,
}

impl Lines {
    /// Feeds bytes; each complete line comes out parsed (`None`: not a word
    /// of the protocol).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Option<Line>>) {
        for &b in bytes {
            if b == b'\n' {
                out.push((!self.overlong).then(|| Line::parse(&self.buf)).flatten());
                self.buf.clear();
                self.overlong = false;
            } else if self.buf.len() < MAX_LINE {
                self.buf.push(b);
            } else {
                self.overlong = true;
            }
        }
    }
}

/// Sends the hand-over of `fd` in one `sendmsg` (the fd on its first
/// byte), the rest with plain writes if the socket took only part.
pub fn send(sock: &UnixStream, msg: &Handover, fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let bytes = msg.encode();
    if bytes.len() > MAX_BODY + MAX_HEADER {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "hand-over too long",
        ));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for the descriptor"));
    }
    let sent = loop {
        match rustix::net::sendmsg(sock, &[IoSlice::new(&bytes)], &mut control, SendFlags::NOSIGNAL) {
            Ok(n) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    (&*sock).write_all(&bytes[sent..])
}

/// The first bytes of a connection and the fd that came with them, in one
/// `recvmsg`: at most one fd is kept, any more are closed (and any the
/// kernel could not fit were never installed). Blocks as the socket does
/// (its read timeout bounds it).
pub fn recv_first(sock: &UnixStream, buf: &mut [u8]) -> std::io::Result<(usize, Option<OwnedFd>)> {
    // Room for a few fds: a client sending more gets them closed here
    // rather than left to the kernel's truncation.
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(m) => break m,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut kept = None;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = msg {
            for fd in fds {
                if kept.is_none() {
                    kept = Some(fd);
                }
                // Any other is dropped: closed.
            }
        }
    }
    if got.flags.contains(ReturnFlags::CTRUNC) {
        tracing::debug!("a hand-over came with more descriptors than taken: closed");
    }
    Ok((got.bytes, kept))
}

/// Whether `bytes` (a hand-over's first, from [`recv_first`]) hold its
/// header and all of its body already: then [`read_rest`] reads nothing
/// more from the socket, so it cannot wait.
pub fn is_whole(bytes: &[u8]) -> bool {
    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
        return false;
    };
    nl <= MAX_HEADER && parse_header(&bytes[..nl]).is_ok_and(|len| bytes.len() - nl > len)
}

/// Reads the rest of a hand-over whose first bytes (`first`, from
/// [`recv_first`]) start with [`MAGIC`]: the header, then the body, with
/// plain reads bounded by the socket's timeout.
pub fn read_rest(
    sock: &UnixStream,
    mut first: Vec<u8>,
    fd: Option<OwnedFd>,
) -> Result<(Handover, OwnedFd), Bad> {
    let mut chunk = [0u8; 4096];
    let nl = loop {
        if let Some(i) = first.iter().position(|&b| b == b'\n') {
            break i;
        }
        if first.len() > MAX_HEADER {
            return Err(Bad::Header);
        }
        match (&*sock).read(&mut chunk) {
            Ok(0) | Err(_) => return Err(Bad::Short),
            Ok(n) => first.extend_from_slice(&chunk[..n]),
        }
    };
    if nl > MAX_HEADER {
        return Err(Bad::Header);
    }
    let len = parse_header(&first[..nl])?;
    let mut body = first.split_off(nl + 1);
    if body.len() > len {
        return Err(Bad::Body("more than its length"));
    }
    body.reserve_exact(len - body.len());
    while body.len() < len {
        let want = (len - body.len()).min(chunk.len());
        match (&*sock).read(&mut chunk[..want]) {
            Ok(0) | Err(_) => return Err(Bad::Short),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let h = Handover::decode(&body)?;
    let fd = fd.ok_or(Bad::NoFd)?;
    Ok((h, fd))
}

/// The hub's side in one call (tests, and a listener that takes only
/// hand-overs): the first message with its fd, then the rest.
pub fn recv(sock: &UnixStream) -> Result<(Handover, OwnedFd), Bad> {
    let mut buf = vec![0u8; 4096];
    let (n, fd) = recv_first(sock, &mut buf).map_err(|_| Bad::Short)?;
    if n == 0 {
        return Err(Bad::Short);
    }
    buf.truncate(n);
    if !buf.starts_with(MAGIC) && !MAGIC.starts_with(&buf) {
        return Err(Bad::Header);
    }
    read_rest(sock, buf, fd)
}

/// Writes one line (best effort: the peer may be gone).
pub fn say(sock: &UnixStream, line: &Line) -> std::io::Result<()> {
    (&*sock).write_all(line.to_line().as_bytes())
}

/// Sends one line without waiting, whatever the socket's blocking mode
/// (best effort: a line the socket has no room for is dropped, as a peer
/// that reads nothing would never take it).
pub fn say_now(sock: &UnixStream, line: &Line) {
    let text = line.to_line();
    rustix::net::send(sock, text.as_bytes(), SendFlags::DONTWAIT | SendFlags::NOSIGNAL).ok();
}

/// The hub's `OK`, and `WATCHED` with it in the same write when a
/// watchdog runs.
pub fn say_ok(sock: &UnixStream, watched: bool) -> std::io::Result<()> {
    let mut text = Line::Ok.to_line();
    if watched {
        text.push_str(&Line::Watched.to_line());
    }
    (&*sock).write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd};

    fn sample() -> Handover {
        Handover {
            cwd: "/var/lib/asterisk".into(),
            args: vec![
                "-p".into(),
                "moh.toml".into(),
                "--uniqueid".into(),
                "1.2".into(),
                "".into(),
            ],
            env: vec![("UNIQUEID".into(), "1.2".into()), ("PHONE".into(), "+100".into())],
        }
    }

    #[test]
    fn a_whole_hand_over_is_told_from_a_part_of_one() {
        let whole = sample().encode();
        assert!(is_whole(&whole));
        // Any shorter cut waits for more (read on the connection's thread).
        for cut in [0, 5, MAGIC.len(), whole.len() / 2, whole.len() - 1] {
            assert!(!is_whole(&whole[..cut]), "cut at {cut}");
        }
        // A bad header is left to the connection's thread, which refuses it.
        assert!(!is_whole(b"HANDOVER x\n"));
        assert!(!is_whole(format!("HANDOVER {}\n", "9".repeat(40)).as_bytes()));
        // More than its length: read_rest refuses it without reading.
        let mut more = whole.clone();
        more.push(0);
        assert!(is_whole(&more));
    }

    #[test]
    fn bodies_round_trip() {
        let h = sample();
        assert_eq!(Handover::decode(&h.body()).unwrap(), h);
        let m = h.encode();
        assert!(m.starts_with(format!("HANDOVER {}\n", h.body().len()).as_bytes()));
        // The env is never printed, only its names.
        assert!(!format!("{h:?}").contains("+100"));
    }

    #[test]
    fn bad_bodies_are_refused() {
        let good = sample().body();
        // Truncated: the last entry loses its NUL.
        assert!(Handover::decode(&good[..good.len() - 1]).is_err());
        // Garbage, an unknown entry, a relative cwd, a foreign env name.
        for bad in [
            &b"garbage"[..],
            b"v2\0cwd=/\0",
            b"v1\0cwd=rel\0",
            b"v1\0arg=x\0",
            b"v1\0cwd=/\0what=x\0",
            b"v1\0cwd=/\0env=PATH=/bin\0",
            b"v1\0cwd=/\0env=PHONE\0",
            b"v1\0cwd=/\0env=PHONE=1\0env=PHONE=2\0",
            b"v1\0cwd=/\0env=PHONE=1\0arg=x\0",
            b"",
        ] {
            assert!(Handover::decode(bad).is_err(), "{bad:?}");
        }
        let over = vec![b'x'; MAX_BODY + 1];
        assert_eq!(Handover::decode(&over), Err(Bad::Body("too long")));
    }

    #[test]
    fn headers_are_bounded() {
        assert_eq!(parse_header(b"HANDOVER 12"), Ok(12));
        assert_eq!(parse_header(b"HANDOVER 65536"), Ok(65536));
        for bad in [
            &b"HANDOVER 65537"[..],
            b"HANDOVER ",
            b"HANDOVER -1",
            b"HANDOVER 1x",
            b"SUBSCRIBE x",
        ] {
            assert_eq!(parse_header(bad), Err(Bad::Header), "{bad:?}");
        }
    }

    #[test]
    fn reply_lines_round_trip() {
        for l in [
            Line::Ok,
            Line::No("full".into()),
            Line::Watched,
            Line::Unwatched,
            Line::Checkpoints(format!("call-{}", "0123456789abcdef".repeat(2))),
            Line::End(0),
            Line::End(3),
            Line::Stop(1),
            Line::Taken,
        ] {
            let text = l.to_line();
            assert_eq!(Line::parse(text.trim_end().as_bytes()), Some(l));
        }
        for bad in [
            &b"OK then"[..],
            b"END x",
            b"END 300",
            b"STOP 0",
            b"hello",
            b"TAKEN now",
            b"OK watched",
            b"WATCHED now",
            b"UNWATCHED now",
            // Only a checkpoints name, never a path or a key.
            b"CHECKPOINTS",
            b"CHECKPOINTS ../../etc/passwd",
            b"CHECKPOINTS 1796000000.9",
            b"CHECKPOINTS call-0123456789ABCDEF0123456789abcdef",
        ] {
            assert_eq!(Line::parse(bad), None, "{bad:?}");
        }
        let mut lines = Lines::default();
        let mut out = Vec::new();
        let long = vec![b'N'; MAX_LINE * 3];
        lines.feed(b"OK\nEN", &mut out);
        lines.feed(b"D 2\n", &mut out);
        lines.feed(&long, &mut out);
        lines.feed(b"\nTAKEN\n", &mut out);
        assert_eq!(
            out,
            vec![Some(Line::Ok), Some(Line::End(2)), None, Some(Line::Taken)]
        );
    }

    #[test]
    fn a_real_pipe_crosses_the_socket() {
        let (client, hub) = UnixStream::pair().unwrap();
        let (mut r, w) = std::io::pipe().unwrap();
        let h = sample();
        send(&client, &h, w.as_fd()).unwrap();
        drop(w);
        let (got, fd) = recv(&hub).unwrap();
        assert_eq!(got, h);
        // Written through the received fd, read at the pipe's other end.
        let mut f = std::fs::File::from(fd);
        f.write_all(b"frames").unwrap();
        drop(f);
        let mut s = Vec::new();
        r.read_to_end(&mut s).unwrap();
        assert_eq!(s, b"frames");
    }

    #[test]
    fn a_big_body_follows_in_plain_writes() {
        let (client, hub) = UnixStream::pair().unwrap();
        let (_r, w) = std::io::pipe().unwrap();
        let mut h = sample();
        h.args = (0..3500).map(|i| OsString::from(format!("arg-{i:08}"))).collect();
        assert!(h.body().len() < MAX_BODY && h.body().len() > 50_000);
        let t = std::thread::spawn({
            let h = h.clone();
            move || send(&client, &h, w.as_fd()).map(|_| client)
        });
        let (got, _fd) = recv(&hub).unwrap();
        assert_eq!(got, h);
        t.join().unwrap().unwrap();
    }

    #[test]
    fn bad_messages_are_errors() {
        let cases: Vec<Vec<u8>> = vec![
            b"HANDOVER 99999\n".to_vec(),
            b"HANDOVER 5\nv1\0cwd=/\0".to_vec(),
            b"HANDOVER 10\nv1\0".to_vec(),
            b"HANDOVERX".iter().chain([b'7'; 64].iter()).copied().collect(),
            b"GET / HTTP/1.0\n".to_vec(),
        ];
        for bytes in cases {
            let (client, hub) = UnixStream::pair().unwrap();
            hub.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            let (_r, w) = std::io::pipe().unwrap();
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            let fds = [w.as_fd()];
            control.push(SendAncillaryMessage::ScmRights(&fds));
            rustix::net::sendmsg(&client, &[IoSlice::new(&bytes)], &mut control, SendFlags::empty()).unwrap();
            drop(client);
            assert!(recv(&hub).is_err(), "{:?}", String::from_utf8_lossy(&bytes));
        }
        // A good body without an fd.
        let (client, hub) = UnixStream::pair().unwrap();
        (&client).write_all(&sample().encode()).unwrap();
        assert_eq!(recv(&hub).err(), Some(Bad::NoFd));
    }

    #[test]
    fn extra_descriptors_are_closed() {
        let (client, hub) = UnixStream::pair().unwrap();
        let pipes: Vec<_> = (0..3).map(|_| std::io::pipe().unwrap()).collect();
        let fds: Vec<_> = pipes.iter().map(|(_, w)| w.as_fd()).collect();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        control.push(SendAncillaryMessage::ScmRights(&fds));
        let bytes = sample().encode();
        rustix::net::sendmsg(&client, &[IoSlice::new(&bytes)], &mut control, SendFlags::empty()).unwrap();
        let (_, fd) = recv(&hub).unwrap();
        drop(fds);
        let (pipes_r, pipes_w): (Vec<_>, Vec<_>) = pipes.into_iter().unzip();
        drop(pipes_w);
        // Only the first write end is still open (ours): the others' readers see EOF.
        assert!(!crate::audio::pipe::reader_gone(fd.as_raw_fd()));
        for (i, mut r) in pipes_r.into_iter().enumerate().skip(1) {
            let mut s = Vec::new();
            r.read_to_end(&mut s).unwrap();
            assert!(s.is_empty(), "pipe {i}");
        }
    }
}
