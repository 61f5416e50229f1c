//! Percent-encoding (RFC 3986), for the billing URL and the realtime rows.
//! Hand-written: reqwest does not re-export the url crate's encoder, and the
//! rule is a few lines.

/// `%XX` for every byte but RFC 3986's unreserved characters and those in
/// `keep`.
pub fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and nothing else (a `+` stays a `+`, as Asterisk reads
/// it). `None` on a bad escape or bytes that are not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_all_but_unreserved_and_kept() {
        assert_eq!(encode("+7 916&x=1/%", b""), "%2B7%20916%26x%3D1%2F%25");
        assert_eq!(encode("8916-12_3.4~", b""), "8916-12_3.4~");
        assert_eq!(encode("/usr/bin/holdmix run", b"/"), "/usr/bin/holdmix%20run");
        assert_eq!(decode("a%20b+c%2F").as_deref(), Some("a b+c/"));
        assert_eq!(decode("%2"), None);
    }
}
