//! `holdmix completions SHELL`: the shell's completion script on stdout,
//! generated from the same clap definitions as `--help` (clap_complete),
//! for those who install with `cargo install`; the Debian package ships
//! the bash, zsh and fish ones where each shell looks.

use crate::cli::Cli;
use clap::CommandFactory;
pub use clap_complete::Shell;

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "holdmix", &mut out);
    out
}

/// Writes the script to stdout. A reader that went away early (`| head`)
/// is not an error, as for any Unix tool.
pub fn completions(shell: Shell) -> std::io::Result<()> {
    super::stdout::write_all(&script(shell))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = String::from_utf8(script(shell)).unwrap();
            for sub in Cli::command().get_subcommands().map(|c| c.get_name()) {
                assert!(s.contains(sub), "{shell}: no {sub}");
            }
        }
    }
}
