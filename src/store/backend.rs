//! One synchronous interface over both databases, for the worker thread,
//! tests and ops tools. Every call blocks; none belongs on the audio path.

use super::mysql::MysqlStore;
use super::record::{CallRecord, CallerRecord, StoreError, Write};
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

    pub fn get_call(&mut self, uniqueid: &str) -> Result<Option<CallRecord>, StoreError> {
        match self {
            Backend::Sqlite(s) => s.get_call(uniqueid),
            Backend::Mysql(s) => s.get_call(uniqueid),
        }
    }

    /// Stores a caller record (`music: None` keeps the stored choice; heard
    /// entries merge into the stored ones).
    pub fn set_caller(&mut self, number: &str, rec: &CallerRecord) -> Result<(), StoreError> {
        self.write(&[Write::Caller(number.to_string(), rec.clone())])
    }

    pub fn set_call(&mut self, uniqueid: &str, rec: &CallRecord) -> Result<(), StoreError> {
        self.write(&[Write::Call(uniqueid.to_string(), rec.clone())])
    }

    /// Writes a batch atomically: all of it or none.
    pub fn write(&mut self, batch: &[Write]) -> Result<(), StoreError> {
        let now = super::record::unix_now();
        match self {
            Backend::Sqlite(s) => s.write(batch, now),
            Backend::Mysql(s) => s.write(batch, now),
        }
    }

    /// Deletes call rows not updated for [`super::CALL_TTL`] and heard rows
    /// older than `heard_keep`. Returns the rows deleted.
    pub fn expire(&mut self, now: i64, heard_keep: Duration) -> Result<usize, StoreError> {
        let call_before = super::record::cutoff(now, super::record::CALL_TTL);
        let heard_before = super::record::cutoff(now, heard_keep);
        match self {
            Backend::Sqlite(s) => s.expire(call_before, heard_before),
            Backend::Mysql(s) => s.expire(call_before, heard_before),
        }
    }
}
