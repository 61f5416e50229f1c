//! Asterisk's realtime `queue_log` table (columns `time`, `callid`,
//! `queuename`, `agent`, `event`, then `data1`…`data5`, as `ast_queue_log()`
//! stores them when the table has those columns (`queue_adaptive_realtime`),
//! or one `data` column holding them joined by `|`, as it stores them in a
//! table without), read from MySQL/MariaDB row by row into the same
//! per-call summaries as the file.
//!
//! The URL is given as the store's is: `mysql://user@host:port/db`, the
//! password from a file or `HOLDMIX_QUEUE_LOG_PASSWORD`, never in the URL
//! (a command line is visible to every local user): a URL with one is
//! refused, and no message repeats it.

use super::queue_log::QueueCalls;
use anyhow::{Context, Result, anyhow, bail};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, Value};
use std::path::Path;
use std::time::Duration;

/// The environment variable holding the password.
pub const PASSWORD_ENV: &str = "HOLDMIX_QUEUE_LOG_PASSWORD";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the table is: the URL (no password) and the table's name.
#[derive(Debug, Clone)]
pub struct Db {
    pub url: String,
    pub table: String,
    pub password_file: Option<std::path::PathBuf>,
}

impl Db {
    /// What to name in the report and in messages: `mysql://user@host/db table`.
    pub fn shown(&self) -> String {
        let base = self.url.split('?').next().unwrap_or_default();
        format!("{base} {}", self.table)
    }
}

/// Checks the URL and the table's name before anything connects.
pub fn check(db: &Db) -> Result<()> {
    let Some(rest) = db
        .url
        .strip_prefix("mysql://")
        .or_else(|| db.url.strip_prefix("mariadb://"))
    else {
        bail!("--queue-log-db: write mysql://user@host:port/db");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'))
    {
        bail!(
            "--queue-log-db: the URL holds a password: refused (anyone can read a command line); use --queue-log-password-file or {PASSWORD_ENV}"
        );
    }
    if rest
        .split_once('/')
        .is_none_or(|(_, db)| db.split('?').next().unwrap_or_default().is_empty())
    {
        bail!("--queue-log-db: the URL names no database: mysql://user@host:port/db");
    }
    if db.table.is_empty() || !db.table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("--queue-log-table {:?}: letters, digits and _ only", db.table);
    }
    Ok(())
}

fn password(file: Option<&Path>) -> Result<Option<String>> {
    if let Some(f) = file {
        let line = crate::util::files::read_secret_line(f)
            .map_err(|e| anyhow!("cannot read the queue_log password (--queue-log-password-file): {e}"))?;
        return Ok(Some(line));
    }
    Ok(std::env::var(PASSWORD_ENV).ok())
}

/// Reads every row into `q`; a row that is not of the table's shape goes
/// to `bad` with its number (1 for the first row).
pub fn read(db: &Db, q: &mut QueueCalls, mut bad: impl FnMut(u64, String)) -> Result<()> {
    check(db)?;
    let shown = db.shown();
    let pass = password(db.password_file.as_deref())?;
    let opts = Opts::from_url(&db.url).map_err(|e| anyhow!("{shown}: {e}"))?;
    let opts: Opts = OptsBuilder::from_opts(opts).pass(pass).into();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async {
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts))
            .await
            .map_err(|_| anyhow!("{shown}: no answer within {CONNECT_TIMEOUT:?}"))?
            .map_err(|e| anyhow!("{shown}: cannot connect: {e}"))?;
        // Which layout Asterisk wrote (it picks by the table's columns too).
        let columns: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (db.table.as_str(),),
            )
            .await
            .map_err(|e| anyhow!("{shown}: cannot read the table: {e}"))?
            .into_iter()
            .map(|c: String| c.to_ascii_lowercase())
            .collect();
        if columns.is_empty() {
            bail!("{shown}: no such table (or no access to it)");
        }
        let data = data_columns(&columns).map_err(|e| anyhow!("{shown}: {e}"))?;
        // The time as epoch seconds, read by the server (the column is a
        // DATETIME or a string, in the server's time zone as Asterisk wrote it).
        let sql = format!(
            "SELECT CAST(UNIX_TIMESTAMP(`time`) AS SIGNED), callid, queuename, agent, event, {} FROM `{}`",
            data.join(", "),
            db.table
        );
        // Text protocol: rows come as they are read, each column as text.
        let mut rows = conn
            .query_iter(sql)
            .await
            .map_err(|e| anyhow!("{shown}: cannot read the table: {e}"))?;
        let mut n = 0u64;
        while let Some(row) = rows.next().await.map_err(|e| anyhow!("{shown}: {e}"))? {
            n += 1;
            match line(&row, data.len()) {
                Some(l) => {
                    if let Err(e) = q.add(&l) {
                        bad(n, e);
                    }
                }
                None => {
                    q.lines += 1;
                    bad(
                        n,
                        "a row without a readable time, callid, queuename or event".to_string(),
                    );
                }
            }
        }
        drop(rows);
        conn.disconnect().await.ok();
        Ok(())
    })
}

/// The data columns to read: `data1`…`data5` when the table has them (as
/// Asterisk then fills them), else `data` (the same fields joined by `|`).
fn data_columns(columns: &[String]) -> Result<&'static [&'static str], String> {
    const SPLIT: &[&str] = &["data1", "data2", "data3", "data4", "data5"];
    let has = |c: &str| columns.iter().any(|x| x == c);
    if SPLIT.iter().all(|c| has(c)) {
        return Ok(SPLIT);
    }
    if has("data") {
        return Ok(&["data"]);
    }
    Err("no data1…data5 columns and no data column: not an Asterisk queue_log table".to_string())
}

/// The row in the file's shape (`epoch|callid|queue|agent|EVENT|data…`),
/// from the time, the four named columns and the `data` data columns;
/// `None` when a column the line needs is NULL or not text. A `|` inside
/// one of `data1`…`data5` cannot come from Asterisk (it splits on it) and
/// would only shift later fields; in `data` it separates them.
fn line(row: &Row, data: usize) -> Option<String> {
    let text = |i: usize| -> Option<String> {
        match row.as_ref(i)? {
            Value::NULL => Some(String::new()),
            Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
            Value::Int(v) => Some(v.to_string()),
            Value::UInt(v) => Some(v.to_string()),
            _ => None,
        }
    };
    let time = text(0).filter(|t| !t.is_empty())?;
    let mut fields = vec![time];
    for i in 1..5 + data {
        fields.push(text(i)?);
    }
    if fields[1].is_empty() || fields[4].is_empty() {
        return None;
    }
    Some(fields.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(url: &str, table: &str) -> Db {
        Db {
            url: url.to_string(),
            table: table.to_string(),
            password_file: None,
        }
    }

    #[test]
    fn the_data_columns_are_the_tables_own() {
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = ["id", "time", "callid", "queuename", "agent", "event"];
        let split = cols(&[&base[..], &["data", "data1", "data2", "data3", "data4", "data5"]].concat());
        assert_eq!(data_columns(&split).unwrap().len(), 5);
        let joined = cols(&[&base[..], &["data"]].concat());
        assert_eq!(data_columns(&joined).unwrap(), ["data"]);
        // data1 alone is no adaptive table (Asterisk wants all five).
        let partial = cols(&[&base[..], &["data", "data1"]].concat());
        assert_eq!(data_columns(&partial).unwrap(), ["data"]);
        assert!(
            data_columns(&cols(&base))
                .unwrap_err()
                .contains("not an Asterisk queue_log")
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_not_repeated() {
        let e = check(&db("mysql://ast:s3cret@127.0.0.1/asterisk", "queue_log")).unwrap_err();
        assert!(!format!("{e:#}").contains("s3cret"), "{e:#}");
        assert!(format!("{e:#}").contains("password-file"), "{e:#}");
        assert!(check(&db("mysql://ast@127.0.0.1:3306/asterisk", "queue_log")).is_ok());
        assert!(check(&db("mysql://ast@127.0.0.1", "queue_log")).is_err());
        assert!(check(&db("http://x/y", "queue_log")).is_err());
        assert!(check(&db("mysql://ast@h/db", "q; DROP TABLE x")).is_err());
    }
}
