//! The hub's audio watchdog: a second process that SIGKILLs a hub whose
//! pacing thread stopped ticking while it hosts calls. The kernel then
//! closes every hosted call's connection, and each waiting client
//! (`holdmix-shim`, `run --hub`) sees its socket hang up at once and
//! streams the call itself from its checkpoint. So the clients need not
//! look at their pipes often to find a hung hub (the hub tells them with
//! `WATCHED`, docs/hub-audio.md): a waiting call costs (almost) no wake-up.
//!
//! The pacing thread publishes a heartbeat in a shared page ([`Beat`]: its
//! last wake, its next deadline, the calls it hosts); the watchdog
//! (`holdmix hub-watchdog`, [`watch`]) looks at it every [`PERIOD`]
//! ([`IDLE_PERIOD`] while no call is hosted).
//!
//! A process, not a thread: a thread is stopped with the hub (SIGSTOP, a
//! debugger, a frozen cgroup) and dies with it. An exec of the hub's own
//! binary, not a bare fork: a forked child keeps every page of the hub
//! shared copy-on-write, so each page the hub writes afterwards is copied
//! (the hub's whole working set over time), and a child of a
//! multi-threaded process may only make raw syscalls. Spawned with
//! `posix_spawn` (std's `Command` without `pre_exec`), so the hub's page
//! tables are not even copied; the exec'd binary's own relocated data is
//! the cost, once per host (docs/hub-audio.md has the figures).

use crate::audio::clock::now_ns;
use memmap2::{MmapMut, MmapOptions};
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The hidden word after `holdmix` that runs a watchdog (see [`main_if_asked`]).
pub const COMMAND: &str = "hub-watchdog";
/// Between two looks at the heartbeat while calls are hosted. One process
/// per host: 50 wakes a second in all, whatever the number of calls.
pub const PERIOD: Duration = Duration::from_millis(20);
/// Between two looks while no call is hosted (an idle hub is never
/// killed): a stall in the very first 250 ms of a first call is seen that
/// much later, and an idle host pays 4 wakes a second, not 50.
pub const IDLE_PERIOD: Duration = Duration::from_millis(250);
/// How far past its next deadline the pacing thread may be before the hub
/// is killed: 100 ms. At a deadline a call's pipe holds 60-100 ms (the
/// pacer's lead), so past 100 ms every hosted call's reader already misses
/// reads and a kill costs no audio that is not lost anyway; any lower and
/// a pacing thread merely slow for a moment (one long tick under load)
/// would be killed while its calls still sound. With [`PERIOD`], a stalled
/// hub is killed 100-120 ms past its deadline, sooner than the clients'
/// old dry check took over (about 80-120 ms after the pipe ran dry).
pub const STALL: Duration = Duration::from_millis(100);
/// A watchdog whose own wake is older than this is dead or stopped: the
/// pacing thread replaces it. A hundred of its periods, so a watchdog
/// merely late on a loaded machine is left alone.
pub const DOG_STALE: Duration = Duration::from_secs(2);
/// After a failed spawn, the next try (the log gets one line each time).
const RETRY: Duration = Duration::from_secs(60);
/// The page's first word: a watchdog started on anything else refuses.
const MAGIC: u64 = u64::from_le_bytes(*b"hmxbeat1");
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
}

/// The heartbeat page, mapped.
struct Shared {
    map: MmapMut,
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
        Ok(Shared { map })
    }
}

/// Whether a watchdog runs for this hub now (it woke within
/// [`DOG_STALE`]): the accept side tells each new call so (`WATCHED`).
#[derive(Clone)]
pub struct Watched(Arc<Shared>);

impl Watched {
    pub fn now(&self) -> bool {
        let dog = self.0.page().dog.load(Ordering::Relaxed);
        dog != 0 && now_ns().saturating_sub(dog) < DOG_STALE.as_nanos() as u64
    }
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
    /// No spawn before this (ns): after a failure.
    retry_at: u64,
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
        };
        beat.respawn(now_ns());
        Ok((beat, Watched(shared)))
    }

    /// One wake of the pacing thread: at `now`, next due at `due` (`None`:
    /// no call), hosting `calls`. Three stores and a load, no syscall,
    /// unless the watchdog needs replacing.
    pub fn beat(&mut self, now: u64, due: Option<u64>, calls: usize) {
        let page = self.shared.page();
        page.woke.store(now, Ordering::Relaxed);
        page.due.store(due.unwrap_or(0), Ordering::Relaxed);
        page.calls.store(calls as u64, Ordering::Relaxed);
        let seen = page.dog.load(Ordering::Relaxed).max(self.started);
        if now.saturating_sub(seen) > DOG_STALE.as_nanos() as u64 && now >= self.retry_at {
            self.respawn(now);
        }
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
                    "cannot start the audio watchdog ({e}): hosted calls look at their pipes instead; retrying in {}s",
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
    if let Err(e) = crate::util::logging::init(log.as_deref().map(Path::new), 0, false) {
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
    let mut last = now_ns();
    let mut period = PERIOD;
    loop {
        page.dog.store(now_ns(), Ordering::Relaxed);
        std::thread::sleep(period);
        if parent() != hub {
            // The hub is gone (PR_SET_PDEATHSIG aside): nothing to watch.
            return Ok(());
        }
        let now = now_ns();
        let late = now.saturating_sub(last).saturating_sub(period.as_nanos() as u64);
        last = now;
        let v = Verdict::of(page, now, late);
        period = match page.calls.load(Ordering::Relaxed) {
            0 => IDLE_PERIOD,
            _ => PERIOD,
        };
        if let Verdict::Stalled {
            stalled_ms,
            late_ms,
            calls,
        } = v
        {
            tracing::error!(
                stalled_ms,
                late_ms,
                calls,
                "audio pacing stalled for {stalled_ms} ms: killing the hub so its calls continue standalone"
            );
            // SAFETY: kill(2) on our parent's pid, checked just above (it
            // cannot be reused while we are its child: it is a zombie at
            // worst, until its own parent reaps it).
            unsafe { libc::kill(hub as libc::pid_t, libc::SIGKILL) };
            return Ok(());
        }
    }
}

/// What one look at the page says.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Fine,
    /// The pacing thread is [`STALL`] past its deadline with calls hosted.
    Stalled {
        stalled_ms: u64,
        late_ms: u64,
        calls: u64,
    },
}

impl Verdict {
    /// At `now`, the watchdog's own wake having come `late` ns after it
    /// was due.
    fn of(page: &Page, now: u64, late: u64) -> Verdict {
        let calls = page.calls.load(Ordering::Relaxed);
        let due = page.due.load(Ordering::Relaxed);
        let woke = page.woke.load(Ordering::Relaxed);
        let stall = STALL.as_nanos() as u64;
        if calls == 0 || due == 0 || now <= due + stall {
            return Verdict::Fine;
        }
        // The watchdog itself was that late: the whole machine stopped (a
        // VM paused, the host swapping), not the hub alone. The pacing
        // thread gets one more period to wake before it is judged.
        if late > stall {
            return Verdict::Fine;
        }
        Verdict::Stalled {
            stalled_ms: now.saturating_sub(woke) / 1_000_000,
            late_ms: (now - due) / 1_000_000,
            calls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(calls: u64, woke: u64, due: u64) -> Page {
        Page {
            magic: AtomicU64::new(MAGIC),
            hub: AtomicU64::new(1),
            woke: AtomicU64::new(woke),
            due: AtomicU64::new(due),
            calls: AtomicU64::new(calls),
            dog: AtomicU64::new(0),
        }
    }

    const MS: u64 = 1_000_000;
    const ON_TIME: u64 = 0;

    #[test]
    fn a_hub_is_stalled_only_past_its_deadline_with_calls() {
        let t = 1_000 * MS;
        // On time, or late within the bound: fine.
        assert_eq!(
            Verdict::of(&page(5, t, t + 20 * MS), t + 10 * MS, ON_TIME),
            Verdict::Fine
        );
        assert_eq!(
            Verdict::of(&page(5, t, t + 20 * MS), t + 120 * MS, ON_TIME),
            Verdict::Fine
        );
        // Past it: stalled, with what the log line says.
        assert_eq!(
            Verdict::of(&page(5, t, t + 20 * MS), t + 121 * MS, ON_TIME),
            Verdict::Stalled {
                stalled_ms: 121,
                late_ms: 101,
                calls: 5
            }
        );
        // No call hosted (an idle hub may sleep for ever, or be stopped).
        assert_eq!(
            Verdict::of(&page(0, t, 0), t + 10_000 * MS, ON_TIME),
            Verdict::Fine
        );
        assert_eq!(
            Verdict::of(&page(0, t, t + 20 * MS), t + 10_000 * MS, ON_TIME),
            Verdict::Fine
        );
        // The watchdog itself slept far too long: the machine, not the hub.
        assert_eq!(
            Verdict::of(&page(5, t, t + 20 * MS), t + 900 * MS, 800 * MS),
            Verdict::Fine
        );
        assert!(matches!(
            Verdict::of(&page(5, t, t + 20 * MS), t + 920 * MS, ON_TIME),
            Verdict::Stalled { .. }
        ));
    }

    #[test]
    fn the_page_is_shared_through_its_fd() {
        let memfd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        std::fs::File::from(memfd.try_clone().unwrap())
            .set_len(PAGE as u64)
            .unwrap();
        let a = Shared::map(&memfd).unwrap();
        let b = Shared::map(&memfd).unwrap();
        a.page().due.store(42, Ordering::Relaxed);
        assert_eq!(b.page().due.load(Ordering::Relaxed), 42);
        let w = Watched(Arc::new(b));
        assert!(!w.now(), "no watchdog has woken");
        a.page().dog.store(now_ns(), Ordering::Relaxed);
        assert!(w.now());
    }
}
