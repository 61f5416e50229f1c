//! Routes (issue 19): the hub's routes file picks each call's playlist,
//! by the route its class names or by what AMI said of the call before its
//! hold music started. `lookup` asks a real hub over loopback HTTP in the
//! shape res_config_curl sends (tests/realtime.rs's captured request),
//! `reload` edits the file under a running hub, `files` runs `check` and
//! `cache warm` on routes files, `report` splits the calls by route.

use crate::common::*;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod files;
mod lookup;
mod reload;
mod report;

/// A hub answering lookups with `--routes`, its AMI at `ami`.
pub(crate) struct Hub {
    child: Child,
    pub port: u16,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub(crate) fn hub(dir: &Path, routes: &Path, ami: &str) -> Hub {
    hub_with(dir, routes, ami, &[])
}

/// [`hub`] with more of the hub's arguments.
pub(crate) fn hub_with(dir: &Path, routes: &Path, ami: &str, extra: &[&str]) -> Hub {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new(BIN)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("HOLDMIX_AMI_SECRET", "pw")
        .arg("--log")
        .arg(dir.join("hub.log"))
        .args(["hub", "--ami", ami, "--socket"])
        .arg(dir.join("hub.sock"))
        .args(["--realtime", &format!("127.0.0.1:{port}"), "--routes"])
        .arg(routes)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    let mut h = Hub { child, port };
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = h.child.try_wait().expect("try_wait");
        if exited.is_some() || t.elapsed() > Duration::from_secs(10) {
            let log = std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default();
            panic!("the hub never listened ({exited:?}):\n{log}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    h
}

/// Playlists named `names` in `dir` (copies of the demo: the hub only
/// names them in rows, it does not play them).
pub(crate) fn playlists(dir: &Path, names: &[&str]) {
    for n in names {
        std::fs::copy(root().join("playlists/demo.toml"), dir.join(format!("{n}.toml"))).expect("copy");
    }
}

/// Writes the routes file by rename, as editors save.
pub(crate) fn write_routes(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("routes.toml");
    let tmp = dir.join("routes.toml.tmp");
    std::fs::write(&tmp, text).expect("write routes");
    std::fs::rename(&tmp, &path).expect("rename routes");
    path
}

/// The argv a row gives for `class`, asked as res_config_curl asks; `None`
/// for an empty answer.
pub(crate) fn argv_for(port: u16, class: &str) -> Option<Vec<String>> {
    let answers = crate::realtime::ask(
        port,
        &[crate::realtime::lookup(format!("name={class}").as_bytes())],
    );
    let (code, body) = answers.into_iter().next().expect("an answer");
    assert_eq!(code, 200);
    (!body.is_empty()).then(|| crate::realtime::argv(&crate::realtime::parse_row(&body)))
}

/// The row's argv for `uniqueid` playing `playlist` (and `language`).
pub(crate) fn expected(dir: &Path, playlist: &Path, language: Option<&str>, uniqueid: &str) -> Vec<String> {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .expect("absolute")
            .to_string_lossy()
            .into_owned()
    };
    let mut v: Vec<String> = vec![
        abs(Path::new(BIN)),
        "run".into(),
        "-H".into(),
        abs(&dir.join("hub.sock")),
        "-p".into(),
        abs(playlist),
    ];
    if let Some(l) = language {
        v.extend(["-l".into(), l.into()]);
    }
    v.extend([
        "-u".into(),
        uniqueid.into(),
        "-t".into(),
        holdmix::hub::token::Key::load_or_create(&dir.join("hub.key"))
            .expect("the hub's key")
            .token(uniqueid),
    ]);
    v
}
