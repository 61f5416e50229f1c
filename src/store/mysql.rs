//! The MySQL/MariaDB store, for hosts that share caller memory. Synchronous
//! on the outside: a current-thread tokio runtime drives mysql_async inside
//! whichever thread owns the store (the worker thread).
//!
//! Tables are created on first use and versioned in `holdmix_schema`:
//! version 1 is `holdmix_caller` and `holdmix_heard` (databases set up by
//! 0.1.0 also hold an unused `holdmix_call`, left as it is; see the module
//! above). The old hack's `queue_music(src, music_class)` table is used as
//! it is when it exists: the music choice is read from and written to it,
//! everything else goes to holdmix's own tables. holdmix never creates
//! `queue_music`.

use super::record::{CallerRecord, StoreError, Write, cutoff};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row, TxOpts, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const VERSION: i64 = 1;
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
    /// Whether the old hack's `queue_music` table exists (checked per connection).
    legacy: bool,
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
            legacy: false,
        };
        s.connect()?;
        Ok(s)
    }

    /// Whether the old hack's `queue_music` table holds the music choice.
    pub fn uses_queue_music(&self) -> bool {
        self.legacy
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
        f: impl AsyncFnOnce(&mut Conn, bool) -> mysql_async::Result<T>,
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
        self.run(async |c, legacy| {
            let own: Option<Row> = c
                .exec_first(
                    "SELECT music, offset_ms FROM holdmix_caller WHERE number = ?",
                    (number,),
                )
                .await?;
            let old: Option<Row> = if legacy {
                c.exec_first("SELECT music_class FROM queue_music WHERE src = ?", (number,))
                    .await?
            } else {
                None
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
            let old_music = old.as_ref().map(|r| col::<Option<String>>(r, 0)).transpose()?;
            let own_music = own.as_ref().map(|r| col::<Option<String>>(r, 0)).transpose()?;
            let offset_ms = own.as_ref().map(|r| col::<u64>(r, 1)).transpose()?.unwrap_or(0);
            let music = old_music.flatten().or(own_music.flatten());
            Ok(Some(CallerRecord {
                music,
                offset_ms,
                heard,
            }))
        })
    }

    /// Writes all of `batch` in one transaction, retrying lost deadlocks.
    pub fn write(&mut self, batch: &[Write], now: i64) -> Result<(), StoreError> {
        for w in batch {
            w.validate()?;
        }
        self.run(async |c, legacy| {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match write_tx(c, legacy, batch, now).await {
                    Err(mysql_async::Error::Server(e))
                        if matches!(e.code, 1213 | 1205) && attempt < TX_ATTEMPTS =>
                    {
                        let ms = fastrand::u64(1..=10 * u64::from(attempt));
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    other => return other,
                }
            }
        })
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

/// Creates or migrates the tables; returns whether `queue_music` exists.
async fn prepare(c: &mut Conn) -> mysql_async::Result<bool> {
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
        c.exec_drop(
            "INSERT INTO holdmix_schema (id, version) VALUES (1, ?)
             ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version))",
            (VERSION,),
        )
        .await?;
    }
    let legacy: Option<Row> = c
        .query_first(
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = DATABASE() AND table_name = 'queue_music'",
        )
        .await?;
    Ok(legacy.is_some())
}

async fn write_tx(c: &mut Conn, legacy: bool, batch: &[Write], now: i64) -> mysql_async::Result<()> {
    let mut tx = c.start_transaction(TxOpts::default()).await?;
    for w in batch {
        match w {
            Write::Caller(number, rec) => {
                let own_music = if legacy { None } else { rec.music.as_deref() };
                if let (true, Some(m)) = (legacy, rec.music.as_deref()) {
                    tx.exec_drop(
                        "INSERT INTO queue_music (src, music_class) VALUES (?, ?)
                         ON DUPLICATE KEY UPDATE music_class = VALUES(music_class)",
                        (number.as_str(), m),
                    )
                    .await?;
                }
                tx.exec_drop(
                    "INSERT INTO holdmix_caller (number, music, offset_ms, updated)
                     VALUES (?, ?, ?, ?)
                     ON DUPLICATE KEY UPDATE music = COALESCE(VALUES(music), music),
                        offset_ms = VALUES(offset_ms), updated = VALUES(updated)",
                    (number.as_str(), own_music, rec.offset_ms, now),
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
    tx.commit().await
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
