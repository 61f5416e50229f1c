//! The hub's audio watchdog: a second process that SIGKILLs a hub whose
//! pacing thread stopped ticking while it hosts calls. The kernel then
//! closes every hosted call's connection, and each waiting client
//! (`holdmix-shim`, `run --hub`) sees its socket hang up at once and
//! streams the call itself from its checkpoint. So the clients need not
//! look at their pipes to find a hung hub (the hub tells them with
//! `WATCHED`, docs/hub-audio.md): a waiting call costs no wake-up at all.
//!
//! The pacing thread publishes a heartbeat in a shared page ([`Beat`]: its
//! last wake, its next deadline, the calls it hosts, its thread id); the
//! watchdog (`holdmix hub-watchdog`, [`watch`]) looks at it when the
//! deadline is [`judge::BLOCKED`] past, and then asks the kernel what the
//! thread is doing ([`judge`]: a hung hub is killed then, a busy one at
//! 100 ms, a starved one later).
//!
//! A process, not a thread: a thread is stopped with the hub (SIGSTOP, a
//! debugger, a frozen cgroup) and dies with it. An exec of the hub's own
//! binary, not a bare fork: a forked child keeps every page of the hub
//! shared copy-on-write, so each page the hub writes afterwards is copied
//! (the hub's whole working set over time), and a child of a
//! multi-threaded process may only make raw syscalls. Spawned with
//! `posix_spawn` (std's `Command` without `pre_exec`), so the hub's page
//! tables are not even copied; the exec'd binary's own relocated data is
//! the cost, once per host (docs/hub-audio.md has the figures). In a
//! process group of its own: a hub run from a terminal and stopped there
//! (Ctrl-Z stops the terminal's foreground group), or stopped with its
//! group (`kill -STOP -PGID`), is stopped without its watchdog, which then
//! kills it as any hung hub. A watched call's client no longer looks at
//! its pipe at all, so nothing else would find that hub.

use crate::audio::clock::now_ns;
use memmap2::{MmapMut, MmapOptions};
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

mod judge;

/// The hidden word after `holdmix` that runs a watchdog (see [`main_if_asked`]).
pub const COMMAND: &str = "hub-watchdog";
/// A watchdog whose own wake is older than this is dead or stopped: the
/// pacing thread replaces it. Eight of its longest naps, so a watchdog
/// merely late on a loaded machine is left alone.
pub const DOG_STALE: Duration = Duration::from_secs(2);
/// After a failed spawn, the next try (the log gets one line each time).
const RETRY: Duration = Duration::from_secs(60);
/// No watchdog has woken for this long: none will soon (one replaced
/// after [`DOG_STALE`] wakes within milliseconds), so the calls are told
/// `UNWATCHED` and look at their pipes again.
const UNWATCHED_AFTER: Duration = Duration::from_secs(2 * DOG_STALE.as_secs());
/// The page's first word: a watchdog started on anything else refuses.
const MAGIC: u64 = u64::from_le_bytes(*b"hmxbeat2");
/// The shared page's size (one page; the heartbeat uses 48 bytes of it).
const PAGE: usize = 4096;

/// The shared page: written by one side each, read by the other, through
/// atomics only (both processes map the same memfd).
#[repr(C)]
struct Page {
    magic: AtomicU64,
    /// The hub's pid (the watchdog kills only its own parent).
    hub: AtomicU64,
    /// The pacing thread's last wake (CLOCK_MONOTONIC ns).
    woke: AtomicU64,
    /// Its next deadline (ns; 0: none, no call hosted).
    due: AtomicU64,
    /// The calls it hosts.
    calls: AtomicU64,
    /// The watchdog's last wake (ns): the hub's view of the watchdog.
    dog: AtomicU64,
    /// The pacing thread's id (0 until its first wake): the kernel's
    /// word on it is the watchdog's second opinion.
    tid: AtomicU64,
}

/// The heartbeat page, mapped; and, in this process only, what the calls
/// are told (see [`Beat::watching`]).
struct Shared {
    map: MmapMut,
    watching: AtomicBool,
}

impl Shared {
    fn page(&self) -> &Page {
        const _: () = assert!(std::mem::size_of::<Page>() <= PAGE);
        // SAFETY: the mapping is PAGE bytes, page-aligned (more than Page's
        // alignment), lives as long as `self`, and is only ever accessed
        // through these atomics, in both processes.
        unsafe { &*self.map.as_ptr().cast::<Page>() }
    }

    fn map(fd: impl AsFd) -> std::io::Result<Shared> {
        use std::os::fd::AsRawFd;
        let fd = fd.as_fd();
        // Shorter, the page's end would be a SIGBUS.
        if rustix::fs::fstat(fd)?.st_size < PAGE as i64 {
            return Err(std::io::Error::other("shorter than a page"));
        }
        let raw = fd.as_raw_fd();
        // SAFETY: a shared mapping of a memfd that nothing truncates (the
        // hub made it PAGE long and never resizes it); accessed through
        // atomics only (see `page`).
        let map = unsafe { MmapOptions::new().len(PAGE).map_mut(raw)? };
        Ok(Shared {
            map,
            watching: AtomicBool::new(false),
        })
    }
}

/// Whether a watchdog runs for this hub now (it woke within
/// [`DOG_STALE`]): the accept side tells each new call so (`WATCHED`).
#[derive(Clone)]
pub struct Watched(Arc<Shared>);

impl Watched {
    /// What a new call is told with its `OK`: the pacing thread's word
    /// ([`Beat::watching`], as of its last wake), or yes when a watchdog
    /// woke since (the first one, on a hub idle since it started).
    pub fn now(&self) -> bool {
        fresh(self.0.page(), now_ns()) || self.0.watching.load(Ordering::Relaxed)
    }
}

/// A watchdog woke within [`DOG_STALE`] of `now`.
fn fresh(page: &Page, now: u64) -> bool {
    let dog = page.dog.load(Ordering::Relaxed);
    dog != 0 && now.saturating_sub(dog) < DOG_STALE.as_nanos() as u64
}

/// The pacing thread's side: publishes each wake and keeps a watchdog
/// running (started here, replaced when it dies or stops waking).
pub struct Beat {
    shared: Arc<Shared>,
    memfd: OwnedFd,
    /// The hub's `--log`, for the watchdog's lines.
    log: Option<PathBuf>,
    child: Option<Child>,
    /// When the current watchdog was started (ns), or the last spawn failed.
    started: u64,
    /// The thread id is on the page.
    told_tid: bool,
    /// No spawn before this (ns): after a failure.
    retry_at: u64,
    /// What the calls are told (see [`Beat::watching`]).
    watching: bool,
    /// When this began (ns): the last watchdog's wake is counted from no
    /// earlier than this.
    born: u64,
}

impl Beat {
    /// Makes the page and starts the first watchdog; `log` is the hub's
    /// `--log`. Only the page is an error: a watchdog that cannot start is
    /// logged and retried (meanwhile calls are not told `WATCHED`, and keep
    /// the pipe-dry check).
    pub fn start(log: Option<&Path>) -> std::io::Result<(Beat, Watched)> {
        let memfd = rustix::fs::memfd_create("holdmix-heartbeat", rustix::fs::MemfdFlags::CLOEXEC)?;
        std::fs::File::from(memfd.try_clone()?).set_len(PAGE as u64)?;
        let shared = Arc::new(Shared::map(&memfd)?);
        let page = shared.page();
        page.hub.store(u64::from(std::process::id()), Ordering::Relaxed);
        page.magic.store(MAGIC, Ordering::Release);
        let mut beat = Beat {
            shared: shared.clone(),
            memfd,
            log: log.map(Path::to_path_buf),
            child: None,
            started: 0,
            retry_at: 0,
            told_tid: false,
            watching: false,
            born: now_ns(),
        };
        beat.respawn(now_ns());
        Ok((beat, Watched(shared)))
    }

    /// One wake of the pacing thread: at `now`, next due at `due` (`None`:
    /// no call), hosting `calls`. Three stores and a load, no syscall,
    /// unless the watchdog needs replacing. Called on the pacing thread.
    pub fn beat(&mut self, now: u64, due: Option<u64>, calls: usize) {
        let page = self.shared.page();
        if !self.told_tid {
            let tid = rustix::thread::gettid().as_raw_nonzero().get();
            page.tid.store(tid as u64, Ordering::Relaxed);
            self.told_tid = true;
        }
        page.woke.store(now, Ordering::Relaxed);
        page.due.store(due.unwrap_or(0), Ordering::Relaxed);
        page.calls.store(calls as u64, Ordering::Relaxed);
        let seen = page.dog.load(Ordering::Relaxed).max(self.started);
        if now.saturating_sub(seen) > DOG_STALE.as_nanos() as u64 && now >= self.retry_at {
            self.respawn(now);
        }
    }

    /// Whether the calls should count on a watchdog at `now` (after
    /// [`Beat::beat`]; published for [`Watched::now`]): yes once one wakes;
    /// no once none could be started, or none has woken for
    /// [`UNWATCHED_AFTER`] (one that dies before its first wake, again and
    /// again) unless one just started runs; in between, what it was. So a
    /// watchdog replaced in the usual way (stale for [`DOG_STALE`], its
    /// successor awake at once), even after a stall of the whole hub,
    /// changes nothing the calls were told.
    pub fn watching(&mut self, now: u64) -> bool {
        let page = self.shared.page();
        let dog = page.dog.load(Ordering::Relaxed);
        if fresh(page, now) {
            self.watching = true;
        } else if self.child.is_none()
            || (now.saturating_sub(dog.max(self.born)) > UNWATCHED_AFTER.as_nanos() as u64
                && !self.just_started(now))
        {
            self.watching = false;
        }
        self.shared.watching.store(self.watching, Ordering::Relaxed);
        self.watching
    }

    /// The watchdog was started less than [`DOG_STALE`] ago and runs: its
    /// first wake is still to come.
    fn just_started(&mut self, now: u64) -> bool {
        now.saturating_sub(self.started) < DOG_STALE.as_nanos() as u64
            && self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Reaps or kills the watchdog there was (if any), and starts another.
    fn respawn(&mut self, now: u64) {
        if let Some(mut old) = self.child.take() {
            match old.try_wait() {
                Ok(Some(status)) => {
                    tracing::warn!("the hub's audio watchdog ended ({status}): starting another")
                }
                Ok(None) => {
                    tracing::warn!(
                        pid = old.id(),
                        "the hub's audio watchdog stopped waking: replacing it"
                    );
                    old.kill().ok();
                    old.wait().ok();
                }
                Err(e) => tracing::warn!("the hub's audio watchdog is gone ({e}): starting another"),
            }
        }
        self.started = now;
        match self.spawn() {
            Ok(child) => {
                tracing::info!(pid = child.id(), "audio watchdog started");
                self.child = Some(child);
            }
            Err(e) => {
                tracing::error!(
                    "cannot start the audio watchdog ({e}): the hosted calls look at their pipes instead; retrying in {}s",
                    RETRY.as_secs()
                );
                self.retry_at = now + RETRY.as_nanos() as u64;
            }
        }
    }

    /// `holdmix hub-watchdog [LOG]` from the hub's own binary
    /// (`/proc/self/exe`: right even when an upgrade replaced the file),
    /// the page as its stdin.
    fn spawn(&self) -> std::io::Result<Child> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("holdmix").arg(COMMAND);
        if let Some(log) = &self.log {
            cmd.arg(log);
        }
        // The hub's environment may hold the AMI secret: not passed on.
        cmd.env_remove("HOLDMIX_AMI_SECRET")
            .process_group(0)
            .stdin(Stdio::from(self.memfd.try_clone()?))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
    }
}

/// `main`'s first look: when the process is `holdmix hub-watchdog [LOG]`,
/// runs the watchdog and returns its exit code. Not a clap subcommand: it
/// is no command for people (it needs the hub's page as stdin), and would
/// show in the manual pages and completions.
pub fn main_if_asked() -> Option<std::process::ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(COMMAND.as_ref()) {
        return None;
    }
    let log: Option<OsString> = args.next();
    close_inherited();
    if let Err(e) = crate::util::logging::init(log.as_deref().map(Path::new), 0, false, false) {
        eprintln!("holdmix: {e:#}");
    }
    Some(match watch() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("audio watchdog: {e}");
            std::process::ExitCode::FAILURE
        }
    })
}

/// Closes every descriptor above stderr. The hub's own are close-on-exec,
/// but one leaked to it (or by a library in it) and held here would be a
/// hosted call's connection that stays open when the hub is killed, or a
/// pipe whose reader never sees its end.
fn close_inherited() {
    // SAFETY: close_range(2) with plain integers; nothing of this process
    // is open above stderr yet (the page is stdin, the log not open).
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r == 0 {
        return;
    }
    // Before Linux 5.9: one by one, as /proc lists them.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: closing a descriptor this process does not use (the
        // directory's own is gone by now, closed with its iterator).
        unsafe { libc::close(fd) };
    }
}

/// The watchdog's life: until its hub exits, or until it kills it.
fn watch() -> Result<(), String> {
    let shared = Shared::map(std::io::stdin()).map_err(|e| format!("no heartbeat page on stdin: {e}"))?;
    let page = shared.page();
    if page.magic.load(Ordering::Acquire) != MAGIC {
        return Err("stdin is not a hub's heartbeat page".into());
    }
    let hub = page.hub.load(Ordering::Relaxed);
    // Killed with the hub at once (the parent is the thread that spawned
    // it: the hub's pacing thread or main thread, both live as long as it
    // does); the check of the parent after the prctl closes the race with
    // a hub that died before it.
    // SAFETY: prctl with plain integers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let parent = || u64::from(std::os::unix::process::parent_id());
    let mut judge = judge::Judge::default();
    let mut nap = judge::IDLE.as_nanos() as u64;
    loop {
        let start = now_ns();
        page.dog.store(start, Ordering::Relaxed);
        let planned = start + nap;
        std::thread::sleep(Duration::from_nanos(nap));
        if parent() != hub {
            // The hub is gone (PR_SET_PDEATHSIG aside): nothing to watch.
            return Ok(());
        }
        let now = now_ns();
        let heartbeat = judge::Heartbeat {
            woke: page.woke.load(Ordering::Relaxed),
            due: page.due.load(Ordering::Relaxed),
            calls: page.calls.load(Ordering::Relaxed),
        };
        let probe = || match page.tid.load(Ordering::Relaxed) {
            0 => None,
            tid => judge::probe(hub, tid),
        };
        match judge.look(heartbeat, now, now.saturating_sub(planned), probe) {
            judge::Decision::Nap(ns) => nap = ns,
            judge::Decision::Kill(k) => {
                let judge::Kill {
                    stalled_ms,
                    late_ms,
                    calls,
                    how,
                } = k;
                tracing::error!(
                    stalled_ms,
                    late_ms,
                    calls,
                    thread = how,
                    "audio pacing stalled for {stalled_ms} ms: killing the hub so its calls continue standalone"
                );
                // The hub's death must not kill us before that line is out
                // (the offload thread writes it; the exit waits for it,
                // bounded): the watch is over anyway.
                // SAFETY: prctl with plain integers; kill(2) on our parent's
                // pid, checked just above (it cannot be reused while we are
                // its child: it is a zombie at worst, until its own parent
                // reaps it).
                unsafe {
                    libc::prctl(libc::PR_SET_PDEATHSIG, 0);
                    libc::kill(hub as libc::pid_t, libc::SIGKILL);
                }
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page-long memfd, as the hub makes it.
    fn page_fd() -> OwnedFd {
        let memfd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        std::fs::File::from(memfd.try_clone().unwrap())
            .set_len(PAGE as u64)
            .unwrap();
        memfd
    }

    #[test]
    fn the_page_is_shared_through_its_fd() {
        let memfd = page_fd();
        let a = Shared::map(&memfd).unwrap();
        let b = Shared::map(&memfd).unwrap();
        a.page().due.store(42, Ordering::Relaxed);
        assert_eq!(b.page().due.load(Ordering::Relaxed), 42);
        let w = Watched(Arc::new(b));
        assert!(!w.now(), "no watchdog has woken");
        a.page().dog.store(now_ns(), Ordering::Relaxed);
        assert!(w.now());
    }

    /// What the calls are told: watched from a watchdog's first wake; a
    /// watchdog stale for [`DOG_STALE`] (replaced then, its successor
    /// awake within milliseconds) changes nothing; none awake for
    /// [`UNWATCHED_AFTER`], or none that could be started, is unwatched.
    #[test]
    fn the_calls_are_watched_while_a_watchdog_wakes() {
        let memfd = page_fd();
        let shared = Arc::new(Shared::map(&memfd).unwrap());
        // A child standing for a running watchdog.
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let s = |secs: f64| (secs * 1e9) as u64;
        let t0 = s(1000.0);
        let mut beat = Beat {
            shared: shared.clone(),
            memfd,
            log: None,
            child: Some(child),
            started: t0,
            told_tid: true,
            retry_at: 0,
            watching: false,
            born: t0,
        };
        let dog = |at: u64| shared.page().dog.store(at, Ordering::Relaxed);
        assert!(!beat.watching(t0 + s(0.5)), "no watchdog has woken yet");
        dog(t0 + s(0.6));
        assert!(beat.watching(t0 + s(0.7)));
        // Stale, replaced, its successor not awake yet: still watched.
        assert!(beat.watching(t0 + s(0.6) + DOG_STALE.as_nanos() as u64 + s(0.5)));
        assert!(beat.watching(t0 + s(0.6) + UNWATCHED_AFTER.as_nanos() as u64));
        // None awake for longer (each successor dies before its first wake).
        let lapsed = t0 + s(0.7) + UNWATCHED_AFTER.as_nanos() as u64;
        assert!(!beat.watching(lapsed));
        assert!(!beat.watching(lapsed + s(1.0)), "it stays unwatched");
        dog(lapsed + s(1.0));
        assert!(beat.watching(lapsed + s(1.1)), "watched again");
        // The whole hub stalled for 10 s (a VM paused): its watchdog
        // replaced at the first wake after, the successor running and not
        // awake yet: still watched; the successor dead at once: not.
        let back = lapsed + s(11.0);
        beat.started = back;
        assert!(beat.watching(back + s(0.001)), "a successor just started");
        // New calls are told what the pacing thread said last (no
        // watchdog fresh: `dog` at 0 reads as never woken).
        let told = Watched(shared.clone());
        dog(0);
        assert!(told.now());
        let mut child = beat.child.take().unwrap();
        child.kill().ok();
        child.wait().ok();
        beat.child = Some(child);
        dog(lapsed + s(1.0));
        assert!(!beat.watching(back + s(0.002)), "a successor dead at once");
        dog(0);
        assert!(!told.now());
        // None could be started: unwatched as soon as the last is stale.
        dog(back + s(1.0));
        assert!(beat.watching(back + s(1.1)));
        beat.child = None;
        assert!(beat.watching(back + s(1.2)), "the last one is fresh");
        let stale = back + s(1.0) + DOG_STALE.as_nanos() as u64 + 1;
        assert!(!beat.watching(stale));
    }
}
