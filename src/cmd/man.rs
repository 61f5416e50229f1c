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
    // Every page's footer names the program and its version (a
    // subcommand's own would be its name alone: "run ").
    clap_mangen::Man::new(cmd)
        .source(concat!("holdmix ", env!("CARGO_PKG_VERSION")))
        .render(&mut out)?;
    Ok(out)
}

/// Writes the page of `path` to stdout, or, with `dir`, every page there.
pub fn man(path: &[String], dir: Option<&Path>) -> Result<()> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            // Each page as `man NAME` gives it (clap_mangen's own
            // `generate_to` has no say in the footer).
            let mut all = Vec::new();
            paths(&command(), &mut Vec::new(), &mut all);
            for path in all {
                let name = std::iter::once("holdmix").chain(path.iter().map(String::as_str));
                let file = dir.join(format!("{}.1", name.collect::<Vec<_>>().join("-")));
                std::fs::write(&file, page(&path)?).with_context(|| format!("{}", file.display()))?;
            }
            Ok(())
        }
        None => Ok(super::stdout::write_all(&page(path)?)?),
    }
}

/// The path of `cmd` and of every subcommand under it that is shown.
fn paths(cmd: &clap::Command, path: &mut Vec<String>, all: &mut Vec<Vec<String>>) {
    all.push(path.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        path.push(sub.get_name().to_string());
        paths(sub, path, all);
        path.pop();
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
        // Its footer names the program and version, as the main page's.
        let th = concat!(" \"holdmix ", env!("CARGO_PKG_VERSION"), "\"");
        for p in [&main, &warm] {
            let line = p.lines().find(|l| l.starts_with(".TH ")).unwrap();
            assert!(line.trim_end().ends_with(th), "{line}");
        }
        assert!(page(&["nope".into()]).is_err());
    }
}
