//! Generated text (completions, manual pages) to stdout. A reader that
//! went away early (`holdmix man | head`) is not an error: the output just
//! was not all wanted, as for any Unix tool.

use std::io::Write;

pub fn write_all(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
