//! Per-call tokens: how a generator proves to the hub that it is the one
//! the hub's realtime row started for a call. The hub keeps a secret key
//! (32 random bytes in a file only its uid can read, so that a restarted
//! hub accepts the tokens of the calls already up); a call's token is
//! HMAC-SHA256(key, Uniqueid) cut to 128 bits, written in hex into that
//! call's row (`--hub-token`), and checked in constant time.
//!
//! The token is on the generator's command line, where `ps` shows it to
//! local users. That is acceptable here, where a secret of the host's
//! would not be: a token is a capability for one call only (a leaked one
//! opens no other call, and the key never leaves the hub), and it is
//! useless without access to the hub's socket (mode 0660) and a peer uid
//! the hub accepts (`SO_PEERCRED`: its own or `--peer-uid`), which is
//! exactly who can read that process's argv anyway.

use ring::hmac;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// Bytes of the key, and of a token (before hex).
const KEY_BYTES: usize = 32;
const TOKEN_BYTES: usize = 16;
/// Domain separation: these MACs mean "a hub subscription for this call".
const CONTEXT: &[u8] = b"holdmix hub subscription\0";

/// The hub's secret key.
pub struct Key(hmac::Key);

impl std::fmt::Debug for Key {
    // Never the key itself, in a log or anywhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Where the key lives when `--key-file` is not given: beside the socket
/// (`hub.sock` -> `hub.key`), so that a hub restarted on the same socket
/// finds the same key.
pub fn default_path(socket: &Path) -> PathBuf {
    socket.with_extension("key")
}

impl Key {
    /// Reads the key at `path`, or creates it (mode 0600) when there is
    /// none. A key file must be a regular file (not followed through a
    /// symlink) owned by this uid and readable by nobody else.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Key> {
        let named = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
        let open = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path);
        let mut file = match open {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Key::create(path),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(named(&"a symlink; the hub key file must be a regular file"));
            }
            Err(e) => return Err(named(&e)),
        };
        let meta = file.metadata().map_err(|e| named(&e))?;
        if !meta.file_type().is_file() {
            return Err(named(&"not a regular file"));
        }
        if meta.uid() != super::own_uid() {
            return Err(named(&format_args!(
                "owned by uid {}, not by the hub's ({})",
                meta.uid(),
                super::own_uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(named(&format_args!(
                "mode {:o}: others may read the hub key; chmod 600 it",
                meta.mode() & 0o777
            )));
        }
        let mut text = String::new();
        (&mut file)
            .take(256)
            .read_to_string(&mut text)
            .map_err(|e| named(&e))?;
        let bytes = unhex(text.trim())
            .filter(|b| b.len() == KEY_BYTES)
            .ok_or_else(|| {
                named(&format_args!(
                    "line 1: not a key ({} hex digits expected)",
                    2 * KEY_BYTES
                ))
            })?;
        Ok(Key::from_bytes(&bytes))
    }

    fn create(path: &Path) -> anyhow::Result<Key> {
        let named = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
        let mut bytes = [0u8; KEY_BYTES];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| named(&"no randomness from the system for the hub key"))?;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path);
        let mut file = match created {
            Ok(f) => f,
            // Another hub made it first: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Key::load_or_create(path),
            Err(e) => return Err(named(&e)),
        };
        file.write_all(format!("{}\n", hex(&bytes)).as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| named(&e))?;
        tracing::info!(key = %path.display(), "hub key created");
        Ok(Key::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> Key {
        Key(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    fn tag(&self, uniqueid: &str) -> [u8; TOKEN_BYTES] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(CONTEXT);
        ctx.update(uniqueid.as_bytes());
        let full = ctx.sign();
        let mut out = [0u8; TOKEN_BYTES];
        out.copy_from_slice(&full.as_ref()[..TOKEN_BYTES]);
        out
    }

    /// The token of the call `uniqueid`, in hex.
    pub fn token(&self, uniqueid: &str) -> String {
        hex(&self.tag(uniqueid))
    }

    /// Whether `token` is the token of the call `uniqueid`.
    pub fn verify(&self, uniqueid: &str, token: &str) -> bool {
        let Some(given) = unhex(token).filter(|t| t.len() == TOKEN_BYTES) else {
            return false;
        };
        bool::from(self.tag(uniqueid).as_slice().ct_eq(&given))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_its_own_call_only_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.key");
        let key = Key::load_or_create(&path).expect("created");
        let mode = std::fs::metadata(&path).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o600);
        let t = key.token("1795452414.1");
        assert_eq!(t.len(), 32);
        assert!(key.verify("1795452414.1", &t));
        assert!(!key.verify("1795452414.2", &t), "another call's token");
        assert!(!key.verify("1795452414.1", ""));
        assert!(!key.verify("1795452414.1", &t[..30]));
        assert!(!key.verify("1795452414.1", "zz"));
        // A restarted hub reads the same key: the same tokens.
        let again = Key::load_or_create(&path).expect("read");
        assert!(again.verify("1795452414.1", &t));
    }

    #[test]
    fn a_key_file_others_can_read_or_a_symlink_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.key");
        Key::load_or_create(&path).expect("created");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Key::load_or_create(&path).expect_err("refused").to_string();
        assert!(err.contains("hub.key") && err.contains("644"), "{err}");
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        let err = Key::load_or_create(&link).expect_err("refused").to_string();
        assert!(err.contains("link.key") && err.contains("symlink"), "{err}");
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not hex\n").expect("write");
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = Key::load_or_create(&bad).expect_err("refused").to_string();
        assert!(err.contains("bad.key") && err.contains("line 1"), "{err}");
    }
}
