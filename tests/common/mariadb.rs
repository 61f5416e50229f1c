//! A throwaway MariaDB: a private datadir, socket and loopback port, a user
//! with a real password, killed on drop. It can be stopped and restarted on
//! the same data and port, as a database server that goes away mid-call.
//!
//! `mariadb-install-db` takes seconds, so its result is kept once as a
//! template under Cargo's target tmpdir (rebuilt when the server version
//! changes) and copied for each instance. No server found is a failure, not
//! a skip: scripts/test.sh installs `mariadb-server`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USER: &str = "holdmix";
pub const PASSWORD: &str = "hold mix:pw@1";

pub struct Mariadb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Mariadb {
    /// Starts a fresh instance and waits (bounded) until it takes logins.
    pub fn start() -> Mariadb {
        let template = template();
        let dir = tempfile::Builder::new().prefix("mdb").tempdir().expect("tempdir");
        let status = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(dir.path().join("data"))
            .status()
            .expect("cp");
        assert!(status.success(), "copying the MariaDB template failed");
        std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).expect("password file");
        let port = free_port();
        let mut db = Mariadb {
            dir,
            port,
            child: None,
        };
        db.restart();
        db
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store spec for database `db` (no password in it).
    pub fn url(&self, db: &str) -> String {
        format!("mysql://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A file holding the password, for `StoreOptions::password_file`.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// Starts the server (again) on the same datadir and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let d = self.dir.path();
        let mut cmd = Command::new(server_binary());
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("pid").display()))
            .arg(format!("--log-error={}", d.join("err.log").display()))
            .arg(format!("--tmpdir={}", d.display()))
            .arg(format!("--port={}", self.port))
            .args(SERVER_ARGS)
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-name-resolve")
            .arg("--max-connections=400")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        // Should the test binary die without unwinding, the server dies
        // with the thread that started it (the test's own thread).
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().expect("spawn mariadbd"));
        let start = Instant::now();
        loop {
            if self.try_sql(None, "SELECT 1").is_ok() {
                return;
            }
            if let Some(s) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("mariadbd exited ({s}):\n{}", self.log_tail());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "mariadbd not accepting logins after 60 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server cleanly (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else { return };
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while c.try_wait().expect("try_wait").is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                let _ = c.kill();
                let _ = c.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Creates an empty database and returns its name.
    pub fn create_db(&self, name: &str) -> String {
        self.sql(None, &format!("CREATE DATABASE `{name}`"));
        name.to_string()
    }

    /// Runs `sql` (one statement) as the test user; rows as optional strings.
    pub fn sql(&self, db: Option<&str>, sql: &str) -> Vec<Vec<Option<String>>> {
        self.try_sql(db, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn try_sql(&self, db: Option<&str>, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        use mysql_async::prelude::Queryable;
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some(USER))
            .pass(Some(PASSWORD))
            .db_name(db)
            .prefer_socket(false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let work = async {
                let mut c = mysql_async::Conn::new(opts).await?;
                let rows: Vec<mysql_async::Row> = c.query(sql).await?;
                let _ = c.disconnect().await;
                Ok::<_, mysql_async::Error>(rows)
            };
            let rows = tokio::time::timeout(Duration::from_secs(10), work)
                .await
                .map_err(|_| "timed out".to_string())?
                .map_err(|e| e.to_string())?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    r.unwrap()
                        .into_iter()
                        .map(|v| match v {
                            mysql_async::Value::NULL => None,
                            mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                            other => Some(other.as_sql(true)),
                        })
                        .collect()
                })
                .collect())
        })
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("err.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Lighter than the defaults: a test server holds a few rows.
const SERVER_ARGS: &[&str] = &[
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=4M",
    "--innodb-flush-log-at-trx-commit=2",
    "--skip-log-bin",
    "--loose-skip-performance-schema",
];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

const MISSING: &str = "MariaDB is not installed: run scripts/test.sh (it installs mariadb-server)";

fn find(names: &[&str], dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut all: Vec<PathBuf> = std::env::split_paths(&path).collect();
    all.extend(dirs.iter().map(PathBuf::from));
    names
        .iter()
        .find_map(|n| all.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

fn server_binary() -> PathBuf {
    let dirs = [
        "/usr/sbin",
        "/usr/local/sbin",
        "/usr/libexec",
        "/usr/local/mysql/bin",
    ];
    find(&["mariadbd", "mysqld"], &dirs).unwrap_or_else(|| panic!("{MISSING}"))
}

fn install_binary() -> PathBuf {
    let dirs = ["/usr/bin", "/usr/local/bin", "/usr/local/mysql/scripts"];
    find(&["mariadb-install-db", "mysql_install_db"], &dirs).unwrap_or_else(|| panic!("{MISSING}"))
}

/// The initialised datadir every instance copies, built once per server
/// version (install, then a bootstrap that creates the test user).
fn template() -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let server = server_binary();
    let version = Command::new(&server)
        .arg("--version")
        .output()
        .expect("mariadbd --version");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = base.join("mariadb-template");
    let marker = dir.join("holdmix-template");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(version.as_str()) {
        return dir;
    }
    let work = tempfile::Builder::new()
        .prefix("mariadb-template.")
        .tempdir_in(&base)
        .expect("tempdir");
    let data = work.path().join("data");
    let out = Command::new(install_binary())
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .args(["--innodb-log-file-size=4M"])
        .args(if is_root() { &["--user=root"][..] } else { &[][..] })
        .output()
        .expect("run mariadb-install-db");
    assert!(
        out.status.success(),
        "mariadb-install-db failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bootstrap(&server, &data);
    std::fs::write(data.join("holdmix-template"), &version).expect("marker");
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::rename(&data, &dir) {
        // Another test binary may have installed one meanwhile.
        let theirs = std::fs::read_to_string(&marker).unwrap_or_default();
        assert_eq!(theirs, version, "installing the MariaDB template: {e}");
    }
    dir
}

/// Creates the test user with its password, offline (`--bootstrap` reads SQL
/// from stdin; FLUSH PRIVILEGES loads the grant tables it starts without).
fn bootstrap(server: &Path, data: &Path) {
    use std::io::Write;
    let mut sql = String::from("FLUSH PRIVILEGES;\n");
    for host in ["localhost", "127.0.0.1"] {
        sql += &format!("CREATE USER '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}';\n");
        sql += &format!("GRANT ALL ON *.* TO '{USER}'@'{host}';\n");
    }
    let mut cmd = Command::new(server);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg("--bootstrap")
        .args(SERVER_ARGS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if is_root() {
        cmd.arg("--user=root");
    }
    let mut child = cmd.spawn().expect("spawn mariadbd --bootstrap");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(sql.as_bytes())
        .expect("write bootstrap SQL");
    let out = child.wait_with_output().expect("bootstrap");
    assert!(
        out.status.success(),
        "mariadbd --bootstrap failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
