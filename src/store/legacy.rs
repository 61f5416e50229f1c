//! The old hack's `queue_music(src, music_class)` table, used as it is.
//!
//! Its README creates `music_class smallint(2)`: an index into the hack's
//! music list (0 for its first track), not a file name. Other sites made
//! the column text and keep a file path in it. Which of the two a table
//! holds is read from the column's type (`information_schema`), so an
//! operator migrating changes nothing: an integer column holds the index of
//! the track in the playlist's `[music] tracks` as listed (globs expanded),
//! a text column the track's path. A value that cannot be mapped (an index
//! past the end of the list, a track not in it, a number or path longer
//! than the column) is never written into the table nor taken from it: the
//! choice then lives in holdmix's own `holdmix_caller` row, and the caller
//! hears the playlist's start track, never silence.

use mysql_async::Conn;
use mysql_async::Row;
use mysql_async::prelude::Queryable;

/// How the table keeps the music choice, read once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// A file path (a text column).
    Text { max: Option<usize> },
    /// An index into the playlist's track list (an integer column): at most `max`.
    Index { max: i64 },
}

/// The table's shape, when it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Legacy {
    pub music: Column,
    /// Longest `src` (caller number) the column holds.
    pub src_max: Option<usize>,
}

impl Legacy {
    /// Reads the table's columns; `None` when there is no `queue_music`.
    pub async fn detect(c: &mut Conn) -> mysql_async::Result<Option<Legacy>> {
        // The usual case (no such table) costs the cheap lookup only:
        // `information_schema.columns` opens table definitions.
        let table: Option<Row> = c
            .query_first(
                "SELECT table_name FROM information_schema.tables
                 WHERE table_schema = DATABASE() AND table_name = 'queue_music'",
            )
            .await?;
        if table.is_none() {
            return Ok(None);
        }
        let rows: Vec<Row> = c
            .query(
                "SELECT LOWER(column_name), LOWER(data_type), character_maximum_length
                 FROM information_schema.columns
                 WHERE table_schema = DATABASE() AND table_name = 'queue_music'",
            )
            .await?;
        let mut music = None;
        let mut src_max = None;
        let mut found = false;
        for r in &rows {
            found = true;
            let name: Option<String> = r.get_opt(0).and_then(Result::ok);
            let kind: Option<String> = r.get_opt(1).and_then(Result::ok);
            let len: Option<u64> = r.get_opt::<Option<u64>, _>(2).and_then(Result::ok).flatten();
            let len = len.and_then(|n| usize::try_from(n).ok());
            match name.as_deref() {
                Some("src") => src_max = len,
                Some("music_class") => music = Some(column(kind.as_deref().unwrap_or(""), len)),
                _ => {}
            }
        }
        Ok(match (found, music) {
            (true, Some(music)) => Some(Legacy { music, src_max }),
            // A table of that name without the column is not the hack's.
            _ => None,
        })
    }

    /// Whether `number` fits the `src` column.
    pub fn fits_src(&self, number: &str) -> bool {
        self.src_max.is_none_or(|m| number.chars().count() <= m)
    }
}

fn column(data_type: &str, len: Option<usize>) -> Column {
    let max = match data_type {
        "tinyint" => Some(i64::from(i8::MAX)),
        "smallint" => Some(i64::from(i16::MAX)),
        "mediumint" => Some((1 << 23) - 1),
        "int" | "integer" => Some(i64::from(i32::MAX)),
        "bigint" => Some(i64::MAX),
        _ => None,
    };
    match max {
        Some(max) => Column::Index { max },
        None => Column::Text { max: len },
    }
}

/// The value to store for the track `music`, or why there is none.
pub enum Stored<'a> {
    Text(&'a str),
    Index(i64),
    /// Not representable in this table (the reason, for a log line).
    No(&'static str),
}

/// Maps a track path to what the column holds.
pub fn to_stored<'a>(col: Column, tracks: &[String], music: &'a str) -> Stored<'a> {
    match col {
        Column::Text { max } if max.is_some_and(|m| music.chars().count() > m) => {
            Stored::No("the track's path is longer than queue_music.music_class")
        }
        Column::Text { .. } => Stored::Text(music),
        Column::Index { max } => match tracks.iter().position(|t| t == music) {
            None => Stored::No("the track is not in the playlist's [music] tracks"),
            Some(i) => match i64::try_from(i) {
                Ok(i) if i <= max => Stored::Index(i),
                _ => Stored::No("the track's index does not fit queue_music.music_class"),
            },
        },
    }
}

/// Maps a stored index to the track path; `Err` says why it cannot be used.
pub fn from_index(tracks: &[String], index: i64) -> Result<&str, String> {
    usize::try_from(index)
        .ok()
        .and_then(|i| tracks.get(i))
        .map(String::as_str)
        .ok_or_else(|| {
            format!(
                "queue_music.music_class {index} is outside the playlist's {} tracks (0 to {})",
                tracks.len(),
                tracks.len().saturating_sub(1)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_columns_hold_indexes() {
        assert_eq!(column("smallint", None), Column::Index { max: 32767 });
        assert_eq!(
            column("int", None),
            Column::Index {
                max: i64::from(i32::MAX)
            }
        );
        assert_eq!(column("varchar", Some(128)), Column::Text { max: Some(128) });
        assert_eq!(column("text", Some(65535)), Column::Text { max: Some(65535) });
    }

    #[test]
    fn mapping_both_ways_and_mismatches() {
        let tracks: Vec<String> = ["a.wav", "b.mp3"].iter().map(|s| s.to_string()).collect();
        let idx = Column::Index { max: 127 };
        assert!(matches!(to_stored(idx, &tracks, "b.mp3"), Stored::Index(1)));
        assert!(matches!(to_stored(idx, &tracks, "c.ogg"), Stored::No(_)));
        assert!(matches!(
            to_stored(Column::Index { max: 0 }, &tracks, "b.mp3"),
            Stored::No(_)
        ));
        let text = Column::Text { max: Some(5) };
        assert!(matches!(to_stored(text, &tracks, "a.wav"), Stored::Text("a.wav")));
        assert!(matches!(to_stored(text, &tracks, "long.wav"), Stored::No(_)));
        assert_eq!(from_index(&tracks, 0), Ok("a.wav"));
        assert_eq!(from_index(&tracks, 1), Ok("b.mp3"));
        for bad in [2, -1, i64::MAX] {
            let e = from_index(&tracks, bad).unwrap_err();
            assert!(e.contains("2 tracks"), "{e}");
        }
        assert!(from_index(&[], 0).is_err());
    }
}
