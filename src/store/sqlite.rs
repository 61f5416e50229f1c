//! The embedded store: one SQLite file shared by every holdmix process on the
//! host. WAL mode lets readers run beside the one writer; writes are short
//! `BEGIN IMMEDIATE` transactions (the write lock is taken up front, so a
//! transaction never fails half-way on a lock upgrade), and a busy timeout
//! makes a process wait its turn instead of failing. `synchronous=NORMAL`
//! in WAL mode survives any process crash (kill -9) without losing a
//! committed write; only a power cut may lose the last commits, never
//! consistency.

use super::record::{CallerRecord, StoreError, Write, cutoff};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, ffi::ErrorCode, params};
use std::path::Path;
use std::time::Duration;

/// Schema version kept in `PRAGMA user_version`: version 1 is the caller and
/// heard tables below (files made by 0.1.0 also hold an unused
/// `holdmix_call`, left as it is; see the module above); version 2 adds
/// the nullable `holdmix_caller.language` (additive: a version-1 process
/// reads and writes the file as before, naming its columns).
const VERSION: i64 = 2;

/// Version 1 to 2: the caller's language choice.
const ADD_LANGUAGE: &str = "ALTER TABLE holdmix_caller ADD COLUMN language TEXT";

/// How long a statement waits for another process's lock before failing
/// as busy (the worker then retries later; nothing is lost).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS holdmix_caller (
    number TEXT PRIMARY KEY NOT NULL,
    music TEXT,
    offset_ms INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS holdmix_heard (
    number TEXT NOT NULL,
    advice TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (number, advice)
);
CREATE INDEX IF NOT EXISTS holdmix_heard_at ON holdmix_heard (at);
";

pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating the directory, file and tables if needed).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("{}: cannot create: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // Switching to WAL takes a lock; skip it when it is already on
        // (the mode is stored in the file).
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            let _: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(err)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        let mut store = SqliteStore { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version = |c: &Connection| -> rusqlite::Result<i64> {
            c.query_row("PRAGMA user_version", [], |r| r.get(0))
        };
        if version(&self.conn).map_err(err)? >= VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Another process may have migrated while we waited for the lock.
        let was = version(&tx).map_err(err)?;
        if was < 1 {
            tx.execute_batch(SCHEMA).map_err(err)?;
        }
        if was < 2 {
            let has: bool = tx
                .query_row(
                    "SELECT COUNT(*) > 0 FROM pragma_table_info('holdmix_caller') WHERE name = 'language'",
                    [],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if !has {
                tx.execute_batch(ADD_LANGUAGE).map_err(err)?;
            }
        }
        if was < VERSION {
            tx.pragma_update(None, "user_version", VERSION).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The caller's record with heard entries newer than `now - window`;
    /// `None` if nothing is stored for the number.
    pub fn get_caller(
        &mut self,
        number: &str,
        now: i64,
        window: Duration,
    ) -> Result<Option<CallerRecord>, StoreError> {
        // One read transaction: the caller row and its heard rows agree.
        let tx = self.conn.transaction().map_err(err)?;
        let row = tx
            .query_row(
                "SELECT music, offset_ms, language FROM holdmix_caller WHERE number = ?1",
                [number],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(err)?;
        let mut stmt = tx
            .prepare_cached("SELECT advice, at FROM holdmix_heard WHERE number = ?1 AND at > ?2")
            .map_err(err)?;
        let heard = stmt
            .query_map(params![number, cutoff(now, window)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(err)?
            .collect::<Result<std::collections::BTreeMap<_, _>, _>>()
            .map_err(err)?;
        drop(stmt);
        tx.finish().map_err(err)?;
        if row.is_none() && heard.is_empty() {
            return Ok(None);
        }
        let (music, offset, language) = row.unwrap_or((None, 0, None));
        Ok(Some(CallerRecord {
            music,
            offset_ms: u64::try_from(offset).unwrap_or(0),
            heard,
            // A value holdmix would not write (edited by hand) is no choice.
            language: language.filter(|l| crate::scenario::language::valid_code(l)),
        }))
    }

    /// Writes all of `batch` in one transaction (one commit for many keys).
    pub fn write(&mut self, batch: &[Write], now: i64) -> Result<(), StoreError> {
        for w in batch {
            w.validate()?;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        for w in batch {
            match w {
                Write::Caller(number, rec) => {
                    let offset = i64::try_from(rec.offset_ms).unwrap_or(i64::MAX);
                    tx.prepare_cached(
                        "INSERT INTO holdmix_caller (number, music, offset_ms, updated, language)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (number) DO UPDATE SET
                            music = COALESCE(excluded.music, music),
                            offset_ms = excluded.offset_ms,
                            updated = excluded.updated,
                            language = COALESCE(excluded.language, language)",
                    )
                    .and_then(|mut s| s.execute(params![number, rec.music, offset, now, rec.language]))
                    .map_err(err)?;
                    let mut heard = tx
                        .prepare_cached(
                            "INSERT INTO holdmix_heard (number, advice, at) VALUES (?1, ?2, ?3)
                             ON CONFLICT (number, advice) DO UPDATE SET at = MAX(at, excluded.at)",
                        )
                        .map_err(err)?;
                    for (advice, at) in &rec.heard {
                        heard.execute(params![number, advice, at]).map_err(err)?;
                    }
                }
            }
        }
        tx.commit().map_err(err)
    }

    /// Deletes heard rows older than `heard_before`. Looks first, so the
    /// usual case (nothing old) takes no write lock. Returns the rows deleted.
    pub fn expire(&mut self, heard_before: i64) -> Result<usize, StoreError> {
        let old_heard = self
            .conn
            .query_row(
                "SELECT 1 FROM holdmix_heard WHERE at < ?1 LIMIT 1",
                [heard_before],
                |_| Ok(()),
            )
            .optional()
            .map_err(err)?;
        if old_heard.is_none() {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n = tx
            .execute("DELETE FROM holdmix_heard WHERE at < ?1", [heard_before])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n)
    }

    /// `PRAGMA integrity_check`'s answer ("ok" when the file is sound).
    pub fn integrity_check(&mut self) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(err)?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(lines.join("\n"))
    }
}

/// Data problems are refused for good; everything else (busy, locked, I/O,
/// disk full, cannot open) may pass, so it is retried.
fn err(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &e {
        E::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::TooBig | ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch
            ) =>
        {
            StoreError::Rejected(e.to_string())
        }
        E::FromSqlConversionFailure(..) | E::InvalidColumnType(..) | E::IntegralValueOutOfRange(..) => {
            StoreError::Rejected(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("sub/s.sqlite3")).unwrap();
        (dir, s)
    }

    #[test]
    fn music_none_keeps_the_stored_choice_and_heard_merges() {
        let (_d, mut s) = store();
        let mut a = CallerRecord {
            music: Some("m/a.mp3".into()),
            offset_ms: 5,
            ..Default::default()
        };
        a.heard.insert("tip1".into(), 100);
        s.write(&[Write::Caller("100".into(), a)], 1).unwrap();
        let mut b = CallerRecord {
            music: None,
            offset_ms: 7,
            ..Default::default()
        };
        b.heard.insert("tip1".into(), 90);
        b.heard.insert("tip2".into(), 110);
        s.write(&[Write::Caller("100".into(), b)], 2).unwrap();
        let got = s
            .get_caller("100", 120, Duration::from_secs(60))
            .unwrap()
            .unwrap();
        assert_eq!(got.music.as_deref(), Some("m/a.mp3"));
        assert_eq!(got.offset_ms, 7);
        assert_eq!(got.heard, [("tip1".into(), 100), ("tip2".into(), 110)].into());
    }

    #[test]
    fn expire_deletes_only_old_rows() {
        let (_d, mut s) = store();
        let mut r = CallerRecord::default();
        r.heard.insert("old".into(), 10);
        r.heard.insert("new".into(), 50);
        s.write(&[Write::Caller("1".into(), r)], 50).unwrap();
        assert_eq!(s.expire(20).unwrap(), 1);
        let got = s.get_caller("1", 50, Duration::from_secs(1000)).unwrap().unwrap();
        assert_eq!(got.heard, [("new".into(), 50)].into());
        assert_eq!(s.expire(20).unwrap(), 0);
    }

    #[test]
    fn a_bad_row_is_an_error_not_a_panic() {
        let (_d, mut s) = store();
        s.conn
            .execute(
                "INSERT INTO holdmix_caller (number, music, offset_ms, updated) VALUES ('u', x'00ff', 'soon', 0)",
                [],
            )
            .unwrap();
        assert!(matches!(
            s.get_caller("u", 0, Duration::ZERO),
            Err(StoreError::Rejected(_))
        ));
    }

    /// A version-1 file (as 0.1–0.2 made it, with a caller in it) gains
    /// the language column on open, keeps its rows, and a version-1
    /// writer's statement still works on it.
    #[test]
    fn a_version_1_file_migrates_additively() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.execute(
                "INSERT INTO holdmix_caller (number, music, offset_ms, updated) VALUES ('7', 'm/a.mp3', 9, 1)",
                [],
            )
            .unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        let v: i64 = s.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, VERSION);
        let got = s.get_caller("7", 2, Duration::ZERO).unwrap().unwrap();
        assert_eq!(
            (got.music.as_deref(), got.offset_ms, got.language),
            (Some("m/a.mp3"), 9, None)
        );
        let chose = CallerRecord {
            language: Some("ru".into()),
            ..Default::default()
        };
        s.write(&[Write::Caller("7".into(), chose)], 3).unwrap();
        // A later write without a language keeps it, as for music.
        s.write(&[Write::Caller("7".into(), CallerRecord::default())], 4)
            .unwrap();
        let got = s.get_caller("7", 5, Duration::ZERO).unwrap().unwrap();
        assert_eq!(
            (got.music.as_deref(), got.language.as_deref()),
            (Some("m/a.mp3"), Some("ru"))
        );
        // A version-1 process's upsert, column for column, still runs.
        s.conn
            .execute(
                "INSERT INTO holdmix_caller (number, music, offset_ms, updated) VALUES ('7', 'm/b.mp3', 1, 6)
                 ON CONFLICT (number) DO UPDATE SET music = COALESCE(excluded.music, music),
                 offset_ms = excluded.offset_ms, updated = excluded.updated",
                [],
            )
            .unwrap();
        let got = s.get_caller("7", 7, Duration::ZERO).unwrap().unwrap();
        assert_eq!(
            (got.music.as_deref(), got.language.as_deref()),
            (Some("m/b.mp3"), Some("ru"))
        );
        // Opening again changes nothing.
        drop(s);
        SqliteStore::open(&path).unwrap();
    }

    #[test]
    fn a_language_that_is_not_a_code_is_refused() {
        let (_d, mut s) = store();
        let bad = CallerRecord {
            language: Some("en; DROP".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.write(&[Write::Caller("1".into(), bad)], 1),
            Err(StoreError::Rejected(_))
        ));
    }
}
