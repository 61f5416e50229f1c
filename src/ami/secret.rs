//! The AMI secret, read where `ps` cannot show it: the generator's own
//! session and the hub both log in with it.

/// The AMI secret: from a file (first line) or `HOLDMIX_AMI_SECRET`, never
/// from the command line, where `ps` would show it.
pub fn read_secret(file: Option<&std::path::Path>) -> Result<String, String> {
    if let Some(f) = file {
        // Bounded, regular files only: see `util::files`.
        let line = crate::util::files::read_secret_line(f)
            .map_err(|e| format!("cannot read the AMI secret (--ami-secret-file): {e}"))?;
        return Ok(line.trim().to_string());
    }
    std::env::var("HOLDMIX_AMI_SECRET")
        .map_err(|_| "no AMI secret: give --ami-secret-file or set HOLDMIX_AMI_SECRET".to_string())
}
