//! A throwaway MariaDB (in progress).
