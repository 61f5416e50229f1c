//! The fault suite (issue 18): real components failing under a running
//! call. Each test asserts the three things: the audio continues
//! (measured in the stream read) or the process exits cleanly with its
//! reason, nothing accepted is lost, and the fault is logged once.
//! Faults covered elsewhere are listed in docs/testing.md ("Fault suite").

mod ami;
mod billing;
mod files;
mod reader;
mod store;
