//! The Debian package, built as CI builds it (`packaging/deb.sh --ci`:
//! cargo-deb over the debug binary `cargo test` built), unpacked into a
//! temporary root and checked there: its files where Debian looks for
//! them, its unit through `systemd-analyze verify`, its user and
//! directories made by systemd-sysusers and systemd-tmpfiles (and by the
//! real postinst, where no systemd runs), and the playlist it installs
//! passing `holdmix check` with the sounds it ships.
//! cargo-deb and systemd come from scripts/test.sh.

use crate::common::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The package, built once for every test here (two builds at once would
/// share target/packaging/), into target/deb-test/.
fn package() -> &'static Path {
    static DEB: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DEB.get_or_init(|| {
        let out = root().join("target/deb-test");
        std::fs::remove_dir_all(&out).ok();
        run(Command::new(root().join("packaging/deb.sh"))
            .arg("--ci")
            .arg("-o")
            .arg(&out));
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .expect("a .deb")
    })
}

/// The package unpacked into `dir/root`.
fn unpacked(dir: &Path) -> (&'static Path, std::path::PathBuf) {
    let deb = package();
    let tree = dir.join("root");
    run(Command::new("dpkg").arg("-x").arg(deb).arg(&tree));
    (deb, tree)
}

#[test]
fn the_debian_package_installs_a_working_layout() {
    let tmp = tempdir();
    let (deb, tree) = unpacked(tmp.path());
    for file in [
        "usr/bin/holdmix",
        "usr/bin/holdmix-shim",
        "usr/lib/systemd/system/holdmix-hub.service",
        "usr/lib/systemd/system/holdmix-hub-standby.service",
        "etc/default/holdmix-hub",
        "usr/lib/tmpfiles.d/holdmix-hub.conf",
        "usr/lib/sysusers.d/holdmix.conf",
        "etc/holdmix/default.toml",
        "usr/share/man/man1/holdmix.1.gz",
        "usr/share/man/man1/holdmix-hub.1.gz",
        "usr/share/man/man1/holdmix-run.1.gz",
        "usr/share/bash-completion/completions/holdmix",
        "usr/share/zsh/vendor-completions/_holdmix",
        "usr/share/fish/vendor_completions.d/holdmix.fish",
        "usr/share/holdmix/words/en/map.toml",
        "usr/share/doc/holdmix/copyright",
    ] {
        assert!(tree.join(file).is_file(), "{file} missing");
    }
    // The playlist is a conffile; the postinst makes the user and the
    // directories, and leaves the hub disabled until it is configured.
    let control = tmp.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    for conf in ["/etc/holdmix/default.toml", "/etc/default/holdmix-hub"] {
        assert!(conffiles.lines().any(|l| l == conf), "{conf}: {conffiles}");
    }
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("systemd-sysusers")
            && postinst.contains("systemd-tmpfiles --create holdmix-hub.conf")
    );
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");
    // An upgrade restarts the standby hub first (it hosts nothing then),
    // and the hub once the standby is ready: the hub's calls go to it.
    let restart = |unit: &str| {
        postinst
            .find(&format!("try-restart {unit} "))
            .unwrap_or_else(|| panic!("{unit} is not restarted:\n{postinst}"))
    };
    assert!(restart("holdmix-hub-standby.service") < restart("holdmix-hub.service"));

    // Installed as the package lays it out, every playlist in /etc/holdmix
    // (the routes file checks each route's too) finds every sound.
    let holdmix = tree.join("usr/bin/holdmix");
    let mut etc: Vec<_> = std::fs::read_dir(tree.join("etc/holdmix"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    etc.sort();
    let names: Vec<_> = etc
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, ["default.toml", "music-only.toml", "routes.toml"]);
    for toml in &etc {
        let check = run(Command::new(&holdmix)
            .arg("--cache-dir")
            .arg(tmp.path().join("cache"))
            .arg("check")
            .arg(toml));
        let said =
            String::from_utf8_lossy(&check.stdout).to_string() + &String::from_utf8_lossy(&check.stderr);
        assert!(
            said.contains("0 errors, 0 warnings"),
            "{}: {said}",
            toml.display()
        );
        assert!(
            conffiles
                .lines()
                .any(|l| Path::new(l) == Path::new("/").join(toml.strip_prefix(&tree).unwrap())),
            "{} is not a conffile:\n{conffiles}",
            toml.display()
        );
    }
    let routes = std::fs::read_to_string(tree.join("etc/holdmix/routes.toml")).unwrap();
    assert!(
        routes.contains("playlist = \"default.toml\"") && routes.contains("playlist = \"music-only.toml\"")
    );
    // And it plays: ten rendered seconds are not silence.
    let wav = tmp.path().join("call.wav");
    run(Command::new(&holdmix)
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .arg("render")
        .arg(tree.join("etc/holdmix/default.toml"))
        .args(["--duration", "10s", "--seed", "1", "-o"])
        .arg(&wav));
    let (_, samples) = read_wav(&wav);
    assert!(db(rms(&samples)) > -40.0, "{} dB", db(rms(&samples)));
}

#[test]
fn the_hub_unit_passes_systemd_analyze_and_its_directories_are_made() {
    let tmp = tempdir();
    let (_, tree) = unpacked(tmp.path());
    // `verify --root` loads the units the hub's depends on from the root:
    // the host's, copied beside the package's (links would point outside).
    let units = tree.join("usr/lib/systemd/system");
    for e in std::fs::read_dir("/usr/lib/systemd/system").expect("systemd (scripts/test.sh installs it)") {
        let path = e.unwrap().path();
        let to = units.join(path.file_name().unwrap());
        if !to.exists() && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            std::fs::copy(&path, &to).unwrap();
        }
    }
    // Its man page (Documentation=) is looked up in the package too.
    for unit in ["holdmix-hub.service", "holdmix-hub-standby.service"] {
        let out = run(Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", tree.display()))
            .arg(format!("/usr/lib/systemd/system/{unit}"))
            .env("MANPATH", tree.join("usr/share/man")));
        // A misspelt key is only a warning: nothing may be said at all.
        let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(said.trim().is_empty(), "systemd-analyze verify {unit}:\n{said}");
    }

    // sysusers makes Asterisk's user in the root (if missing), tmpfiles
    // the hub's socket directory, closed to others, and the store's and
    // cache's.
    run(Command::new("systemd-sysusers").arg(format!("--root={}", tree.display())));
    let passwd = std::fs::read_to_string(tree.join("etc/passwd")).unwrap();
    let uid: u32 = passwd
        .lines()
        .find_map(|l| l.strip_prefix("asterisk:x:"))
        .and_then(|rest| rest.split(':').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no asterisk user:\n{passwd}"));
    run(Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", tree.display()))
        .args(["--create", "holdmix-hub.conf"]));
    let run_dir = std::fs::metadata(tree.join("run/holdmix")).unwrap();
    assert_eq!((run_dir.uid(), run_dir.mode() & 0o777), (uid, 0o750));
    for dir in ["var/lib/holdmix", "var/cache/holdmix"] {
        assert_eq!(std::fs::metadata(tree.join(dir)).unwrap().uid(), uid, "{dir}");
    }
}

#[test]
fn the_postinst_makes_the_user_and_directories_where_systemd_does_not_run() {
    // Asterisk in a container: no systemd runs, so the generated tmpfiles
    // step is skipped; the package's own step makes the directories the
    // generators need. The real postinst runs on the unpacked tree
    // (DPKG_ROOT, which every step honours), in a mount namespace of its
    // own where /run/systemd is empty whatever the host runs.
    let tmp = tempdir();
    let (deb, tree) = unpacked(tmp.path());
    let control = tmp.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    let script = format!(
        "mount -t tmpfs tmpfs /run/systemd 2>/dev/null || true; \
         test ! -d /run/systemd/system && exec sh {} configure",
        control.join("postinst").display()
    );
    run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("DPKG_ROOT", &tree));
    let passwd = std::fs::read_to_string(tree.join("etc/passwd")).expect("sysusers made etc/passwd");
    let uid: u32 = passwd
        .lines()
        .find_map(|l| l.strip_prefix("asterisk:x:"))
        .and_then(|rest| rest.split(':').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no asterisk user:\n{passwd}"));
    for dir in [
        "run/holdmix",
        "var/lib/holdmix",
        "var/cache/holdmix",
        "var/log/holdmix",
    ] {
        let meta = std::fs::metadata(tree.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!((meta.uid(), meta.mode() & 0o777), (uid, 0o750), "{dir}");
    }
}

/// A unit's `ExecStart=` words, its `$VARIABLES` replaced by `vars`.
fn exec_words(unit: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let unit = std::fs::read_to_string(root().join("packaging").join(unit)).unwrap();
    let exec = unit
        .replace("\\\n", " ")
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=").map(str::to_string))
        .expect("ExecStart=");
    exec.split_whitespace()
        .flat_map(|w| match w.strip_prefix('$') {
            Some(var) => {
                let (_, value) = vars
                    .iter()
                    .find(|(name, _)| *name == var)
                    .unwrap_or_else(|| panic!("${var} is not given"));
                value.split_whitespace().map(str::to_string).collect()
            }
            None => vec![w.to_string()],
        })
        .collect()
}

/// The hub's options for hub-mode audio with a standby, as
/// /etc/default/holdmix-hub gives them (commented out).
fn audio_opts() -> String {
    let default = std::fs::read_to_string(root().join("packaging/holdmix-hub.default")).unwrap();
    let line = default
        .lines()
        .find_map(|l| {
            l.strip_prefix("#HOLDMIX_HUB_OPTS=")
                .filter(|v| v.contains("--standby"))
        })
        .expect("the standby example");
    line.trim_matches('"').to_string()
}

#[test]
fn the_standby_unit_is_a_hub_with_audio_where_the_hubs_rows_name_it() {
    use clap::Parser;
    let hub = |words: &[String]| {
        let cli = holdmix::cli::Cli::try_parse_from(words).expect("the unit's arguments parse");
        let holdmix::cli::Command::Hub(args) = cli.command else {
            panic!("not a hub: {words:?}")
        };
        args
    };
    let opts = audio_opts();
    let primary = hub(&exec_words("holdmix-hub.service", &[("HOLDMIX_HUB_OPTS", &opts)]));
    let standby = hub(&exec_words(
        "holdmix-hub-standby.service",
        &[("HOLDMIX_STANDBY_OPTS", "")],
    ));
    assert!(primary.audio && standby.audio);
    assert_eq!(primary.standby.as_deref(), Some(standby.socket.as_path()));
    assert_ne!(primary.socket, standby.socket);
    // The calls' tokens verify on both: one key.
    assert_eq!(
        standby.key_file.as_deref(),
        Some(holdmix::hub::token::default_path(&primary.socket).as_path())
    );
    assert!(standby.realtime.is_none() && standby.metrics.is_none());
    // Without the options, the hub streams no audio (the default).
    assert!(!hub(&exec_words("holdmix-hub.service", &[("HOLDMIX_HUB_OPTS", "")])).audio);
}

#[test]
fn the_units_hub_command_gives_rows_asterisk_keeps() {
    // Asterisk keeps 255 bytes of a realtime row's `application`: the
    // hub's arguments in the unit, with the binary where the package puts
    // it, must make rows that fit a 64-character Uniqueid and its token
    // (else the hub refuses to start). With hub-mode audio and a standby
    // on, as /etc/default/holdmix-hub shows: the rows name the standby.
    use clap::Parser;
    let words = exec_words("holdmix-hub.service", &[("HOLDMIX_HUB_OPTS", &audio_opts())]);
    assert_eq!(words[0], "/usr/bin/holdmix");
    let cli = holdmix::cli::Cli::try_parse_from(&words).expect("the unit's arguments parse");
    let holdmix::cli::Command::Hub(args) = cli.command else {
        panic!("not a hub: {words:?}")
    };
    let listen = args.realtime.clone().expect("--realtime");
    let (cfg, _) = holdmix::config::realtime(
        &args,
        &listen,
        cli.common.cache_dir.as_deref(),
        Path::new(&words[0]),
    )
    .expect("the row template");
    let tmp = tempdir();
    let key =
        std::sync::Arc::new(holdmix::hub::token::Key::load_or_create(&tmp.path().join("hub.key")).unwrap());
    let template = cfg.template.with_key(key.clone());
    assert!(template.is_ok(), "{:?}", template.err());

    // With what the docs tell an operator to add: each call's timeline in
    // /var/log/holdmix/calls (the unit's LogsDirectory), and the routes
    // example's longest playlist path. The check depends on lengths only:
    // a directory of the same length stands in for /var/log/holdmix/calls.
    let logs = "/var/log/holdmix/calls";
    let stand_in = tmp
        .path()
        .join("x".repeat(logs.len().saturating_sub(tmp.path().as_os_str().len() + 1)));
    assert_eq!(
        stand_in.as_os_str().len(),
        logs.len(),
        "the temporary path is too long"
    );
    let routes = std::fs::read_to_string(root().join("packaging/etc/routes.toml")).unwrap();
    let longest = routes
        .lines()
        .filter_map(|l| l.trim().strip_prefix("playlist = \""))
        .map(|p| format!("/etc/holdmix/{}", p.trim_end_matches('"')))
        .max_by_key(String::len)
        .unwrap();
    let mut more: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let at = more.iter().position(|w| w == "--playlist").expect("--playlist") + 1;
    more[at] = longest;
    more.extend([
        "--timeline-dir".to_string(),
        stand_in.to_string_lossy().into_owned(),
    ]);
    let cli = holdmix::cli::Cli::try_parse_from(&more).expect("parses");
    let holdmix::cli::Command::Hub(args) = cli.command else {
        panic!("not a hub")
    };
    // The rows start `/usr/bin/holdmix-shim` (installed beside the hub's
    // binary), one byte longer than `/usr/bin/holdmix run`: a binary one
    // byte longer stands in (no shim beside it, so `run` is named).
    let (cfg, served) = holdmix::config::realtime(
        &args,
        &listen,
        cli.common.cache_dir.as_deref(),
        Path::new("/usr/bin/holdmixx"),
    )
    .expect("the row template");
    // The route's playlist counts too.
    let routes = std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(served.routes)));
    let template = cfg
        .template
        .with_key(key)
        .and_then(|t| t.with_routes(routes, std::sync::Arc::new(|_: &str| None)));
    assert!(template.is_ok(), "{more:?}: {:?}", template.err());
}

#[test]
fn the_asterisk_examples_match_the_package() {
    // The examples Asterisk's admin merges: [default] plays the file the
    // package ships (mode=files, no process), the realtime URL is the
    // unit's --realtime, app_queue is silent, the dialplan names classes
    // the hub answers (a route the routes example has).
    let tmp = tempdir();
    let (_, tree) = unpacked(tmp.path());
    let ex = tree.join("usr/share/doc/holdmix/examples/asterisk");
    let read = |name: &str| std::fs::read_to_string(ex.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let setting = |text: &str, key: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(';').next().unwrap().trim())
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            })
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.trim_start_matches('>').trim().to_string())
            .collect()
    };

    let moh = read("musiconhold.conf");
    assert_eq!(setting(&moh, "mode"), ["files"]);
    assert_eq!(setting(&moh, "cachertclasses"), ["no"]);
    let dir = setting(&moh, "directory");
    let dir = tree.join(dir[0].trim_start_matches('/'));
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // One pass of the sample music, 8 kHz μ-law (one byte a sample), not
    // silence, and at the level holdmix plays it.
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(bytes.len(), 103 * 8000);
    let pcm: Vec<f32> = bytes
        .iter()
        .map(|&b| f32::from(holdmix::audio::g711::ulaw_to_linear(b)) / 32768.0)
        .collect();
    let level = lufs(&pcm, 8000);
    assert!((-23.0..=-17.0).contains(&level), "{level} LUFS");

    let unit = std::fs::read_to_string(tree.join("usr/lib/systemd/system/holdmix-hub.service")).unwrap();
    let ext = read("extconfig.conf");
    let url = setting(&ext, "musiconhold");
    let port = url[0].rsplit(':').next().unwrap().trim_end_matches("/moh");
    assert!(unit.contains(&format!("--realtime 127.0.0.1:{port}")), "{url:?}");

    let queues = read("queues.conf");
    assert_eq!(setting(&queues, "announce-frequency"), ["0"]);
    assert_eq!(setting(&queues, "periodic-announce-frequency"), ["0"]);

    let dialplan = read("extensions.conf");
    let routes = std::fs::read_to_string(tree.join("etc/holdmix/routes.toml")).unwrap();
    for class in dialplan.lines().filter_map(|l| l.split("musicclass)=").nth(1)) {
        let route = class
            .trim_start_matches("holdmix-")
            .trim_end_matches("${UNIQUEID})");
        let route = route.trim_end_matches('-');
        assert!(
            route.is_empty() || routes.contains(&format!("name = \"{route}\"")),
            "{class}: no route {route}"
        );
    }
    let manager = read("manager.conf");
    assert!(setting(&manager, "read")[0].contains("dtmf"));
}
