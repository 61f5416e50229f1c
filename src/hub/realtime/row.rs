//! The realtime row for a per-call class: Asterisk asks for class
//! `holdmix-<uniqueid>` and gets `mode=custom`, a format, and an
//! `application` that starts holdmix for that call, with that call's hub
//! token (`--hub-token`, see `hub::token`: it lets that generator, and no
//! other process, follow the call through the hub).
//!
//! Asterisk splits `application` on spaces into argv, with no quoting. So
//! the row carries nothing a caller controls: only the Uniqueid (checked to
//! be Asterisk's shape) and its token, the rest fixed when the server starts and checked
//! then. The generator learns the caller's channel and number from the hub.

/// Longest `application` Asterisk keeps (its field is 256 bytes).
pub const MAX_APPLICATION: usize = 255;
/// Longest Uniqueid taken (Asterisk's are `[system-]seconds.sequence`).
pub const MAX_UNIQUEID: usize = 64;

/// What every row of this server says, checked once.
#[derive(Debug, Clone)]
pub struct RowTemplate {
    prefix: String,
    format: String,
    /// argv before `--uniqueid <id>`.
    argv: Vec<String>,
    /// The hub's key: each row carries its call's token.
    key: Option<std::sync::Arc<crate::hub::token::Key>>,
}

impl RowTemplate {
    /// `argv` starts with holdmix's absolute path. Each word must be
    /// printable ASCII without spaces (Asterisk would split it), and the
    /// longest possible application must fit in 255 bytes.
    pub fn new(prefix: &str, format: &str, argv: Vec<String>) -> Result<RowTemplate, String> {
        if !argv.first().is_some_and(|a| a.starts_with('/')) {
            return Err(
                "the generator must be named by an absolute path (Asterisk does not search PATH)".into(),
            );
        }
        for word in argv.iter().chain([&prefix.to_string(), &format.to_string()]) {
            if word.is_empty()
                || !word
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'&' && b != b'%')
            {
                return Err(format!(
                    "{word:?}: Asterisk splits the application on spaces; use paths without spaces, `&` or `%`"
                ));
            }
        }
        let t = RowTemplate {
            prefix: prefix.to_string(),
            format: format.to_string(),
            argv,
            key: None,
        };
        t.check_length()?;
        Ok(t)
    }

    /// The same rows, each with its call's token from `key`.
    pub fn with_key(mut self, key: std::sync::Arc<crate::hub::token::Key>) -> Result<RowTemplate, String> {
        self.key = Some(key);
        self.check_length()?;
        Ok(self)
    }

    fn check_length(&self) -> Result<(), String> {
        let longest = self.application(&"9".repeat(MAX_UNIQUEID)).len();
        if longest > MAX_APPLICATION {
            return Err(format!(
                "the application would be {longest} bytes with a long Uniqueid; Asterisk keeps {MAX_APPLICATION}: use shorter paths"
            ));
        }
        Ok(())
    }

    fn application(&self, uniqueid: &str) -> String {
        let mut a = self.argv.join(" ");
        a.push_str(" --uniqueid ");
        a.push_str(uniqueid);
        if let Some(key) = &self.key {
            a.push_str(" --hub-token ");
            a.push_str(&key.token(uniqueid));
        }
        a
    }

    /// The row for class `name`, or `None` (Asterisk then falls back to
    /// its static `[default]` class).
    pub fn row(&self, name: &str) -> Option<String> {
        let uniqueid = name.strip_prefix(&self.prefix)?;
        if !is_uniqueid(uniqueid) {
            return None;
        }
        Some(format!(
            "name={}&mode=custom&application={}&format={}",
            encode(name),
            encode(&self.application(uniqueid)),
            encode(&self.format)
        ))
    }
}

/// Asterisk's shape: letters, digits, `.`, `-`, `_`; at most 64; starting
/// with a letter or a digit (a leading `-` would make the next argv word an
/// option, `holdmix--q` giving `--uniqueid -q`, a generator that cannot
/// start).
pub fn is_uniqueid(s: &str) -> bool {
    s.len() <= MAX_UNIQUEID
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `%XX` for everything but unreserved characters and `/` (Asterisk decodes
/// `%XX` only; a `+` would stay a `+`).
fn encode(s: &str) -> String {
    crate::util::percent::encode(s, b"/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> RowTemplate {
        RowTemplate::new(
            "holdmix-",
            "slin",
            vec![
                "/usr/bin/holdmix".into(),
                "run".into(),
                "--hub".into(),
                "/run/holdmix/hub.sock".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_only_for_asterisk_shaped_uniqueids() {
        let t = template();
        let row = t.row("holdmix-1795734025.1").unwrap();
        assert_eq!(
            row,
            "name=holdmix-1795734025.1&mode=custom&application=/usr/bin/holdmix%20run%20--hub%20/run/holdmix/hub.sock%20--uniqueid%201795734025.1&format=slin"
        );
        for bad in [
            "default",
            "holdmix-",
            "holdmix-1 2",
            "holdmix-../x",
            "holdmix-.1",
            "holdmix--q",
            "holdmix--help",
            "holdmix-_1",
            "holdmix-1&a=b",
            "other-1.2",
        ] {
            assert_eq!(t.row(bad), None, "{bad}");
        }
        assert!(t.row(&format!("holdmix-{}", "1".repeat(65))).is_none());
    }

    #[test]
    fn each_row_carries_its_own_calls_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key =
            std::sync::Arc::new(crate::hub::token::Key::load_or_create(&dir.path().join("k")).expect("key"));
        let t = template().with_key(key.clone()).expect("fits");
        let row = t.row("holdmix-1795734025.1").expect("row");
        let token = key.token("1795734025.1");
        assert!(
            row.contains(&format!("--uniqueid%201795734025.1%20--hub-token%20{token}&")),
            "{row}"
        );
        assert_ne!(token, key.token("1795734025.2"));
    }

    #[test]
    fn templates_asterisk_would_split_are_refused() {
        assert!(RowTemplate::new("holdmix-", "slin", vec!["holdmix".into()]).is_err());
        assert!(RowTemplate::new("holdmix-", "slin", vec!["/opt/hold mix/holdmix".into()]).is_err());
        assert!(RowTemplate::new("holdmix-", "slin", vec![format!("/{}", "x".repeat(200))]).is_err());
    }
}
