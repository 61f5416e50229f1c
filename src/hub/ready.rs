//! Telling systemd the hub is ready (`Type=notify` in the packaged
//! units): `READY=1` to `$NOTIFY_SOCKET` once its socket accepts and its
//! view of the live calls is rebuilt (greetings are no longer held), or a
//! second after its start when Asterisk does not answer (the unit must
//! start without it). So `systemctl restart` returns, and a unit ordered
//! after it starts, only once the hub takes calls without holding them:
//! a package upgrade restarts the standby hub before the hub, and the
//! hub's calls then go to a standby that streams them at once.
//!
//! The protocol is one datagram (sd_notify(3)); written here rather than
//! through a crate for a dozen lines.

use super::calls::{SharedCalls, wait_rebuilt};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Instant;

/// Starts the thread that says so, when systemd asks (`$NOTIFY_SOCKET`);
/// it ends once it has.
pub(super) fn spawn(calls: SharedCalls, started: Instant) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("ready".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            wait_rebuilt(&calls, started);
            if let Err(e) = notify(&path, b"READY=1") {
                tracing::warn!("cannot tell systemd the hub is ready: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot tell systemd the hub is ready: {e}");
    }
}

/// Sends `state` to the notify socket at `path` (`@name`: an abstract one).
fn notify(path: &std::ffi::OsStr, state: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let addr = match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    UnixDatagram::unbound()?.send_to_addr(state, &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_an_abstract_socket_both_get_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        notify(path.as_os_str(), b"READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("holdmix-test-{}", std::process::id());
        let abs = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        notify(std::ffi::OsStr::new(&format!("@{name}")), b"READY=1").unwrap();
        let n = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
