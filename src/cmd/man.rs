//! `holdmix man`: the manual page, roff on stdout, generated from the same
//! clap definitions as `--help` (clap_mangen). `holdmix man run` gives
//! one subcommand's page; `--dir DIR` writes them all (`holdmix.1`,
//! `holdmix-run.1`, …), which is what the Debian package installs.

use crate::cli::Cli;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::Path;

/// The command as the pages show it: no `help` subcommand (a page of its
/// own would only say "see --help").
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The page of `holdmix`, or of the subcommand named by `path`
/// (`["cache", "warm"]`).
pub fn page(path: &[String]) -> Result<Vec<u8>> {
    let mut cmd = command();
    for name in path {
        cmd = cmd
            .find_subcommand(name)
            .cloned()
            .with_context(|| format!("{name:?}: no such subcommand"))?;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    Ok(out)
}

/// Writes the page of `path` to stdout, or, with `dir`, every page there.
pub fn man(path: &[String], dir: Option<&Path>) -> Result<()> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            clap_mangen::generate_to(command(), dir).with_context(|| format!("{}", dir.display()))
        }
        None => Ok(super::stdout::write_all(&page(path)?)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_page_names_every_subcommand_and_a_subcommand_has_its_own() {
        let main = String::from_utf8(page(&[]).unwrap()).unwrap();
        assert!(main.starts_with(".ie"), "roff: {}", &main[..40]);
        for sub in Cli::command().get_subcommands().map(|c| c.get_name()) {
            assert!(main.contains(&format!("holdmix\\-{sub}(1)")), "no {sub}");
        }
        assert!(!main.contains("holdmix\\-help(1)"));
        let warm = String::from_utf8(page(&["cache".into(), "warm".into()]).unwrap()).unwrap();
        assert!(warm.contains("holdmix\\-cache\\-warm"));
        assert!(page(&["nope".into()]).is_err());
    }
}
