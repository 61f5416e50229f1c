//! Which database a store spec names: `sqlite:PATH`, a bare path, or
//! `mysql://user@host:port/db`; the default (`HOLDMIX_STORE`, else the
//! SQLite location below: generators a hub starts get no `--store`, but
//! they inherit Asterisk's environment, which the admin sets); and the MySQL
//! password, which comes from a file or `HOLDMIX_STORE_PASSWORD`, never from
//! the URL (a URL with a password is warned about and the password ignored,
//! since command lines are visible to every local user).

use super::record::StoreError;
use std::path::{Path, PathBuf};

/// The environment variable holding the MySQL password.
pub const PASSWORD_ENV: &str = "HOLDMIX_STORE_PASSWORD";
/// The environment variable holding the store spec used without `--store`.
pub const STORE_ENV: &str = "HOLDMIX_STORE";

/// A parsed store specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Sqlite(PathBuf),
    /// The URL as given, minus any password; `shown` is safe to log.
    Mysql {
        url: String,
        shown: String,
    },
}

impl Spec {
    /// Parses a spec; `None` or empty means `HOLDMIX_STORE`, else the
    /// default SQLite file.
    pub fn parse(spec: Option<&str>) -> Result<Spec, StoreError> {
        Spec::parse_or(spec, std::env::var(STORE_ENV).ok().as_deref())
    }

    /// [`Spec::parse`] with the environment's spec given.
    fn parse_or(spec: Option<&str>, env: Option<&str>) -> Result<Spec, StoreError> {
        fn given(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        let Some(s) = given(spec).or(given(env)) else {
            return Ok(Spec::Sqlite(default_sqlite_path()));
        };
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::Config("sqlite: needs a path".into()));
            }
            return Ok(Spec::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("mysql://") || s.starts_with("mariadb://") {
            return mysql_spec(s);
        }
        if s.contains("://") {
            return Err(StoreError::Config(format!(
                "unknown store scheme in {:?} (sqlite:PATH or mysql://user@host:port/db)",
                s.split("://").next().unwrap_or_default()
            )));
        }
        Ok(Spec::Sqlite(PathBuf::from(s)))
    }

    /// What to name in logs (never a password).
    pub fn shown(&self) -> String {
        match self {
            Spec::Sqlite(p) => format!("sqlite:{}", p.display()),
            Spec::Mysql { shown, .. } => shown.clone(),
        }
    }
}

/// `mysql://[user[:password]@]host[:port]/db[?params]`, checked by hand so
/// that no error message ever repeats a password.
fn mysql_spec(s: &str) -> Result<Spec, StoreError> {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let user = userinfo.map(|u| u.split_once(':').map_or(u, |(user, _)| user));
    if userinfo.is_some_and(|u| u.contains(':')) {
        tracing::warn!("store URL contains a password: ignored; use --store-password-file or {PASSWORD_ENV}");
    }
    let db = path.split('?').next().unwrap_or_default();
    if host.is_empty() || db.is_empty() {
        return Err(StoreError::Config(
            "mysql store URL needs a host and a database: mysql://user@host:port/db".into(),
        ));
    }
    let at = user.map(|u| format!("{u}@")).unwrap_or_default();
    let url = format!("mysql://{at}{host}/{path}");
    let shown = format!("mysql://{at}{host}/{db}");
    Ok(Spec::Mysql { url, shown })
}

/// `$XDG_STATE_HOME/holdmix`, else `/var/lib/holdmix`, else
/// `$HOME/.local/state/holdmix`: the first that exists or can be created.
pub fn default_sqlite_path() -> PathBuf {
    let mut dirs = Vec::new();
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        dirs.push(PathBuf::from(x).join("holdmix"));
    }
    dirs.push(PathBuf::from("/var/lib/holdmix"));
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        dirs.push(PathBuf::from(h).join(".local/state/holdmix"));
    }
    let file = |d: &Path| d.join("store.sqlite3");
    dirs.iter()
        .find(|d| std::fs::create_dir_all(d).is_ok() && writable(d))
        .or(dirs.first())
        .map_or_else(|| PathBuf::from("store.sqlite3"), |d| file(d))
}

fn writable(dir: &Path) -> bool {
    tempfile::NamedTempFile::new_in(dir).is_ok()
}

/// The MySQL password: the file's first line if a file is given, else the
/// environment variable, else none.
pub fn password(file: Option<&Path>) -> Result<Option<String>, StoreError> {
    if let Some(f) = file {
        // Bounded, regular files only: see `util::files`.
        let line = crate::util::files::read_secret_line(f).map_err(|e| {
            StoreError::Config(format!(
                "cannot read the store password (--store-password-file): {e}"
            ))
        })?;
        return Ok(Some(line));
    }
    Ok(std::env::var(PASSWORD_ENV).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_specs() {
        let p = |s| Spec::parse(Some(s)).unwrap();
        assert_eq!(p("sqlite:/tmp/a.db"), Spec::Sqlite("/tmp/a.db".into()));
        assert_eq!(p("sqlite:///tmp/a.db"), Spec::Sqlite("/tmp/a.db".into()));
        assert_eq!(p("rel/b.db"), Spec::Sqlite("rel/b.db".into()));
        assert!(Spec::parse(Some("sqlite:")).is_err());
        assert!(Spec::parse(Some("redis://x/1")).is_err());
        assert!(matches!(Spec::parse(None).unwrap(), Spec::Sqlite(_)));
    }

    #[test]
    fn the_environment_names_the_store_when_no_spec_does() {
        let env = Some("mysql://moh@db.lan/pbx");
        let got = Spec::parse_or(None, env).unwrap();
        assert_eq!(got.shown(), "mysql://moh@db.lan/pbx");
        assert_eq!(Spec::parse_or(Some(""), env).unwrap(), got);
        assert_eq!(
            Spec::parse_or(Some("sqlite:/a"), env).unwrap(),
            Spec::Sqlite("/a".into())
        );
        assert!(matches!(
            Spec::parse_or(None, Some(" ")).unwrap(),
            Spec::Sqlite(_)
        ));
    }

    #[test]
    fn mysql_password_is_dropped_and_never_shown() {
        let s = Spec::parse(Some("mysql://moh:s3cret@db.lan:3307/pbx?prefer_socket=false")).unwrap();
        let Spec::Mysql { url, shown } = &s else {
            panic!("{s:?}")
        };
        assert_eq!(url, "mysql://moh@db.lan:3307/pbx?prefer_socket=false");
        assert_eq!(shown, "mysql://moh@db.lan:3307/pbx");
        assert!(!format!("{s:?}").contains("s3cret"));
        let plain = Spec::parse(Some("mysql://db.lan/pbx")).unwrap();
        assert_eq!(plain.shown(), "mysql://db.lan/pbx");
    }

    #[test]
    fn mysql_needs_a_database() {
        let e = Spec::parse(Some("mysql://moh:s3cret@db.lan:3307")).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(Spec::parse(Some("mysql://moh@db.lan/")).is_err());
    }

    #[test]
    fn password_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "p@ss word\n").unwrap();
        assert_eq!(password(Some(&f)).unwrap().as_deref(), Some("p@ss word"));
        let missing = password(Some(&dir.path().join("none"))).unwrap_err();
        assert!(matches!(missing, StoreError::Config(_)));
    }
}
