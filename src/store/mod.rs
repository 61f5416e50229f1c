//! Per-caller memory and per-call state (in progress).
