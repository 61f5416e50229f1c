//! `holdmix completions SHELL` and `holdmix man`: each shell parses its
//! script and completes the subcommands from it; the pages are roff that
//! groff renders without a warning. Bash, zsh, fish and groff come from
//! scripts/test.sh.

use crate::common::{BIN, ok};
use std::process::Command;

/// Every subcommand, as clap knows them (a new one is checked too).
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    holdmix::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

fn generated(args: &[&str]) -> String {
    String::from_utf8(ok(Command::new(BIN).args(args)).stdout).unwrap()
}

fn script_file(dir: &std::path::Path, shell: &str) -> std::path::PathBuf {
    let path = dir.join(format!("holdmix.{shell}"));
    std::fs::write(&path, generated(&["completions", shell])).unwrap();
    path
}

/// Runs `shell` with `args`, asserting success; its stdout.
fn shell(shell: &str, args: &[&str]) -> String {
    let out = Command::new(shell)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{shell}: {e} (scripts/test.sh installs bash, zsh and fish)"));
    assert!(
        out.status.success(),
        "{shell} {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assert_all_subcommands(shell: &str, listed: &str) {
    let words: Vec<&str> = listed.split_whitespace().collect();
    for sub in subcommands() {
        assert!(
            words.contains(&sub.as_str()),
            "{shell} does not complete {sub}: {listed}"
        );
    }
}

#[test]
fn bash_completes_the_subcommands_and_their_options() {
    let tmp = crate::common::tempdir();
    let script = script_file(tmp.path(), "bash");
    let s = script.to_str().unwrap();
    shell("bash", &["-n", s]);
    // What bash does at Tab: the function registered for holdmix, called
    // with the words typed so far.
    let complete = |words: &str| {
        shell(
            "bash",
            &[
                "-c",
                &format!(
                    r#"source {s}
                    COMP_WORDS=({words} ""); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
                    COMP_LINE="{words} "; COMP_POINT=${{#COMP_LINE}}
                    $(complete -p holdmix | sed -E 's/.*-F ([^ ]+).*/\1/') holdmix "" "${{COMP_WORDS[-2]}}"
                    printf '%s\n' "${{COMPREPLY[@]}}""#
                ),
            ],
        )
    };
    assert_all_subcommands("bash", &complete("holdmix"));
    let hub = complete("holdmix hub");
    assert!(hub.contains("--realtime") && hub.contains("--socket"), "{hub}");
}

#[test]
fn zsh_parses_its_script_and_fish_completes_the_subcommands() {
    let tmp = crate::common::tempdir();
    let zsh = script_file(tmp.path(), "zsh");
    shell("zsh", &["-n", zsh.to_str().unwrap()]);
    let text = std::fs::read_to_string(&zsh).unwrap();
    assert!(text.starts_with("#compdef holdmix"), "{}", &text[..40]);
    for sub in subcommands() {
        assert!(text.contains(&format!("'{sub}:")), "zsh: no {sub}");
    }
    let fish = script_file(tmp.path(), "fish");
    let f = fish.to_str().unwrap();
    shell("fish", &["--no-execute", f]);
    let listed = shell("fish", &["-c", &format!("source {f}; complete -C 'holdmix '")]);
    // fish prints `word<TAB>description` per line.
    let words: String = listed
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect::<Vec<_>>()
        .join(" ");
    assert_all_subcommands("fish", &words);
}

#[test]
fn the_manual_pages_render_and_name_every_subcommand() {
    let tmp = crate::common::tempdir();
    let page = generated(&["man"]);
    assert!(page.contains(".TH holdmix 1"), "{}", &page[..200.min(page.len())]);
    let path = tmp.path().join("holdmix.1");
    std::fs::write(&path, &page).unwrap();
    // groff renders it as man does, every warning on (-ww) and none allowed.
    let out = Command::new("groff")
        .args(["-man", "-Tascii", "-P-cbou", "-ww"])
        .arg(&path)
        .output()
        .expect("groff (scripts/test.sh installs man-db, which brings it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in subcommands() {
        assert!(
            text.contains(&format!("holdmix-{sub}(1)")),
            "page lacks {sub}:\n{text}"
        );
    }
    assert!(text.contains("--cache-dir"), "{text}");
    // One page per subcommand for the package; `man run` is that page.
    let dir = tmp.path().join("pages");
    ok(Command::new(BIN).arg("man").arg("--dir").arg(&dir));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for sub in subcommands() {
        assert!(names.contains(&format!("holdmix-{sub}.1")), "{names:?}");
    }
    assert!(names.contains(&"holdmix-cache-warm.1".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("holdmix-run.1")).unwrap(),
        generated(&["man", "run"])
    );
    let bad = Command::new(BIN).args(["man", "nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"nope\": no such subcommand"));
}
