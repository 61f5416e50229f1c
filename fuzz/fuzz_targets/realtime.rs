//! What Asterisk's `res_config_curl` (or anyone) sends the hub's realtime
//! server: any bytes on a real loopback connection to the real server
//! (its request parser is private to the hub; the socket is its input).
//! A panic in the server's thread aborts the run. Also the row for the
//! input as a class name, and the Uniqueid check.

#![no_main]

use holdmix::hub::realtime::row::{RowTemplate, is_uniqueid};
use holdmix::hub::realtime::{RealtimeConfig, spawn};
use holdmix::hub::token::Key;
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

fn template() -> RowTemplate {
    RowTemplate::new(
        "holdmix-",
        "slin",
        vec!["/usr/local/bin/holdmix".into(), "run".into()],
    )
    .expect("template")
}

/// The hub's key, created once per fuzzing process in its own directory
/// (rows carry a per-call token made with it).
fn key() -> std::sync::Arc<Key> {
    static KEY: OnceLock<std::sync::Arc<Key>> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("holdmix-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("key dir");
        std::sync::Arc::new(Key::load_or_create(&dir.join("hub.key")).expect("key"))
    })
    .clone()
}

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let cfg = RealtimeConfig {
            listen: "127.0.0.1:0".into(),
            path: "/moh".into(),
            template: template(),
            timelines: None,
        };
        spawn(cfg, key()).expect("realtime server")
    })
}

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    let keyed = template().with_key(key()).expect("keyed template");
    if let Some(row) = keyed.row(&name) {
        assert!(row.starts_with("name="));
        let id = name.strip_prefix("holdmix-").expect("prefix");
        assert!(is_uniqueid(id));
    }
    let Ok(mut conn) = TcpStream::connect(server()) else {
        return;
    };
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    if conn.write_all(data).is_err() {
        return;
    }
    conn.shutdown(Shutdown::Write).ok();
    let mut answer = Vec::new();
    // The server answers and closes, or closes: either way within bounds.
    let _ = conn.take(1 << 20).read_to_end(&mut answer);
});
