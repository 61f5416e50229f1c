//! The store against real SQLite and MariaDB (in progress).
