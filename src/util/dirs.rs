//! A directory other users must not be able to plant files in: a
//! timeline directory an operator names (`run --timeline-dir`). The state
//! dir (`state::StateDir`) is stricter (private to the user, no group);
//! this one may be group-readable so an operator's group can read what
//! callers heard, but it is refused when another user could write into it
//! or swap it: a symlink, another owner, or world-writable without the
//! sticky bit. Each error names the path and what is wrong with it.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

/// Creates `dir` (and missing parents, mode 0750) when absent, then checks it.
pub fn ensure_shared_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .map_err(|e| format!("{}: cannot create the directory: {e}", dir.display()))?;
    check_shared_dir(dir)
}

/// `dir` is a real directory of this user that no other user can write.
pub fn check_shared_dir(dir: &Path) -> Result<(), String> {
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    let why = if m.file_type().is_symlink() {
        "a symlink (give the directory itself)".to_string()
    } else if !m.is_dir() {
        "not a directory".to_string()
    } else if m.uid() != me {
        format!("owned by uid {}, not by this user (uid {me})", m.uid())
    } else if m.mode() & 0o002 != 0 && m.mode() & 0o1000 == 0 {
        "world-writable without the sticky bit (any user could replace its files)".to_string()
    } else {
        return Ok(());
    };
    Err(format!("{}: refused: {why}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn own_dirs_pass_and_open_ones_are_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/b");
        ensure_shared_dir(&d).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o750);

        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_shared_dir(&d).unwrap_err();
        assert!(
            e.starts_with(&d.display().to_string()) && e.contains("world-writable"),
            "{e}"
        );
        // The sticky bit (as /tmp has) keeps others from replacing files.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        check_shared_dir(&d).unwrap();

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&d, &link).unwrap();
        let e = ensure_shared_dir(&link).unwrap_err();
        assert!(e.contains("symlink"), "{e}");

        let file = tmp.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert!(check_shared_dir(&file).unwrap_err().contains("not a directory"));
    }

    #[test]
    fn another_users_directory_is_refused() {
        // Root owns `/`; a test run as root cannot show this.
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            return;
        }
        let e = check_shared_dir(Path::new("/")).unwrap_err();
        assert!(e.contains("owned by uid 0"), "{e}");
    }
}
