//! "At most once per N minutes per host" for work many processes could
//! each start (sweeping a shared directory): a marker file's age says
//! when it was last done. Racing processes may both do it once; that is
//! harmless for a sweep and cheaper than a lock.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Whether the work `marker` stands for is due (not done within
/// `every`); if it is, the marker is touched now, so it is not due again
/// for `every`. The marker is never followed through a symlink.
pub fn due(marker: &Path, every: Duration) -> bool {
    if !looks_due(marker, every) {
        return false;
    }
    File::create(marker).ok();
    true
}

/// Whether the work looks due, without claiming it: for a caller that
/// would start a thread for it only to find it done (one `lstat`).
pub fn looks_due(marker: &Path, every: Duration) -> bool {
    std::fs::symlink_metadata(marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_none_or(|age| age >= every)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_once_then_not_until_the_marker_ages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = dir.path().join(".swept");
        let hour = Duration::from_secs(3600);
        assert!(looks_due(&m, hour), "no marker yet");
        assert!(due(&m, hour), "no marker yet");
        assert!(!looks_due(&m, hour), "just done");
        assert!(!due(&m, hour), "just done");
        assert!(due(&m, Duration::ZERO), "older than no time at all");
    }
}
