//! When the watchdog looks, and what it decides: the pacing thread's
//! heartbeat (its next deadline) against the clock, and, once it is late,
//! what the kernel says the thread is doing (`/proc/PID/task/TID/stat`
//! and `schedstat`).
//!
//! Late and blocked (sleeping, in the disk, stopped: anything but
//! runnable) with no CPU used between two looks [`CONFIRM`] apart, it is
//! hung, and nothing will wake it in time: killed [`BLOCKED`] past its
//! deadline, when the pipes' lead (60 ms at a deadline) runs out, so its
//! clients resume their calls about when their readers would first miss a
//! read. Late but runnable, it is working or waiting for a CPU: killed
//! [`STALL`] past its deadline when it used the CPU meanwhile (a tick that
//! long, or a loop), but given [`STARVED`] when it hardly ran (a starved
//! machine: every hosted call taking itself over at once would only add
//! a herd of starting processes to the CPUs that are short already).
//! Asleep in its own `epoll_wait` past the timeout it set, it is waiting
//! for its CPU as well (a vCPU the host holds back): given [`STARVED`].

use std::time::Duration;

/// How far past its deadline a blocked pacing thread is killed. At a
/// deadline the pipes hold 60 ms or more: their readers find them dry
/// from about now on. With the deadline at most 40 ms after the thread's
/// last wake (one call's period), a hung hub is killed within 100 ms of
/// its last wake.
pub const BLOCKED: Duration = Duration::from_millis(55);
/// The second look at a thread found blocked: its CPU time must not have
/// moved meanwhile (a thread that ran between the looks was only waiting
/// for a moment, on a lock or the disk).
pub const CONFIRM: Duration = Duration::from_millis(5);
/// How far past its deadline a runnable thread that used the CPU is
/// killed: 100 ms.
pub const STALL: Duration = Duration::from_millis(100);
/// How far past its deadline a runnable thread that hardly ran (under a
/// quarter of the time since the watchdog first saw it late) is killed.
pub const STARVED: Duration = Duration::from_millis(1000);
/// The longest nap: while no call is hosted, and the longest wait for a
/// deadline far off (the watchdog's own heartbeat must stay fresh).
pub const IDLE: Duration = Duration::from_millis(250);

/// What the heartbeat page says, read at one look.
#[derive(Clone, Copy, Debug)]
pub struct Heartbeat {
    /// The pacing thread's last wake (ns).
    pub woke: u64,
    /// Its next deadline (ns; 0: none).
    pub due: u64,
    pub calls: u64,
}

/// What the kernel says of the pacing thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    /// Running or waiting for a CPU (`R`), rather than blocked.
    pub runnable: bool,
    /// In uninterruptible sleep (`D`): waiting for the disk or a page
    /// fault, which ends (on a machine busy with I/O, tens of ms).
    pub in_io: bool,
    /// Its CPU time so far (ns).
    pub ran_ns: u64,
    /// Another thread of the hub is runnable or in `D` (one the pacing
    /// thread may be waiting for).
    pub others_busy: bool,
    /// Asleep in `epoll_wait`: the pacing thread's own wait for the
    /// deadline it published, whose timeout is long past by the time it is
    /// judged. Only a CPU that does not run keeps it there: a VM's vCPU
    /// the host has not scheduled (measured: one of this 2-core VM's went
    /// 70 ms without running while the other ran the watchdog). Killing
    /// the hub would not bring that CPU back, and sends every call into a
    /// take-over herd: it is waited for as a starved thread is.
    pub in_timed_wait: bool,
}

/// The watchdog's decision at a look.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Look again after this many ns.
    Nap(u64),
    /// Kill the hub.
    Kill(Kill),
}

/// Why, for the log line.
#[derive(Debug, PartialEq, Eq)]
pub struct Kill {
    pub stalled_ms: u64,
    pub late_ms: u64,
    pub calls: u64,
    /// "blocked", "busy", "starved" or "unknown" (no word from the kernel).
    pub how: &'static str,
}

/// The judge's memory between looks: what it saw of the thread late on
/// one deadline.
#[derive(Default)]
pub struct Judge {
    seen: Option<Seen>,
}

struct Seen {
    due: u64,
    at: u64,
    thread: Thread,
}

const MS: u64 = 1_000_000;

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

impl Judge {
    /// One look at `now`, the watchdog's own wake `late` ns after it was
    /// planned; `probe` asks the kernel about the thread (`None`: it
    /// cannot say), only when the thread is late.
    pub fn look(
        &mut self,
        hb: Heartbeat,
        now: u64,
        late: u64,
        probe: impl FnOnce() -> Option<Thread>,
    ) -> Decision {
        if hb.calls == 0 || hb.due == 0 {
            self.seen = None;
            return Decision::Nap(ns(IDLE));
        }
        let blocked_at = hb.due.saturating_add(ns(BLOCKED));
        if now < blocked_at {
            self.seen = None;
            return Decision::Nap((blocked_at - now).clamp(MS, ns(IDLE)));
        }
        let past = now - hb.due;
        // The watchdog itself was that late: the whole machine stopped (a
        // VM paused, the host swapping), not the hub alone. The pacing
        // thread gets a moment to wake before it is judged.
        if late > ns(STALL) {
            self.seen = None;
            return Decision::Nap(ns(CONFIRM));
        }
        let kill = |how| {
            Decision::Kill(Kill {
                stalled_ms: now.saturating_sub(hb.woke) / MS,
                late_ms: past / MS,
                calls: hb.calls,
                how,
            })
        };
        let until = |bound: Duration| Decision::Nap((ns(bound).saturating_sub(past)).clamp(MS, ns(IDLE)));
        let Some(thread) = probe() else {
            // No word from the kernel (/proc hidden): the plain bound.
            return if past >= ns(STALL) {
                kill("unknown")
            } else {
                until(STALL)
            };
        };
        let before = self.seen.take().filter(|s| s.due == hb.due);
        if !thread.runnable {
            // Hung: asleep or stopped, not in I/O, nothing else of the hub
            // running, waiting for a CPU or in I/O, at two looks, and the
            // pacing thread did not run between them. Asleep in its own
            // timed wait, long expired, it is not hung: its CPU does not
            // run (a vCPU the host holds back).
            let idle = |t: &Thread| !t.runnable && !t.in_io && !t.others_busy && !t.in_timed_wait;
            let hung = idle(&thread)
                && before
                    .as_ref()
                    .is_some_and(|s| idle(&s.thread) && s.thread.ran_ns == thread.ran_ns);
            if hung {
                return kill("blocked");
            }
            // In I/O, or another of its threads runs, waits for a CPU or
            // is in I/O: the pacing thread may be waiting for the disk or
            // for that thread (a lock its holder has not let go, on a
            // starved or I/O-bound machine); or for its CPU. Looked at
            // again until it is hung, or for as long as a starved one is
            // given.
            if past >= ns(STARVED) {
                return kill(if thread.in_timed_wait {
                    "starved"
                } else {
                    "waiting"
                });
            }
            self.seen = Some(Seen {
                due: hb.due,
                at: now,
                thread,
            });
            return Decision::Nap(ns(CONFIRM));
        }
        match before {
            Some(s) if s.thread.runnable && past >= ns(STALL) => {
                let ran = thread.ran_ns.saturating_sub(s.thread.ran_ns);
                let starved = ran.saturating_mul(4) < now.saturating_sub(s.at);
                if !starved {
                    kill("busy")
                } else if past >= ns(STARVED) {
                    kill("starved")
                } else {
                    // Remembered as first seen: the share counts from there.
                    self.seen = Some(s);
                    until(STARVED)
                }
            }
            Some(s) if s.thread.runnable => {
                self.seen = Some(s);
                until(STALL)
            }
            _ => {
                self.seen = Some(Seen {
                    due: hb.due,
                    at: now,
                    thread,
                });
                until(STALL)
            }
        }
    }
}

/// The thread `tid` of process `pid`, as the kernel says now: its state
/// and its CPU time (`schedstat`'s first field, ns), whether another
/// thread of the process is runnable or in I/O, and, asleep, whether in
/// `epoll_wait` (`wchan`: readable by the hub's own user; unreadable, it
/// counts as not).
pub fn probe(pid: u64, tid: u64) -> Option<Thread> {
    let tasks = format!("/proc/{pid}/task");
    let own = state(&format!("{tasks}/{tid}"))?;
    let in_timed_wait = own == 'S'
        && std::fs::read_to_string(format!("{tasks}/{tid}/wchan")).is_ok_and(|w| in_epoll_wait(w.trim()));
    let sched = std::fs::read_to_string(format!("{tasks}/{tid}/schedstat")).ok()?;
    let ran_ns = sched.split_whitespace().next()?.parse().ok()?;
    let tid_name = tid.to_string();
    let others_busy = std::fs::read_dir(&tasks)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_str() != Some(tid_name.as_str()))
        .any(|e| matches!(state(&e.path().to_string_lossy()), Some('R' | 'D')));
    Some(Thread {
        runnable: own == 'R',
        in_io: own == 'D',
        ran_ns,
        others_busy,
        in_timed_wait,
    })
}

/// `wchan` of a task asleep in `epoll_wait` (`ep_poll` before Linux 5.11
/// inlined it).
fn in_epoll_wait(wchan: &str) -> bool {
    matches!(wchan, "do_epoll_wait" | "ep_poll")
}

/// A task's state (`/proc/…/task/TID/stat`, the field after the name in
/// parentheses; the name may hold spaces and parentheses).
fn state(task: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("{task}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_000 * MS;

    fn hb(calls: u64, due: u64) -> Heartbeat {
        Heartbeat {
            woke: T - 40 * MS,
            due,
            calls,
        }
    }

    /// The kernel's word on the pacing thread, for a test's probe.
    fn thread(runnable: bool, in_io: bool, others_busy: bool, ran_ns: u64) -> Option<Thread> {
        Some(Thread {
            runnable,
            in_io,
            ran_ns,
            others_busy,
            in_timed_wait: false,
        })
    }

    /// Asleep in its own `epoll_wait`, long past its timeout.
    fn held_back(ran_ns: u64) -> Option<Thread> {
        thread(false, false, false, ran_ns).map(|t| Thread {
            in_timed_wait: true,
            ..t
        })
    }

    fn blocked(ran_ns: u64) -> Option<Thread> {
        thread(false, false, false, ran_ns)
    }

    fn runnable(ran_ns: u64) -> Option<Thread> {
        thread(true, false, false, ran_ns)
    }

    /// Blocked while another of the hub's threads runs.
    fn waiting(ran_ns: u64) -> Option<Thread> {
        thread(false, false, true, ran_ns)
    }

    /// In uninterruptible sleep (the disk, a page fault).
    fn in_io(ran_ns: u64) -> Option<Thread> {
        thread(false, true, false, ran_ns)
    }

    fn no_probe() -> Option<Thread> {
        panic!("the thread was probed while on time")
    }

    #[test]
    fn on_time_it_naps_until_the_blocked_bound() {
        let mut j = Judge::default();
        assert_eq!(j.look(hb(5, T), T - 10 * MS, 0, no_probe), Decision::Nap(65 * MS));
        assert_eq!(j.look(hb(5, T), T + 50 * MS, 0, no_probe), Decision::Nap(5 * MS));
        // No call: the idle nap, whatever the clock.
        assert_eq!(
            j.look(hb(0, T), T + 10_000 * MS, 0, no_probe),
            Decision::Nap(ns(IDLE))
        );
        assert_eq!(
            j.look(hb(5, 0), T + 10_000 * MS, 0, no_probe),
            Decision::Nap(ns(IDLE))
        );
        // A deadline far off: the longest nap.
        assert_eq!(
            j.look(hb(5, T + 5_000 * MS), T, 0, no_probe),
            Decision::Nap(ns(IDLE))
        );
    }

    #[test]
    fn a_thread_blocked_at_two_looks_without_running_is_killed() {
        let mut j = Judge::default();
        let at = T + 55 * MS;
        assert_eq!(j.look(hb(5, T), at, 0, || blocked(7)), Decision::Nap(5 * MS));
        assert_eq!(
            j.look(hb(5, T), at + 5 * MS, 0, || blocked(7)),
            Decision::Kill(Kill {
                stalled_ms: 100,
                late_ms: 60,
                calls: 5,
                how: "blocked"
            })
        );
    }

    #[test]
    fn a_thread_that_ran_between_the_looks_or_moved_on_is_spared() {
        let mut j = Judge::default();
        let at = T + 55 * MS;
        j.look(hb(5, T), at, 0, || blocked(7));
        // It ran meanwhile (a moment's wait on a lock): judged again.
        assert_eq!(
            j.look(hb(5, T), at + 5 * MS, 0, || blocked(9)),
            Decision::Nap(5 * MS)
        );
        assert!(matches!(
            j.look(hb(5, T), at + 10 * MS, 0, || blocked(9)),
            Decision::Kill(_)
        ));
        // A new deadline since: a fresh start.
        let mut j = Judge::default();
        j.look(hb(5, T), at, 0, || blocked(7));
        assert_eq!(
            j.look(hb(5, T + 20 * MS), at + 5 * MS, 0, || blocked(7)),
            Decision::Nap(15 * MS)
        );
    }

    #[test]
    fn a_thread_waiting_for_another_that_runs_gets_as_long_as_a_starved_one() {
        let mut j = Judge::default();
        let at = T + 55 * MS;
        assert_eq!(j.look(hb(5, T), at, 0, || waiting(7)), Decision::Nap(5 * MS));
        assert_eq!(
            j.look(hb(5, T), at + 5 * MS, 0, || waiting(7)),
            Decision::Nap(5 * MS)
        );
        // The other thread blocked too: hung only after two such looks.
        assert_eq!(
            j.look(hb(5, T), at + 10 * MS, 0, || blocked(7)),
            Decision::Nap(5 * MS)
        );
        assert!(matches!(
            j.look(hb(5, T), at + 15 * MS, 0, || blocked(7)),
            Decision::Kill(Kill { how: "blocked", .. })
        ));
        // In I/O (a page fault on a machine busy with the disk): waited for.
        let mut j = Judge::default();
        assert_eq!(j.look(hb(5, T), at, 0, || in_io(7)), Decision::Nap(5 * MS));
        assert_eq!(
            j.look(hb(5, T), at + 5 * MS, 0, || in_io(7)),
            Decision::Nap(5 * MS)
        );
        assert!(matches!(
            j.look(hb(5, T), T + 1000 * MS, 0, || in_io(7)),
            Decision::Kill(Kill { how: "waiting", .. })
        ));
        // Another thread runnable for ever: the starved bound.
        let mut j = Judge::default();
        assert_eq!(
            j.look(hb(5, T), T + 990 * MS, 0, || waiting(7)),
            Decision::Nap(5 * MS)
        );
        assert!(matches!(
            j.look(hb(5, T), T + 1000 * MS, 0, || waiting(7)),
            Decision::Kill(Kill { how: "waiting", .. })
        ));
    }

    #[test]
    fn a_runnable_thread_is_killed_at_the_stall_bound_if_it_ran() {
        let mut j = Judge::default();
        assert_eq!(
            j.look(hb(5, T), T + 55 * MS, 0, || runnable(0)),
            Decision::Nap(45 * MS)
        );
        // 45 ms later, 40 ms of it on the CPU: a tick that long, or a loop.
        assert_eq!(
            j.look(hb(5, T), T + 100 * MS, 0, || runnable(40 * MS)),
            Decision::Kill(Kill {
                stalled_ms: 140,
                late_ms: 100,
                calls: 5,
                how: "busy"
            })
        );
    }

    #[test]
    fn a_starved_thread_gets_longer() {
        let mut j = Judge::default();
        j.look(hb(5, T), T + 55 * MS, 0, || runnable(0));
        // 5 ms of CPU in 45 ms: waiting for a CPU, not working.
        assert_eq!(
            j.look(hb(5, T), T + 100 * MS, 0, || runnable(5 * MS)),
            Decision::Nap(ns(IDLE))
        );
        assert_eq!(
            j.look(hb(5, T), T + 900 * MS, 0, || runnable(50 * MS)),
            Decision::Nap(100 * MS)
        );
        assert!(matches!(
            j.look(hb(5, T), T + 1000 * MS, 0, || runnable(60 * MS)),
            Decision::Kill(Kill { how: "starved", .. })
        ));
    }

    #[test]
    fn a_thread_its_cpu_holds_back_in_its_own_wait_gets_as_long_as_a_starved_one() {
        // Asleep in epoll_wait 55 ms past a timeout of its own: its CPU
        // does not run (a VM's vCPU). Not killed as blocked at 60 ms.
        let mut j = Judge::default();
        let at = T + 55 * MS;
        assert_eq!(j.look(hb(5, T), at, 0, || held_back(7)), Decision::Nap(5 * MS));
        assert_eq!(
            j.look(hb(5, T), at + 5 * MS, 0, || held_back(7)),
            Decision::Nap(5 * MS)
        );
        assert_eq!(
            j.look(hb(5, T), T + 500 * MS, 0, || held_back(7)),
            Decision::Nap(5 * MS)
        );
        assert!(matches!(
            j.look(hb(5, T), T + 1000 * MS, 0, || held_back(7)),
            Decision::Kill(Kill { how: "starved", .. })
        ));
        // Woken, then blocked elsewhere (a lock): hung only after two
        // such looks, the one in its wait not counted.
        let mut j = Judge::default();
        j.look(hb(5, T), at, 0, || held_back(7));
        assert_eq!(
            j.look(hb(5, T), at + 5 * MS, 0, || blocked(8)),
            Decision::Nap(5 * MS)
        );
        assert!(matches!(
            j.look(hb(5, T), at + 10 * MS, 0, || blocked(8)),
            Decision::Kill(Kill { how: "blocked", .. })
        ));
    }

    #[test]
    fn a_thread_asleep_in_epoll_wait_is_told_from_one_on_a_lock() {
        use std::sync::mpsc;
        let pid = u64::from(std::process::id());
        let tid_of = || rustix::thread::gettid().as_raw_nonzero().get() as u64;
        // One thread in epoll_wait (2 s, ended early by its wake pipe's
        // close), one blocked on a lock (a futex).
        let (tx, rx) = mpsc::channel();
        let (wake_r, wake_w) = rustix::pipe::pipe().unwrap();
        let epoller = std::thread::spawn(move || {
            let ep = rustix::event::epoll::create(rustix::event::epoll::CreateFlags::CLOEXEC).unwrap();
            rustix::event::epoll::add(
                &ep,
                &wake_r,
                rustix::event::epoll::EventData::new_u64(0),
                rustix::event::epoll::EventFlags::IN,
            )
            .unwrap();
            tx.send(tid_of()).unwrap();
            let mut events = Vec::with_capacity(1);
            let two_s = rustix::time::Timespec {
                tv_sec: 2,
                tv_nsec: 0,
            };
            rustix::event::epoll::wait(&ep, rustix::buffer::spare_capacity(&mut events), Some(&two_s)).ok();
        });
        let lock = std::sync::Arc::new(std::sync::Mutex::new(()));
        let held = lock.lock().unwrap();
        let (ltx, lrx) = mpsc::channel();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                ltx.send(tid_of()).unwrap();
                drop(lock.lock());
            })
        };
        let (etid, ltid) = (rx.recv().unwrap(), lrx.recv().unwrap());
        // Both asleep by now, or soon (bounded).
        let asleep = |tid| {
            (0..400).find_map(|_| {
                std::thread::sleep(Duration::from_millis(5));
                probe(pid, tid).filter(|t| !t.runnable)
            })
        };
        let e = asleep(etid).expect("the epoll thread asleep");
        let l = asleep(ltid).expect("the lock's waiter asleep");
        drop(held);
        drop(wake_w);
        epoller.join().unwrap();
        waiter.join().unwrap();
        assert!(e.in_timed_wait, "{e:?}");
        assert!(!l.in_timed_wait, "{l:?}");
        assert!(
            !probe(pid, tid_of()).unwrap().in_timed_wait,
            "the asking thread runs"
        );
    }

    #[test]
    fn without_the_kernel_s_word_the_plain_bound_holds() {
        let mut j = Judge::default();
        assert_eq!(j.look(hb(5, T), T + 55 * MS, 0, || None), Decision::Nap(45 * MS));
        assert!(matches!(
            j.look(hb(5, T), T + 100 * MS, 0, || None),
            Decision::Kill(Kill { how: "unknown", .. })
        ));
    }

    #[test]
    fn a_late_watchdog_judges_nothing() {
        // The whole machine paused: the thread gets a moment first.
        let mut j = Judge::default();
        assert_eq!(
            j.look(hb(5, T), T + 900 * MS, 800 * MS, || blocked(7)),
            Decision::Nap(5 * MS)
        );
        j.look(hb(5, T), T + 905 * MS, 0, || blocked(7));
        assert!(matches!(
            j.look(hb(5, T), T + 910 * MS, 0, || blocked(7)),
            Decision::Kill(_)
        ));
    }

    #[test]
    fn this_thread_is_seen_runnable_with_its_cpu_time() {
        let pid = u64::from(std::process::id());
        let tid = rustix::thread::gettid().as_raw_nonzero().get() as u64;
        let a = probe(pid, tid).expect("this thread's stat");
        assert!(a.runnable, "the asking thread runs");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        // The kernel adds a running thread's time up at its switches.
        std::thread::sleep(Duration::from_millis(1));
        let b = probe(pid, tid).unwrap();
        assert!(b.ran_ns > a.ran_ns, "{a:?} then {b:?}");
        assert!(probe(pid, u64::from(u32::MAX)).is_none());
    }

    #[test]
    fn another_thread_that_spins_is_seen_runnable() {
        use std::sync::atomic::{AtomicBool, Ordering};
        static DONE: AtomicBool = AtomicBool::new(false);
        let spinner = std::thread::spawn(|| {
            while !DONE.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let pid = u64::from(std::process::id());
        let tid = rustix::thread::gettid().as_raw_nonzero().get() as u64;
        // Running or waiting for a CPU, it is `R` at every look; bounded.
        let seen = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(1));
            probe(pid, tid).is_some_and(|t| t.others_busy)
        });
        DONE.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        assert!(seen, "a spinning thread was never seen runnable");
    }
}
