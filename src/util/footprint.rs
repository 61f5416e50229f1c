//! Letting go of start-up code once the stream runs.
//!
//! Start-up (argument parsing, the playlist parser, logging set-up, the
//! cache) touches code all over the binary and its libraries, and the
//! kernel maps it 64 KiB at a time. A call then holds those pages for
//! hours although the audio loop needs a small part of them: on a host with
//! one call that is about 2 MB of private memory per process for nothing.
//!
//! Once streaming, [`drop_startup_pages`] unmaps (MADV_DONTNEED) every
//! read-only, private file mapping that holds no page of its own: code and
//! read-only data exactly as they are on disk. Nothing is lost: the next
//! touch maps the page again from the page cache (a minor fault). Mappings
//! with private copies (relocated data) are left alone: dropping those
//! would bring back the unrelocated bytes of the file.

use std::io::BufRead;

/// One malloc arena for the whole process, set before any thread starts.
///
/// glibc gives each thread that allocates an arena of its own (up to 8 per
/// core), and a call's short-lived threads (the preparation, the loader,
/// the playlist's reader) leave theirs behind, touched and fragmented:
/// measured, a held call's private memory is about 380 KiB smaller with
/// one arena (docs/benchmarks.md). A call's threads allocate little after
/// its start, and the audio thread's tick does not allocate in the steady
/// state, so they do not queue on the one lock.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Gives back to the kernel the heap start-up freed (the playlist's text
/// and parse, the preparation's scratch): glibc keeps freed memory for
/// reuse unless asked.
pub fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What [`drop_startup_pages`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dropped {
    pub mappings: usize,
    pub resident_kib: u64,
}

/// Unmaps the pages of clean, read-only, private file mappings (see the
/// module docs). Errors reading `/proc/self/smaps` leave everything mapped.
pub fn drop_startup_pages() -> Dropped {
    let mut done = Dropped::default();
    for m in clean_readonly_mappings() {
        // SAFETY: the range is a whole VMA of this process, read-only,
        // private, file-backed and without anonymous (modified) pages, so
        // MADV_DONTNEED only drops page-table entries that the next access
        // refills from the file's page cache with the same bytes.
        let r = unsafe { libc::madvise(m.start as *mut libc::c_void, m.end - m.start, libc::MADV_DONTNEED) };
        if r == 0 {
            done.mappings += 1;
            done.resident_kib += m.rss_kib;
        }
    }
    done
}

struct Mapping {
    start: usize,
    end: usize,
    rss_kib: u64,
}

fn clean_readonly_mappings() -> Vec<Mapping> {
    let Ok(f) = std::fs::File::open("/proc/self/smaps") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The VMA being read: (start, end, eligible so far, rss).
    let mut cur: Option<(usize, usize, bool, u64)> = None;
    let mut finish = |cur: &mut Option<(usize, usize, bool, u64)>| {
        if let Some((start, end, true, rss)) = cur.take()
            && rss > 0
        {
            out.push(Mapping {
                start,
                end,
                rss_kib: rss,
            });
        }
    };
    for line in std::io::BufReader::new(f).lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            finish(&mut cur);
            let perms = words.next().unwrap_or("");
            let path = words.nth(3).unwrap_or("");
            let eligible = perms.len() == 4
                && perms.starts_with('r')
                && !perms.contains('w')
                && perms.ends_with('p')
                && path.starts_with('/');
            cur = Some((start, end, eligible, 0));
            continue;
        }
        let value = || {
            words
                .clone()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match (first, cur.as_mut()) {
            ("Rss:", Some(c)) => c.3 = value(),
            // Private copies of pages: not the file's bytes any more.
            ("Anonymous:", Some(c)) if value() > 0 => c.2 = false,
            _ => {}
        }
    }
    finish(&mut cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_still_runs_after_its_pages_are_dropped() {
        let before: u64 = (1..=2000u64).map(|i| i * i).sum();
        let dropped = drop_startup_pages();
        assert!(
            dropped.mappings > 0,
            "the test binary has read-only file mappings"
        );
        // Everything here runs from pages mapped again on demand.
        let after: u64 = (1..=2000u64).map(|i| i * i).sum();
        assert_eq!(before, after);
        let text = format!("{:?}", std::env::current_exe());
        assert!(!text.is_empty());
    }
}
