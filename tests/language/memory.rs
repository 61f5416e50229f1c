//! The caller's language choice remembered with their memory: the next
//! call from the same number starts in it (above the route's language),
//! in the embedded SQLite store and in a real MariaDB whose version-1
//! tables gain the column in place.

use super::run::call;
use super::{language_playlist, languages, started};
use crate::common::mariadb::Mariadb;
use crate::common::*;
use std::path::Path;

const ALICE: &str = "79001112233";
const BOB: &str = "79005556677";

/// Alice chooses Russian on her first call (killed with SIGKILL: the
/// choice was written when made, not at exit); her next call starts in it,
/// even on a route that says English; Bob's does not.
fn remembered(dir: &Path, store: &[&str]) {
    let pl = language_playlist(dir);
    warm_cache(dir, &pl);
    let with = |caller: &'static str, extra: &[&'static str]| -> Vec<&str> {
        let mut v = store.to_vec();
        v.extend(["--caller", caller]);
        v.extend(extra);
        v
    };
    let (tl, _) = call(
        dir,
        &pl,
        "a1",
        &with(ALICE, &[]),
        &[(1000, "dtmf 9")],
        2500,
        libc::SIGKILL,
    );
    assert_eq!(started(&tl), ["en/welcome", "ru/chosen"], "{tl:#?}");
    let (tl, _) = call(
        dir,
        &pl,
        "a2",
        &with(ALICE, &["--language", "en"]),
        &[],
        1500,
        libc::SIGHUP,
    );
    assert_eq!(started(&tl), ["ru/welcome"], "{tl:#?}");
    assert_eq!(languages(&tl).last(), Some(&("ru".into(), "caller".into())));
    let (tl, _) = call(dir, &pl, "b1", &with(BOB, &[]), &[], 1500, libc::SIGHUP);
    assert_eq!(started(&tl), ["en/welcome"], "{tl:#?}");
    // Back to English by key: remembered too.
    call(
        dir,
        &pl,
        "a3",
        &with(ALICE, &[]),
        &[(800, "dtmf 8")],
        2000,
        libc::SIGHUP,
    );
    let (tl, _) = call(dir, &pl, "a4", &with(ALICE, &[]), &[], 1500, libc::SIGHUP);
    assert_eq!(started(&tl), ["en/welcome"], "{tl:#?}");
}

#[test]
fn the_embedded_store_remembers_the_callers_language() {
    let dir = tempdir();
    let spec = format!("sqlite:{}", dir.path().join("store.sqlite3").display());
    remembered(dir.path(), &["--store", &spec]);
}

#[test]
fn mariadb_remembers_the_callers_language_in_a_migrated_schema() {
    let db = Mariadb::start();
    let name = db.create_db("lang");
    // The tables as holdmix 0.2 made them (schema version 1), with a caller.
    db.sql(
        Some(&name),
        "CREATE TABLE holdmix_schema (id TINYINT NOT NULL PRIMARY KEY, version INT NOT NULL) ENGINE=InnoDB;
         INSERT INTO holdmix_schema VALUES (1, 1);
         CREATE TABLE holdmix_caller (number VARCHAR(80) NOT NULL PRIMARY KEY, music VARCHAR(1024) NULL,
            offset_ms BIGINT UNSIGNED NOT NULL DEFAULT 0, updated BIGINT NOT NULL)
            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
         CREATE TABLE holdmix_heard (number VARCHAR(80) NOT NULL, advice VARCHAR(512) NOT NULL,
            at BIGINT NOT NULL, PRIMARY KEY (number, advice), KEY holdmix_heard_at (at))
            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
         INSERT INTO holdmix_caller VALUES ('79009998877', 'old.wav', 5, 1);",
    );
    let url = db.url(&name);
    let pw = db.password_file();
    let dir = tempdir();
    remembered(
        dir.path(),
        &["--store", &url, "--store-password-file", pw.to_str().unwrap()],
    );
    assert_eq!(
        db.sql(Some(&name), "SELECT version FROM holdmix_schema"),
        [[Some("2".to_string())]]
    );
    assert_eq!(
        db.sql(
            Some(&name),
            &format!("SELECT language FROM holdmix_caller WHERE number = '{ALICE}'")
        ),
        [[Some("en".to_string())]]
    );
    // The row from before the migration is as it was.
    assert_eq!(
        db.sql(
            Some(&name),
            "SELECT music, offset_ms, language FROM holdmix_caller WHERE number = '79009998877'"
        ),
        [[Some("old.wav".to_string()), Some("5".to_string()), None]]
    );
}
