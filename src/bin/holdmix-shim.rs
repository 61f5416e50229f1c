//! `holdmix-shim`: the per-call process of hub-mode audio (docs/shim.md).
//!
//! Asterisk starts one process per held call. With a hub that renders every
//! call's audio (`holdmix hub --audio`), that process only has to hand its
//! stdout pipe over and then wait, so it should cost as little memory as a
//! process can. This binary takes exactly `holdmix run`'s arguments, sends
//! the hand-over of docs/hub-audio.md's protocol (v1) with its stdout as
//! `SCM_RIGHTS`, and waits in `ppoll(2)` on the hub's socket (a watched
//! hub's watchdog kills it if it hangs, so then the wait is woken by the
//! socket alone, with no timeout: zero CPU); whenever the hub refuses,
//! is absent, dies or stops writing, it hands the pipe to the
//! standby hub (`-S`) if there is one, which resumes the call from its
//! checkpoint; failing that, it becomes the full `holdmix run
//! --standalone` with the same arguments (`execv`, same pid, same
//! stdin/stdout/stderr), which resumes it the same way.
//!
//! It deliberately does not link the holdmix library (nor clap, tracing or
//! anything else): the library's protocol code (src/hub/handover.rs) would
//! pull in its dependencies' relocations and data, and every page this
//! process dirties is paid once per held call. The protocol's few lines of
//! encoding are therefore written here again, against std and `libc`, and
//! tests/shim.rs checks them against a peer speaking the spec. `main` is
//! the C runtime's (`no_main`): the raw `argv` is used in place, with no
//! copy of the arguments kept while the call is held. Nothing allocates
//! while a hub streams the call, and there is one thread.
//!
//! One file of about 600 lines on purpose: the binary is its own crate
//! root (no module of the library can be shared), and the whole protocol
//! client, wait and fallback read top to bottom in the order they run.

#![no_main]

use std::ffi::{CStr, c_char, c_int};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The signals Asterisk stops a generator with (SIGHUP, then SIGTERM; and
/// SIGINT by hand), as `holdmix run` takes them (src/run/signals.rs).
const STOP_SIGNALS: [c_int; 3] = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];
/// The exit status after a stop signal: `holdmix run` ends its stream on
/// purpose and exits 0 (src/main.rs), and the shim says the same.
const SIGNAL_EXIT: c_int = 0;
/// The longest wait for the hub's answer (the spec: then it is a `NO`).
const ANSWER_WAIT: Duration = Duration::from_millis(1000);
/// The pipe-dry check's period, and the `ppoll` timeout of the wait.
const CHECK: Duration = Duration::from_millis(40);
// Once the hub said `WATCHED` the shim does not look at its pipe at all:
// its watchdog (a process of its own group) kills a hub whose pacing
// stalls, which closes the socket (seen at once in `ppoll`), and the hub
// replaces a watchdog that stops; a call's stream failing inside the hub
// ends the call there, which closes the socket too. So a watched call's
// shim sleeps with no timeout: zero wakes, zero CPU (the issue's "waits
// at zero CPU"), where a backstop look once a second cost 0.0019 % of a
// core a call (docs/shim.md).
/// After `OK`, a pipe whose lead never built up is dry from this long on
/// (as `holdmix run`'s own wait, src/run/handover.rs).
const FIRST_WRITE: Duration = Duration::from_millis(3000);
/// "Fewer than one frame queued": the shim does not parse `--format`, so
/// it takes the smallest format's 20 ms frame (G.711, 160 bytes); a hub
/// keeping its 60-100 ms lead is far above it in every format.
const MIN_FRAME: c_int = 160;
/// Between the looks that confirm a dry look: not a multiple of Asterisk's
/// 20 ms frame, so they fall at different phases of its 40 ms read cycle
/// (looks 40 ms apart all land at one phase, and right after the reads of a
/// live hub's thin start-up lead they found it dry: src/run/handover.rs).
const CONFIRM: Duration = Duration::from_millis(25);
/// Looks in a row that find the pipe dry before the call is taken over:
/// the first and four [`CONFIRM`]s (100 ms at five phases of the read
/// cycle), so a hub late by a tick under load is not taken for a hung one;
/// a hung hub is seen within about 140 ms.
const DRY_LOOKS: u32 = 5;
/// The hub has written (the dry check is armed) once this much was seen
/// queued: three slin frames. The hub's start-up lead may be a frame or
/// two, which Asterisk's two-frame read empties: armed on any byte, a
/// live call was taken over 120 ms after `OK` (src/run/handover.rs saw it).
const ARMED: c_int = 3 * 320;
/// How late the wait's wakes may be (see `wait`): 5 ms.
const TIMER_SLACK_NS: libc::c_ulong = 5_000_000;
/// The spec's bound on the hand-over's body.
const MAX_BODY: usize = 65536;
/// Room for `HANDOVER 65536\n` in front of the body.
const HEAD: usize = 16;
/// The identity variables and the AMI secret's default (the spec's list).
const ENV: [&CStr; 5] = [
    c"UNIQUEID",
    c"PHONE",
    c"CHANNEL",
    c"HOLDMIX_AMI_SECRET",
    c"XDG_RUNTIME_DIR",
];

/// The stop signal that arrived (0: none); set by [`on_stop`].
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop(sig: c_int) {
    STOP.store(sig, Ordering::SeqCst);
}

/// The C runtime's entry: `holdmix-shim <holdmix run's arguments>`.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime passes `argc` valid, NUL-terminated strings
    // that live as long as the process.
    let all = unsafe { std::slice::from_raw_parts(argv, argc.max(0) as usize) };
    let words = all.get(1..).unwrap_or(&[]);
    let hubs = hub_paths(words);
    if hubs[0].is_none() {
        // No hub: the full binary's own `run`, with nothing added.
        return exec_full(words, false, None, false, None);
    }
    let mask = Signals::block();
    // The hub, then the standby hub (`-S`) when the hub is absent, refuses
    // the call, dies or stops writing; only then the call's own stream.
    // `hung`: the hub (whose events the call's own stream follows) stopped
    // writing with its socket open, so its greeting would not come either.
    let mut hung = false;
    // The name a hub said the call's checkpoints go by (`CHECKPOINTS`):
    // passed on to the standby and to the full binary, which may not
    // learn the call's key from any hub.
    let mut named = Named::new();
    for (i, hub) in hubs.into_iter().enumerate() {
        let Some(sock) = hub.and_then(connect) else {
            continue;
        };
        match hand_over(&sock, words, named.arg(words), &mask) {
            Answer::Ok(mut lines) => match wait(&sock, &mut lines, &mut named, &mask) {
                Wait::End(code) => return code,
                Wait::Stop(sig) => return stop(&sock, sig),
                // Best effort: the hub drops the call before its next
                // write. The next one resumes it from its checkpoint.
                Wait::Gone { hung: h } => {
                    hung |= h && i == 0;
                    send_now(&sock, b"TAKEN\n")
                }
            },
            Answer::Stop(sig) => return stop(&sock, sig),
            Answer::No => {}
        }
    }
    exec_full(words, true, Some(&mask), hung, named.arg(words))
}

/// `call-` and 32 lowercase hex digits: the form of a checkpoints name
/// (src/run/checkpoint.rs), and nothing else (never a path).
const NAME_LEN: usize = 37;

/// A checkpoints name the hub told, NUL-terminated in place (no
/// allocation).
struct Named {
    name: [u8; NAME_LEN + 1],
    set: bool,
}

impl Named {
    fn new() -> Named {
        Named {
            name: [0; NAME_LEN + 1],
            set: false,
        }
    }

    /// Takes `CHECKPOINTS <name>` if it is one; true if it was.
    fn take(&mut self, line: &[u8]) -> bool {
        let Some(name) = line.strip_prefix(b"CHECKPOINTS ") else {
            return false;
        };
        let hex = name.strip_prefix(b"call-").unwrap_or(b"");
        if name.len() == NAME_LEN && hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            self.name[..NAME_LEN].copy_from_slice(name);
            self.set = true;
        }
        true
    }

    /// The name as `--hub-checkpoints`' value, unless the words give that
    /// flag already (given twice, the full binary would refuse to start).
    fn arg(&self, words: &[*const c_char]) -> Option<&CStr> {
        let given = words.iter().map(word).any(|w| {
            let b = w.to_bytes();
            b == b"--hub-checkpoints" || b.starts_with(b"--hub-checkpoints=")
        });
        if !self.set || given {
            return None;
        }
        CStr::from_bytes_with_nul(&self.name).ok()
    }
}

fn word(p: &*const c_char) -> &'static CStr {
    // SAFETY: every argv entry below argc is a valid C string (see main).
    unsafe { CStr::from_ptr(*p) }
}

/// The hub and the standby hub: `--hub PATH`, `--hub=PATH`, `-H PATH` or
/// `-HPATH` (the realtime rows' short form), and `--standby-hub` / `-S`
/// alike; the first of each counts. No other parsing: clap in the full
/// binary judges the rest (an empty path is its error to report).
fn hub_paths(words: &[*const c_char]) -> [Option<&'static CStr>; 2] {
    let mut found = [None, None];
    let mut it = words.iter().map(word);
    while let Some(w) = it.next() {
        let b = w.to_bytes_with_nul();
        let (which, value) = match b {
            b"--\0" => break,
            b"--hub\0" | b"-H\0" => (0, it.next()),
            b"--standby-hub\0" | b"-S\0" => (1, it.next()),
            _ if b.starts_with(b"--hub=") => (0, CStr::from_bytes_with_nul(&b[6..]).ok()),
            _ if b.starts_with(b"--standby-hub=") => (1, CStr::from_bytes_with_nul(&b[14..]).ok()),
            _ if b.starts_with(b"-H") => (0, CStr::from_bytes_with_nul(&b[2..]).ok()),
            _ if b.starts_with(b"-S") => (1, CStr::from_bytes_with_nul(&b[2..]).ok()),
            _ => continue,
        };
        if found[which].is_none() {
            found[which] = Some(value.filter(|v| !v.is_empty()));
        }
    }
    found.map(Option::flatten)
}

/// The stop signals, blocked from the start except inside `ppoll`, so a
/// signal is never lost between a check of [`STOP`] and the wait.
struct Signals {
    /// The mask the process started with (restored before `execv`).
    before: libc::sigset_t,
    /// `before` with the stop signals let through: `ppoll`'s mask.
    waiting: libc::sigset_t,
}

impl Signals {
    fn block() -> Signals {
        // SAFETY: sigset_t is plain data; the calls fill and read it; the
        // handler only stores to an atomic (async-signal-safe).
        unsafe {
            let mut stops: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut stops);
            for s in STOP_SIGNALS {
                libc::sigaddset(&mut stops, s);
            }
            let mut before: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_BLOCK, &stops, &mut before);
            let mut waiting = before;
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_stop as extern "C" fn(c_int) as libc::sighandler_t;
            libc::sigfillset(&mut act.sa_mask);
            for s in STOP_SIGNALS {
                libc::sigdelset(&mut waiting, s);
                libc::sigaction(s, &act, std::ptr::null_mut());
            }
            Signals { before, waiting }
        }
    }

    /// Before `execv`: a stop signal still pending means the call is being
    /// stopped (true: exit instead); otherwise the default actions and the
    /// first mask are back, as the full binary expects to start.
    fn restore(&self) -> bool {
        // SAFETY: as in `block`.
        unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            if STOP_SIGNALS.iter().any(|&s| libc::sigismember(&pending, s) == 1) {
                return true;
            }
            for s in STOP_SIGNALS {
                libc::signal(s, libc::SIG_DFL);
            }
            libc::sigprocmask(libc::SIG_SETMASK, &self.before, std::ptr::null_mut());
        }
        false
    }
}

/// Connects without blocking: a Unix socket's connect succeeds or fails at
/// once (`EAGAIN` when the hub's backlog is full: then it is busy, and the
/// call goes standalone rather than wait).
fn connect(path: &CStr) -> Option<OwnedFd> {
    // SAFETY: socket(2) returns a new fd we own (or -1).
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is ours and open.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_un is plain data.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let path = path.to_bytes();
    if path.len() >= addr.sun_path.len() {
        return None;
    }
    for (d, &s) in addr.sun_path.iter_mut().zip(path) {
        *d = s as c_char;
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_un of `len` bytes.
    let r = unsafe { libc::connect(fd, (&raw const addr).cast(), len) };
    (r == 0).then_some(sock)
}

/// The hub's answer to the hand-over.
enum Answer {
    /// `OK`: with whatever followed it on the socket.
    Ok(Lines),
    /// `NO …`, no answer within [`ANSWER_WAIT`], or any error.
    No,
    /// A stop signal came first.
    Stop(c_int),
}

/// Sends the hand-over and waits for the answer. `named`: a checkpoints
/// name an earlier hub told, handed on as `--hub-checkpoints`.
fn hand_over(sock: &OwnedFd, words: &[*const c_char], named: Option<&CStr>, mask: &Signals) -> Answer {
    let deadline = Instant::now() + ANSWER_WAIT;
    let Some((mut msg, start)) = message(words, named) else {
        return Answer::No;
    };
    let sent = send_message(sock, &msg[start..], deadline, mask);
    // The body may carry the AMI secret: not left in freed memory.
    msg.fill(0);
    drop(msg);
    match sent {
        Sent::All => {}
        Sent::Failed => return Answer::No,
        Sent::Stop(sig) => return Answer::Stop(sig),
    }
    let mut lines = Lines::new();
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Answer::No;
        };
        let ready = poll(sock.as_raw_fd(), libc::POLLIN, Some(left), mask);
        if let Some(sig) = stopped() {
            return Answer::Stop(sig);
        }
        if ready && !lines.fill(sock) {
            return Answer::No;
        }
        if let Some(line) = lines.next() {
            return if line == b"OK" {
                Answer::Ok(lines)
            } else {
                Answer::No
            };
        }
    }
}

/// The message: `HANDOVER <len>\n` and the body, built with the header's
/// room in front; returns it and where the header starts. `None` when the
/// working directory is unknown or the body is over the spec's bound.
fn message(words: &[*const c_char], named: Option<&CStr>) -> Option<(Vec<u8>, usize)> {
    use std::os::unix::ffi::OsStrExt;
    let cwd = std::env::current_dir().ok()?;
    let mut m = Vec::with_capacity(1024);
    m.resize(HEAD, 0);
    let mut entry = |parts: &[&[u8]]| {
        for p in parts {
            m.extend_from_slice(p);
        }
        m.push(0);
    };
    entry(&[b"v1"]);
    entry(&[b"cwd=", cwd.as_os_str().as_bytes()]);
    // First, as the full binary gets it: after a `--` it would be no flag.
    if let Some(name) = named {
        entry(&[b"arg=--hub-checkpoints"]);
        entry(&[b"arg=", name.to_bytes()]);
    }
    for w in words {
        entry(&[b"arg=", word(w).to_bytes()]);
    }
    for name in ENV {
        // SAFETY: getenv with a valid name; the value is copied at once,
        // and this process has one thread (nobody sets the environment).
        let value = unsafe { libc::getenv(name.as_ptr()) };
        if !value.is_null() {
            // SAFETY: getenv returns a valid C string.
            let value = unsafe { CStr::from_ptr(value) };
            entry(&[b"env=", name.to_bytes(), b"=", value.to_bytes()]);
        }
    }
    let len = m.len() - HEAD;
    if len > MAX_BODY {
        return None;
    }
    let mut head = [0u8; HEAD];
    let n = header(len, &mut head);
    let start = HEAD - n;
    m[start..HEAD].copy_from_slice(&head[..n]);
    Some((m, start))
}

/// Writes `HANDOVER <len>\n` into `out`; its length.
fn header(len: usize, out: &mut [u8; HEAD]) -> usize {
    let mut digits = [0u8; 8];
    let n = decimal(len, &mut digits);
    let text = b"HANDOVER ";
    out[..text.len()].copy_from_slice(text);
    out[text.len()..text.len() + n].copy_from_slice(&digits[..n]);
    out[text.len() + n] = b'\n';
    text.len() + n + 1
}

/// `v` in decimal into `out` (no formatting machinery); its length.
fn decimal(mut v: usize, out: &mut [u8; 8]) -> usize {
    let mut tmp = [0u8; 8];
    let mut n = 0;
    loop {
        tmp[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 || n == tmp.len() {
            break;
        }
    }
    for i in 0..n {
        out[i] = tmp[n - 1 - i];
    }
    n
}

enum Sent {
    All,
    Failed,
    Stop(c_int),
}

/// One `sendmsg` carrying stdout as `SCM_RIGHTS` on the first byte, then
/// plain sends for any rest, waiting for room up to `deadline`.
fn send_message(sock: &OwnedFd, msg: &[u8], deadline: Instant, mask: &Signals) -> Sent {
    let fd = sock.as_raw_fd();
    let mut done = 0;
    while done < msg.len() {
        let rest = &msg[done..];
        let r = if done == 0 {
            send_with_stdout(fd, rest)
        } else {
            // SAFETY: a valid buffer of rest.len() bytes.
            unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) }
        };
        if r > 0 {
            done += r as usize;
            continue;
        }
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
            return Sent::Failed;
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Sent::Failed;
        };
        poll(fd, libc::POLLOUT, Some(left), mask);
        if let Some(sig) = stopped() {
            return Sent::Stop(sig);
        }
    }
    Sent::All
}

/// `sendmsg` of `bytes` with fd 1 (stdout) as `SCM_RIGHTS`.
fn send_with_stdout(sock: RawFd, bytes: &[u8]) -> isize {
    // CMSG_SPACE(sizeof(int)) is 24 on x86-64 and aarch64; 8-byte aligned.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: the msghdr points at live buffers (iov, control) sized as
    // declared; CMSG_* address inside `control`, which has room for one
    // header and one int (checked by the assert below at compile time).
    unsafe {
        const INT: u32 = std::mem::size_of::<c_int>() as u32;
        // SAFETY (of the const): CMSG_SPACE is arithmetic on its argument.
        const _: () = assert!(unsafe { libc::CMSG_SPACE(INT) } as usize <= std::mem::size_of::<[u64; 4]>());
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.as_mut_ptr().cast();
        hdr.msg_controllen = libc::CMSG_SPACE(INT) as _;
        let c = libc::CMSG_FIRSTHDR(&hdr);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(INT) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<c_int>(), libc::STDOUT_FILENO);
        libc::sendmsg(sock, &hdr, libc::MSG_NOSIGNAL)
    }
}

/// Lines from the hub, in a fixed buffer (no allocation in the wait): an
/// over-long line is dropped, never grown into.
struct Lines {
    buf: [u8; 64],
    len: usize,
    /// Bytes of the line at the front already used (consumed on the next
    /// `fill` or `next`).
    used: usize,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            buf: [0; 64],
            len: 0,
            used: 0,
        }
    }

    fn consume(&mut self) {
        self.buf.copy_within(self.used..self.len, 0);
        self.len -= self.used;
        self.used = 0;
    }

    /// Reads what the socket has; false when the hub is gone (EOF or an
    /// error other than "nothing yet").
    fn fill(&mut self, sock: &OwnedFd) -> bool {
        self.consume();
        if self.len == self.buf.len() {
            // A line longer than any the protocol has: drop it.
            self.len = 0;
        }
        let room = &mut self.buf[self.len..];
        // SAFETY: reading into our own buffer's free part.
        let r = unsafe { libc::read(sock.as_raw_fd(), room.as_mut_ptr().cast(), room.len()) };
        if r > 0 {
            self.len += r as usize;
            return true;
        }
        r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN)
    }

    /// The next whole line, without its `\n`.
    fn next(&mut self) -> Option<&[u8]> {
        self.consume();
        let end = self.buf[..self.len].iter().position(|&b| b == b'\n')?;
        self.used = end + 1;
        Some(&self.buf[..end])
    }
}

/// How the wait after `OK` ended.
enum Wait {
    /// `END <code>`: the hub ended the call; exit with its code.
    End(c_int),
    /// A stop signal.
    Stop(c_int),
    /// The hub closed without `END`, or the pipe ran dry (`hung`: its
    /// socket still open): take over.
    Gone { hung: bool },
}

/// Waits: `ppoll` on the socket, waking every [`CHECK`] for the pipe-dry
/// check (`FIONREAD` on stdout); while the hub says `WATCHED` (until an
/// `UNWATCHED`), with no timeout at all (zero CPU until the socket or a
/// signal wakes it).
fn wait(sock: &OwnedFd, lines: &mut Lines, named: &mut Named, mask: &Signals) -> Wait {
    // The kernel may run each wake up to TIMER_SLACK late, so the wakes of
    // many shims share timer interrupts: measured 30 % less CPU per wait
    // (docs/shim.md); the checks stay at least CHECK apart.
    set_timer_slack(TIMER_SLACK_NS);
    let ok_at = Instant::now();
    let mut last_check = ok_at;
    let mut written = false;
    let mut watched = false;
    let mut dry = 0;
    loop {
        while let Some(line) = lines.next() {
            if let Some(code) = end_code(line) {
                return Wait::End(code);
            }
            if named.take(line) {
                // Kept for a take-over (see `Named`).
            } else if line == b"WATCHED" {
                watched = true;
            } else if line == b"UNWATCHED" && watched {
                // Its watchdog is gone: the looks start again, counted afresh.
                watched = false;
                dry = 0;
                last_check = Instant::now();
            }
        }
        let period = if watched {
            None
        } else if dry > 0 {
            Some(CONFIRM)
        } else {
            Some(CHECK)
        };
        let left = period.map(|p| p.saturating_sub(last_check.elapsed()));
        let ready = left != Some(Duration::ZERO) && poll(sock.as_raw_fd(), libc::POLLIN, left, mask);
        if let Some(sig) = stopped() {
            return Wait::Stop(sig);
        }
        if ready {
            if !lines.fill(sock) {
                // The hub may have said END just before closing.
                while let Some(line) = lines.next() {
                    if let Some(code) = end_code(line) {
                        return Wait::End(code);
                    }
                }
                return Wait::Gone { hung: false };
            }
            // The words first (at the loop's top).
            continue;
        }
        let Some(period) = period else { continue };
        let now = Instant::now();
        if now.duration_since(last_check) < period {
            continue;
        }
        last_check = now;
        // Not a pipe (a terminal, a file): no dry check, the socket only.
        let Some(queued) = queued() else { continue };
        written |= queued >= ARMED;
        if queued >= MIN_FRAME || !(written || now.duration_since(ok_at) >= FIRST_WRITE) {
            dry = 0;
            continue;
        }
        dry += 1;
        if dry >= DRY_LOOKS {
            return Wait::Gone { hung: true };
        }
    }
}

/// `PR_SET_TIMERSLACK` (0: back to the default). Kept across `execv`, so
/// the full binary's pacing gets the default back first.
fn set_timer_slack(ns: libc::c_ulong) {
    // SAFETY: prctl with plain integers.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns) };
}

/// `END <code>` → the code (0-255).
fn end_code(line: &[u8]) -> Option<c_int> {
    let digits = line.strip_prefix(b"END ")?;
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits.iter().fold(0, |v, d| v * 10 + c_int::from(d - b'0'));
    (code <= 255).then_some(code)
}

/// Bytes queued in stdout's pipe, if it is one.
fn queued() -> Option<c_int> {
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::FIONREAD, &mut n) };
    (r == 0).then_some(n)
}

/// `ppoll` on one fd for `events` (`None`: no timeout), letting the stop
/// signals in meanwhile; true when the fd is ready (or hung up).
fn poll(fd: RawFd, events: libc::c_short, timeout: Option<Duration>, mask: &Signals) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as _,
    });
    let ts = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
    // SAFETY: one valid pollfd, a valid timespec (or none: no timeout) and
    // signal mask.
    let r = unsafe { libc::ppoll(&mut p, 1, ts, &mask.waiting) };
    r > 0 && p.revents != 0
}

fn stopped() -> Option<c_int> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// A stop signal while the hub has the call: `STOP n` (so the hub ends the
/// call at once, even before it sees the hang-up), then the exit `run`
/// would make.
fn stop(sock: &OwnedFd, sig: c_int) -> c_int {
    let mut line = *b"STOP        ";
    let mut digits = [0u8; 8];
    let n = decimal(sig.max(0) as usize, &mut digits);
    line[5..5 + n].copy_from_slice(&digits[..n]);
    line[5 + n] = b'\n';
    send_now(sock, &line[..6 + n]);
    SIGNAL_EXIT
}

/// One non-blocking send, its outcome ignored (best effort).
fn send_now(sock: &OwnedFd, bytes: &[u8]) {
    // SAFETY: a valid buffer of bytes.len() bytes.
    unsafe {
        libc::send(
            sock.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
}

/// Becomes the full binary, `holdmix` beside this one: `holdmix run
/// [--standalone [--hub-hung] [--hub-checkpoints NAME]] <the same
/// arguments>`. Returns only if that fails.
fn exec_full(
    words: &[*const c_char],
    standalone: bool,
    mask: Option<&Signals>,
    hung: bool,
    named: Option<&CStr>,
) -> c_int {
    if mask.is_some_and(Signals::restore) {
        // A stop signal came while taking over: the call is being stopped.
        return SIGNAL_EXIT;
    }
    set_timer_slack(0);
    let Some(path) = full_binary() else {
        return fail(b"holdmix-shim: cannot find its own directory\n");
    };
    let mut argv: Vec<*const c_char> = Vec::with_capacity(words.len() + 7);
    argv.push(path.as_ptr());
    argv.push(c"run".as_ptr());
    if standalone {
        argv.push(c"--standalone".as_ptr());
    }
    if hung {
        argv.push(c"--hub-hung".as_ptr());
    }
    if let Some(name) = named {
        argv.push(c"--hub-checkpoints".as_ptr());
        argv.push(name.as_ptr());
    }
    argv.extend_from_slice(words);
    argv.push(std::ptr::null());
    // SAFETY: a valid path and a NULL-terminated array of valid C strings.
    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
    fail(b"holdmix-shim: cannot run the holdmix binary beside it\n")
}

/// `/proc/self/exe`'s directory + `/holdmix` (the directory stays right
/// when the shim's own file was replaced by an upgrade: ` (deleted)`).
fn full_binary() -> Option<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let path = exe.parent()?.join("holdmix");
    std::ffi::CString::new(path.as_os_str().as_bytes()).ok()
}

fn fail(text: &[u8]) -> c_int {
    // SAFETY: writing our own buffer to stderr.
    unsafe { libc::write(libc::STDERR_FILENO, text.as_ptr().cast(), text.len()) };
    1
}
