//! The MySQL/MariaDB store, for hosts that share caller memory. Synchronous
//! on the outside: a current-thread tokio runtime drives mysql_async inside
//! whichever thread owns the store (the worker thread).
//!
//! Tables are created on first use and versioned in `holdmix_schema`:
//! version 1 is `holdmix_caller` and `holdmix_heard` (databases set up by
//! 0.1.0 also hold an unused `holdmix_call`, left as it is; see the module
//! above). The old hack's `queue_music(src, music_class)` table is used as
//! it is when it exists: the music choice is read from and written to it
//! (an index or a path, by the column's type: see `legacy`), and also kept
//! in holdmix's own tables with everything else. holdmix never creates
//! `queue_music`.

use super::legacy::{self, Column, Legacy, Stored};
use super::record::{CallerRecord, StoreError, Write, cutoff};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row, TxOpts, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Version 2 adds the nullable `holdmix_caller.language` ([`ADD_LANGUAGE`]).
const VERSION: i64 = 2;
/// Version 1 to 2: the caller's language choice. Additive: a version-1
/// process names its columns, so it reads and writes the table as before.
const ADD_LANGUAGE: &str = "ALTER TABLE holdmix_caller ADD COLUMN language VARCHAR(12) NULL";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Transactions that lose a deadlock or a lock wait are retried this often.
const TX_ATTEMPTS: u32 = 8;

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS holdmix_schema (
        id TINYINT NOT NULL PRIMARY KEY, version INT NOT NULL
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS holdmix_caller (
        number VARCHAR(80) NOT NULL PRIMARY KEY,
        music VARCHAR(1024) NULL,
        offset_ms BIGINT UNSIGNED NOT NULL DEFAULT 0,
        updated BIGINT NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS holdmix_heard (
        number VARCHAR(80) NOT NULL,
        advice VARCHAR(512) NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (number, advice),
        KEY holdmix_heard_at (at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
];

pub struct MysqlStore {
    rt: tokio::runtime::Runtime,
    opts: Opts,
    conn: Option<Conn>,
    /// The old hack's `queue_music` table, if it exists (checked per connection).
    legacy: Option<Legacy>,
    /// The playlist's tracks as listed, for a `queue_music` that holds indexes.
    tracks: Arc<[String]>,
    /// Whether a choice `queue_music` cannot hold was logged (once per store).
    told_skip: bool,
}

impl MysqlStore {
    /// Connects, creating or migrating holdmix's tables.
    pub fn open(url: &str, password: Option<String>) -> Result<MysqlStore, StoreError> {
        let opts = Opts::from_url(url).map_err(|e| StoreError::Config(e.to_string()))?;
        let opts: Opts = OptsBuilder::from_opts(opts).pass(password).into();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("tokio runtime: {e}")))?;
        let mut s = MysqlStore {
            rt,
            opts,
            conn: None,
            legacy: None,
            tracks: Arc::from(Vec::new()),
            told_skip: false,
        };
        s.connect()?;
        Ok(s)
    }

    /// Whether the old hack's `queue_music` table holds the music choice.
    pub fn uses_queue_music(&self) -> bool {
        self.legacy.is_some()
    }

    /// The playlist's tracks as listed (paths as the engine names them): an
    /// integer `queue_music.music_class` is an index into this list.
    pub fn set_tracks(&mut self, tracks: &[String]) {
        self.tracks = Arc::from(tracks);
    }

    fn connect(&mut self) -> Result<(), StoreError> {
        let opts = self.opts.clone();
        let (conn, legacy) = self.rt.block_on(async {
            let mut c = timed(CONNECT_TIMEOUT, Conn::new(opts)).await?;
            let legacy = timed(OP_TIMEOUT, prepare(&mut c)).await?;
            Ok::<_, StoreError>((c, legacy))
        })?;
        self.conn = Some(conn);
        self.legacy = legacy;
        Ok(())
    }

    /// Runs `f` on the connection (connecting first if needed); a broken
    /// connection is dropped so the next call reconnects.
    fn run<T>(
        &mut self,
        f: impl AsyncFnOnce(&mut Conn, Option<Legacy>) -> mysql_async::Result<T>,
    ) -> Result<T, StoreError> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let legacy = self.legacy;
        let Some(conn) = self.conn.as_mut() else {
            return Err(StoreError::Unavailable("not connected".into()));
        };
        let out = self
            .rt
            .block_on(async { timed(OP_TIMEOUT, f(conn, legacy)).await });
        if let Err(StoreError::Unavailable(_)) = &out {
            // Broken or stuck: close the socket, reconnect next time.
            self.conn = None;
        }
        out
    }

    pub fn get_caller(
        &mut self,
        number: &str,
        now: i64,
        window: Duration,
    ) -> Result<Option<CallerRecord>, StoreError> {
        let since = cutoff(now, window);
        let tracks = self.tracks.clone();
        self.run(async |c, legacy| {
            let own: Option<Row> = c
                .exec_first(
                    "SELECT music, offset_ms, language FROM holdmix_caller WHERE number = ?",
                    (number,),
                )
                .await?;
            let old: Option<Row> = match legacy {
                Some(l) if l.fits_src(number) => {
                    c.exec_first("SELECT music_class FROM queue_music WHERE src = ?", (number,))
                        .await?
                }
                _ => None,
            };
            let rows: Vec<Row> = c
                .exec(
                    "SELECT advice, at FROM holdmix_heard WHERE number = ? AND at > ?",
                    (number, since),
                )
                .await?;
            let mut heard = BTreeMap::new();
            for r in &rows {
                heard.insert(col::<String>(r, 0)?, col::<i64>(r, 1)?);
            }
            if own.is_none() && old.is_none() && heard.is_empty() {
                return Ok(None);
            }
            let old_music = match (old, legacy.map(|l| l.music)) {
                (Some(r), Some(Column::Index { .. })) => match col::<Option<i64>>(&r, 0)? {
                    Some(i) => match legacy::from_index(&tracks, i) {
                        Ok(path) => Some(path.to_string()),
                        Err(why) => {
                            // Not this playlist's list: its start track plays.
                            tracing::warn!("{why}: the remembered music is not used");
                            None
                        }
                    },
                    None => None,
                },
                (Some(r), _) => col::<Option<String>>(&r, 0)?,
                (None, _) => None,
            };
            let own_music = own
                .as_ref()
                .map(|r| col::<Option<String>>(r, 0))
                .transpose()?
                .flatten();
            let mut offset_ms = own.as_ref().map(|r| col::<u64>(r, 1)).transpose()?.unwrap_or(0);
            // The offset is of the track holdmix last wrote; a choice made
            // since in `queue_music` (the old hack beside holdmix) starts at 0.
            if let (Some(old), Some(own)) = (&old_music, &own_music)
                && old != own
            {
                offset_ms = 0;
            }
            let music = old_music.or(own_music);
            let language = own
                .as_ref()
                .map(|r| col::<Option<String>>(r, 2))
                .transpose()?
                .flatten()
                .filter(|l| crate::scenario::language::valid_code(l));
            Ok(Some(CallerRecord {
                music,
                offset_ms,
                heard,
                language,
            }))
        })
    }

    /// Writes all of `batch` in one transaction, retrying lost deadlocks.
    pub fn write(&mut self, batch: &[Write], now: i64) -> Result<(), StoreError> {
        for w in batch {
            w.validate()?;
        }
        let tracks = self.tracks.clone();
        let skipped = self.run(async |c, legacy| {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match write_tx(c, legacy, &tracks, batch, now).await {
                    Err(mysql_async::Error::Server(e))
                        if matches!(e.code, 1213 | 1205) && attempt < TX_ATTEMPTS =>
                    {
                        let ms = fastrand::u64(1..=10 * u64::from(attempt));
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    other => return other,
                }
            }
        })?;
        if let Some(why) = skipped
            && !std::mem::replace(&mut self.told_skip, true)
        {
            tracing::warn!("{why}: the music choice is kept in holdmix_caller only, not in queue_music");
        }
        Ok(())
    }

    /// Deletes heard rows older than `heard_before`; returns the rows
    /// deleted. Looks first, so the usual case (nothing old) takes no locks
    /// and writes no binlog.
    pub fn expire(&mut self, heard_before: i64) -> Result<usize, StoreError> {
        const OLD_HEARD: &str = "SELECT 1 FROM holdmix_heard WHERE at < ? LIMIT 1";
        self.run(async |c, _| {
            let mut n = 0;
            if c.exec_first::<Row, _, _>(OLD_HEARD, (heard_before,))
                .await?
                .is_some()
            {
                c.exec_drop("DELETE FROM holdmix_heard WHERE at < ?", (heard_before,))
                    .await?;
                n += c.affected_rows();
            }
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}

impl Drop for MysqlStore {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            // A polite COM_QUIT, bounded: the server may be gone.
            // (The timer must be made inside the runtime.)
            self.rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_millis(100), c.disconnect()).await;
            });
        }
    }
}

/// Creates or migrates the tables; returns `queue_music`'s shape if it exists.
async fn prepare(c: &mut Conn) -> mysql_async::Result<Option<Legacy>> {
    let have: Option<Row> = c
        .query_first(
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = DATABASE() AND table_name = 'holdmix_schema'",
        )
        .await?;
    let version = match have {
        Some(_) => {
            c.query_first::<Row, _>("SELECT version FROM holdmix_schema WHERE id = 1")
                .await?
        }
        None => None,
    };
    let version = version
        .and_then(|r| r.get_opt::<i64, _>(0))
        .and_then(Result::ok)
        .unwrap_or(0);
    if version < VERSION {
        // Every step is idempotent, so processes racing here agree.
        for sql in SCHEMA {
            c.query_drop(sql).await?;
        }
        let has_language: Option<Row> = c
            .query_first(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE()
                 AND table_name = 'holdmix_caller' AND column_name = 'language'",
            )
            .await?;
        if has_language.is_none() {
            match c.query_drop(ADD_LANGUAGE).await {
                // Another process added it first (1060: duplicate column).
                Err(mysql_async::Error::Server(e)) if e.code == 1060 => {}
                other => other?,
            }
        }
        c.exec_drop(
            "INSERT INTO holdmix_schema (id, version) VALUES (1, ?)
             ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version))",
            (VERSION,),
        )
        .await?;
    }
    Legacy::detect(c).await
}

/// Writes a batch in one transaction; returns why a music choice could not
/// go into `queue_music` (it is in `holdmix_caller` all the same).
async fn write_tx(
    c: &mut Conn,
    legacy: Option<Legacy>,
    tracks: &[String],
    batch: &[Write],
    now: i64,
) -> mysql_async::Result<Option<&'static str>> {
    const OLD: &str = "INSERT INTO queue_music (src, music_class) VALUES (?, ?)
                       ON DUPLICATE KEY UPDATE music_class = VALUES(music_class)";
    let mut skipped = None;
    let mut tx = c.start_transaction(TxOpts::default()).await?;
    for w in batch {
        match w {
            Write::Caller(number, rec) => {
                let own_music = rec.music.as_deref();
                if let (Some(l), Some(m)) = (legacy, own_music) {
                    let stored = if l.fits_src(number) {
                        legacy::to_stored(l.music, tracks, m)
                    } else {
                        Stored::No("the caller number is longer than queue_music.src")
                    };
                    match stored {
                        Stored::Text(t) => tx.exec_drop(OLD, (number.as_str(), t)).await?,
                        Stored::Index(i) => tx.exec_drop(OLD, (number.as_str(), i)).await?,
                        Stored::No(why) => skipped = Some(why),
                    }
                }
                tx.exec_drop(
                    "INSERT INTO holdmix_caller (number, music, offset_ms, updated, language)
                     VALUES (?, ?, ?, ?, ?)
                     ON DUPLICATE KEY UPDATE music = COALESCE(VALUES(music), music),
                        offset_ms = VALUES(offset_ms), updated = VALUES(updated),
                        language = COALESCE(VALUES(language), language)",
                    (
                        number.as_str(),
                        own_music,
                        rec.offset_ms,
                        now,
                        rec.language.as_deref(),
                    ),
                )
                .await?;
                let heard: Vec<_> = rec.heard.iter().collect();
                for chunk in heard.chunks(100) {
                    let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "INSERT INTO holdmix_heard (number, advice, at) VALUES {rows}
                         ON DUPLICATE KEY UPDATE at = GREATEST(at, VALUES(at))"
                    );
                    let params: Vec<Value> = chunk
                        .iter()
                        .flat_map(|(k, at)| [number.as_str().into(), k.as_str().into(), (**at).into()])
                        .collect();
                    tx.exec_drop(sql, Params::Positional(params)).await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(skipped)
}

/// Column `i` of a row, converted without panicking on odd data.
fn col<T: mysql_async::prelude::FromValue>(r: &Row, i: usize) -> mysql_async::Result<T> {
    match r.get_opt::<T, _>(i) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(mysql_async::Error::Other(Box::new(BadRow(format!(
            "column {i}: {e}"
        ))))),
        None => Err(mysql_async::Error::Other(Box::new(BadRow(format!(
            "column {i} missing"
        ))))),
    }
}

/// A stored value holdmix cannot read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable row: {0}")]
struct BadRow(String);

async fn timed<T>(limit: Duration, f: impl Future<Output = mysql_async::Result<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(classify),
        Err(_) => Err(StoreError::Unavailable(format!("no answer within {limit:?}"))),
    }
}

/// Data the server refuses (too long, bad value, out of range, NULL where
/// not allowed, our own conversion failures) is rejected for good; any other
/// error (connection, permissions, a missing table) may pass, so it is
/// retried.
fn classify(e: mysql_async::Error) -> StoreError {
    match &e {
        mysql_async::Error::Server(s) if matches!(s.code, 1048 | 1264 | 1292 | 1366 | 1406) => {
            StoreError::Rejected(e.to_string())
        }
        mysql_async::Error::Other(o) if o.is::<BadRow>() => StoreError::Rejected(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}
