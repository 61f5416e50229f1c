//! One synchronous interface over both databases, for the worker thread,
//! tests and ops tools. Every call blocks; none belongs on the audio path.

use super::mysql::MysqlStore;
use super::record::{CallerRecord, StoreError, Write};
use super::spec::{self, Spec};
use super::sqlite::SqliteStore;
use std::path::Path;
use std::time::Duration;

pub enum Backend {
    Sqlite(SqliteStore),
    Mysql(MysqlStore),
}

impl Backend {
    /// Opens the store `spec` names (see [`Spec::parse`]); a MySQL password
    /// comes from `password_file`, else `HOLDMIX_STORE_PASSWORD`.
    pub fn open(spec: Option<&str>, password_file: Option<&Path>) -> Result<Backend, StoreError> {
        Backend::open_spec(&Spec::parse(spec)?, password_file)
    }

    pub fn open_spec(spec: &Spec, password_file: Option<&Path>) -> Result<Backend, StoreError> {
        match spec {
            Spec::Sqlite(path) => SqliteStore::open(path).map(Backend::Sqlite),
            Spec::Mysql { url, .. } => {
                MysqlStore::open(url, spec::password(password_file)?).map(Backend::Mysql)
            }
        }
    }

    /// The playlist's tracks as listed: the old hack's `queue_music` table,
    /// where its `music_class` is an integer, holds an index into them.
    /// (SQLite has no such table.)
    pub fn set_tracks(&mut self, tracks: &[String]) {
        if let Backend::Mysql(s) = self {
            s.set_tracks(tracks);
        }
    }

    /// The caller's record, with only the heard entries newer than
    /// `now - heard_window`; `None` when nothing is stored for the number.
    pub fn get_caller(
        &mut self,
        number: &str,
        now: i64,
        heard_window: Duration,
    ) -> Result<Option<CallerRecord>, StoreError> {
        match self {
            Backend::Sqlite(s) => s.get_caller(number, now, heard_window),
            Backend::Mysql(s) => s.get_caller(number, now, heard_window),
        }
    }

    /// Stores a caller record (`music: None` keeps the stored choice; heard
    /// entries merge into the stored ones).
    pub fn set_caller(&mut self, number: &str, rec: &CallerRecord) -> Result<(), StoreError> {
        self.write(&[Write::Caller(number.to_string(), rec.clone())])
    }

    /// Writes a batch atomically: all of it or none.
    pub fn write(&mut self, batch: &[Write]) -> Result<(), StoreError> {
        let now = super::record::unix_now();
        match self {
            Backend::Sqlite(s) => s.write(batch, now),
            Backend::Mysql(s) => s.write(batch, now),
        }
    }

    /// Deletes heard rows older than `heard_keep`. Returns the rows deleted.
    pub fn expire(&mut self, now: i64, heard_keep: Duration) -> Result<usize, StoreError> {
        let heard_before = super::record::cutoff(now, heard_keep);
        match self {
            Backend::Sqlite(s) => s.expire(heard_before),
            Backend::Mysql(s) => s.expire(heard_before),
        }
    }
}
