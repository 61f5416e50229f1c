//! One event, one line: control characters inside a line (a caller's
//! number, a channel name, an AMI header, a server's error text) are
//! escaped on the way out, so outside data can never forge a log line or
//! drive a terminal.

/// `line` with every control byte but a tab and a final newline written
/// as `\n`, `\r` or `\xNN`. Bytes from 0x80 up (UTF-8) are left alone.
pub fn escape_line(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let bad = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    if !body.iter().any(|&b| bad(b)) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b if bad(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            b => out.push(b),
        }
    }
    if body.len() < line.len() {
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_line;

    #[test]
    fn one_event_stays_one_line() {
        assert_eq!(&*escape_line(b"plain \t line\n"), b"plain \t line\n");
        assert_eq!(
            &*escape_line(b"caller=1\n2026-12-05T00:00:00Z INFO forged\n"),
            b"caller=1\\n2026-12-05T00:00:00Z INFO forged\n"
        );
        assert_eq!(&*escape_line(b"a\x1b[2Jb\r\x7f\n"), b"a\\x1b[2Jb\\r\\x7f\n");
        assert_eq!(&*escape_line("\u{44f}\x00".as_bytes()), "\u{44f}\\x00".as_bytes());
    }
}
