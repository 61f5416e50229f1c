//! Issue 18's hub findings: `--socket` replaces only a stale socket of its
//! own (finding 9).

use super::*;
use std::path::Path;
use std::process::Stdio;

/// A hub on `socket` whose AMI is nowhere; returns its exit status and log
/// once it has ended (bounded wait; killed if it does not end).
fn hub_alone(dir: &Path, socket: &Path) -> (std::process::ExitStatus, String) {
    let log = dir.join("hub.log");
    let mut hub = crate::common::holdmix(dir)
        .arg("--log")
        .arg(&log)
        .args(["hub", "--ami", "127.0.0.1:1", "--socket"])
        .arg(socket)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    let (status, _) = crate::common::wait_exit(&mut hub, Duration::from_secs(10));
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn the_hub_never_replaces_a_file_or_a_symlink_at_its_socket_path() {
    let dir = crate::common::tempdir();
    // A regular file where the socket would go.
    let file = dir.path().join("hub.sock");
    std::fs::write(&file, "precious\n").expect("write");
    let (status, log) = hub_alone(dir.path(), &file);
    assert!(!status.success(), "{status:?}");
    assert!(
        log.contains(&file.display().to_string()) && log.contains("regular file"),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("still there"), "precious\n");

    // A symlink to something of value: the link and its target stay.
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "also precious\n").expect("write");
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let (status, log) = hub_alone(dir.path(), &link);
    assert!(!status.success(), "{status:?}");
    assert!(
        log.contains(&link.display().to_string()) && log.contains("symlink"),
        "{log}"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("target"),
        "also precious\n"
    );

    // A directory.
    let sub = dir.path().join("dir.sock");
    std::fs::create_dir(&sub).expect("mkdir");
    let (status, log) = hub_alone(dir.path(), &sub);
    assert!(!status.success() && log.contains("directory"), "{log}");
    assert!(sub.is_dir());
}

#[test]
fn the_hub_replaces_a_stale_socket_of_its_own() {
    let dir = crate::common::tempdir();
    let socket = dir.path().join("hub.sock");
    // A socket nobody listens on any more (its hub was killed).
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let mut hub = crate::common::holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("hub.log"))
        .args(["hub", "--ami", "127.0.0.1:1", "--socket"])
        .arg(&socket)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    let started = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err()
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        "the new hub listens there"
    );
    crate::common::signal(&hub, libc::SIGKILL);
    hub.wait().ok();
}
