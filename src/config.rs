//! The command line resolved: `cli` is the command line as typed (clap,
//! validation only); this module turns it and the environment into the
//! options each command runs with, and decides what may be trusted.
//!
//! Trust is about where a value came from. Asterisk's `ENV()` is one
//! process-wide environment, so `UNIQUEID`, `PHONE` and `CHANNEL` may be
//! another call's; a `--uniqueid` on the command line can only have come
//! from the call's own realtime row, and `--caller` is the operator's word.
//! The environment is read through a function, so all of this is tested
//! without a process.

use crate::ami::client::AmiConfig;
use crate::cli::{HubArgs, RenderArgs, RunArgs};
use crate::cmd::render::RenderOptions;
use crate::store::StoreOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Reads one environment variable (`std::env::var` in the binary, a table
/// in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as [`Env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The environment variables the old hack passed the call's identity in.
pub const UNIQUEID_ENV: &str = "UNIQUEID";
pub const CALLER_ENV: &str = "PHONE";
pub const CHANNEL_ENV: &str = "CHANNEL";

/// Longest call key taken (`--call-key`, a hub's `CallKey`): SIP Call-IDs
/// are rarely over 100 characters.
pub const CALL_KEY_LEN: usize = 200;

/// How often a generator's own AMI session asks for `QueueStatus`.
const QUEUE_STATUS_EVERY: Duration = Duration::from_secs(10);

/// A value of the call's identity and whether it was on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub value: String,
    /// On the command line (trusted as the call's own), not from the
    /// environment (possibly another call's).
    pub in_argv: bool,
}

impl Given {
    fn resolve(argv: Option<&String>, env: Env<'_>, name: &str) -> Option<Given> {
        match argv {
            Some(v) => Some(Given {
                value: v.clone(),
                in_argv: true,
            }),
            None => env(name).map(|value| Given {
                value,
                in_argv: false,
            }),
        }
    }
}

/// Who the call is, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallIdentity {
    pub uniqueid: Option<Given>,
    pub caller: Option<Given>,
    pub channel: Option<Given>,
    pub queue: Option<String>,
    /// `--call-key`: what the call is known by across channels (the
    /// operator's word, so trusted; never from the environment).
    pub call_key: Option<String>,
}

impl CallIdentity {
    pub fn uniqueid(&self) -> Option<&str> {
        self.uniqueid.as_ref().map(|g| g.value.as_str())
    }

    pub fn caller(&self) -> Option<&str> {
        self.caller.as_ref().map(|g| g.value.as_str())
    }

    pub fn channel(&self) -> Option<&str> {
        self.channel.as_ref().map(|g| g.value.as_str())
    }

    /// The Uniqueid, only when the call's own row gave it: checkpoints and
    /// the hub's word are keyed by it.
    pub fn own_uniqueid(&self) -> Option<&str> {
        self.uniqueid
            .as_ref()
            .filter(|g| g.in_argv)
            .map(|g| g.value.as_str())
    }

    pub fn uniqueid_in_argv(&self) -> bool {
        self.uniqueid.as_ref().is_some_and(|g| g.in_argv)
    }

    pub fn caller_in_argv(&self) -> bool {
        self.caller.as_ref().is_some_and(|g| g.in_argv)
    }

    /// The channel a generator may name to the hub or its own session:
    /// with a Uniqueid of its own, the hub's word on the channel is the only
    /// one, not `CHANNEL` from the environment.
    pub fn channel_to_follow(&self) -> Option<&str> {
        self.channel().filter(|_| !self.uniqueid_in_argv())
    }
}

/// What `holdmix run` runs with.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub playlist: Option<PathBuf>,
    pub format: crate::audio::format::Format,
    /// `-` for stdin, or a file / FIFO to read event lines from.
    pub events: Option<PathBuf>,
    pub timeline: Option<PathBuf>,
    /// Each call's own timeline file in a directory (`--timeline-dir`).
    pub timeline_dir: Option<crate::run::timeline_file::TimelineDir>,
    /// Audio kept queued in the pipe; `None` learns it from the reader.
    pub lead: Option<Duration>,
    pub identity: CallIdentity,
    /// This call's events from Asterisk's manager interface.
    pub ami: Option<AmiConfig>,
    /// A `holdmix hub` socket to take the call's events from.
    pub hub: Option<PathBuf>,
    /// This call's token for the hub (from the hub's realtime row).
    pub hub_token: Option<String>,
    /// The hub the call is handed to when `hub` cannot stream it.
    pub standby_hub: Option<PathBuf>,
    /// Where call checkpoints live (`None`: the default tmpfs directory).
    pub state_dir: Option<PathBuf>,
    /// Exit when nobody has read the stream for this long (`None`: never).
    pub orphan_after: Option<Duration>,
    /// The caller memory store (`None`: off).
    pub store: Option<StoreOptions>,
    /// `--language`: the route's language choice (a valid code).
    pub language: Option<String>,
    /// `--control`: this call's control socket.
    pub control: Option<PathBuf>,
    /// `--standalone`: never hand the call over to the hub's audio.
    pub standalone: bool,
    /// `--hub-hung`: the hub stopped writing this call; its greeting is
    /// not waited for at the start.
    pub hub_hung: bool,
    /// `--hub-checkpoints`: the name a hub kept the call's checkpoints
    /// under (see `Checkpoints::open`).
    pub hub_checkpoints: Option<String>,
}

/// Resolves `run`'s arguments. `secret` reads the AMI secret (a file, or
/// the environment); without one there is no session, and the music plays
/// anyway.
pub fn run(
    args: RunArgs,
    env: Env<'_>,
    secret: impl FnOnce(Option<&Path>) -> Result<String, String>,
) -> RunConfig {
    let id = &args.identity;
    let identity = CallIdentity {
        uniqueid: Given::resolve(id.uniqueid.as_ref(), env, UNIQUEID_ENV),
        caller: Given::resolve(id.caller.as_ref(), env, CALLER_ENV),
        channel: Given::resolve(id.channel.as_ref(), env, CHANNEL_ENV),
        queue: id.queue.clone(),
        call_key: id.call_key.clone(),
    };
    let ami = args
        .ami
        .as_ref()
        .and_then(|addr| match secret(args.ami_secret_file.as_deref()) {
            Ok(secret) => Some(AmiConfig {
                addr: addr.clone(),
                user: args.ami_user.clone(),
                secret,
                channel: identity.channel().map(str::to_string),
                uniqueid: identity.uniqueid().map(str::to_string),
                caller: identity.caller().map(str::to_string),
                queue: identity.queue.clone(),
                status_every: QUEUE_STATUS_EVERY,
            }),
            Err(e) => {
                tracing::error!("{e}; running without AMI");
                None
            }
        });
    RunConfig {
        playlist: args.playlist,
        format: args.format,
        events: args.events,
        timeline: args.timeline,
        timeline_dir: args
            .timeline_dir
            .map(|dir| crate::run::timeline_file::TimelineDir {
                dir,
                max: args.timeline_max,
                days: args.timeline_days,
            }),
        lead: args.lead,
        identity,
        ami,
        hub: args.hub,
        hub_token: args.hub_token,
        standby_hub: args.standby_hub,
        state_dir: args.state_dir,
        orphan_after: (!args.orphan_after.is_zero()).then_some(args.orphan_after),
        store: (args.store.as_deref() != Some("none")).then_some(StoreOptions {
            spec: args.store,
            password_file: args.store_password_file,
            start_timeout: args.store_timeout,
            heard_window: args.remember_advices,
            tracks: Vec::new(),
        }),
        language: args.language.as_deref().and_then(route_language),
        control: args.control,
        standalone: args.standalone,
        hub_hung: args.hub_hung,
        hub_checkpoints: args.hub_checkpoints,
    }
}

/// `--language`, checked against the strict code alphabet. A bad one is
/// logged (its length only: it is not known to be safe to show) and
/// ignored: a typo in a dialplan must not cost callers their music.
fn route_language(code: &str) -> Option<String> {
    if crate::scenario::language::valid_code(code) {
        return Some(code.to_string());
    }
    tracing::error!(
        chars = code.chars().count(),
        "--language is not a language code (e.g. en, ru, pt-BR): ignored"
    );
    None
}

/// Resolves `render`'s arguments.
pub fn render(args: RenderArgs) -> RenderOptions {
    RenderOptions {
        playlist: args.playlist,
        duration: args.duration,
        output: args.output.unwrap_or_default(),
        format: args.format,
        events: args.events,
        timeline: args.timeline,
        at: args.at,
        seed: args.seed.resolve(),
        plot: args.plot.map(|p| (p, args.plot_size.0, args.plot_size.1)),
        caller: args.caller,
        mohqueue: args.mohqueue,
        routes: args.routes,
    }
}

/// The per-call process of hub-mode audio, installed beside `holdmix`.
pub const SHIM: &str = "holdmix-shim";

/// The row every realtime class gets: this very binary (`exe`), run
/// through the hub, with absolute paths (Asterisk runs it from `/`), and
/// the routes that add each call's playlist: `--routes`' file, or
/// `--playlist` as the one default route.
pub fn realtime(
    args: &HubArgs,
    listen: &str,
    cache_dir: Option<&Path>,
    exe: &Path,
) -> anyhow::Result<(crate::hub::realtime::RealtimeConfig, crate::hub::realtime::Served)> {
    let absolute = |p: &Path| -> anyhow::Result<String> {
        let p = std::path::absolute(p)?;
        Ok(p.to_string_lossy().into_owned())
    };
    let served = match (&args.routes, &args.playlist) {
        (Some(file), _) => crate::hub::realtime::Served {
            routes: crate::routes::parse::load_valid(file).map_err(anyhow::Error::msg)?,
            file: Some(file.clone()),
        },
        (None, Some(playlist)) => {
            let playlist = std::path::absolute(playlist)?;
            if !playlist.to_str().is_some_and(crate::routes::is_argv_word) {
                anyhow::bail!(
                    "{}: Asterisk splits the application on spaces; use a path without spaces, `&` or `%`",
                    playlist.display()
                );
            }
            crate::hub::realtime::Served {
                routes: crate::routes::Routes::single(&playlist),
                file: None,
            }
        }
        (None, None) => {
            anyhow::bail!("--realtime needs --routes or --playlist: what the served generators play")
        }
    };
    let format = args.format.asterisk_name();
    // With hub-mode audio a call's process only hands its pipe over and
    // waits: the tiny `holdmix-shim` beside this binary (docs/shim.md) costs
    // a tenth of the full binary's memory; it takes `run`'s arguments.
    let shim = exe.with_file_name(SHIM);
    let mut argv = if args.audio && shim.is_file() {
        vec![absolute(&shim)?]
    } else {
        if args.audio {
            tracing::warn!(
                shim = %shim.display(),
                "no holdmix-shim beside the binary: the rows start `holdmix run`, which hands its pipe over too"
            );
        }
        vec![absolute(exe)?, "run".to_string()]
    };
    if let Some(dir) = cache_dir {
        argv.extend(["-C".to_string(), absolute(dir)?]);
    }
    if let Some(log) = &args.generator_log {
        // `journald` is not a file name to make absolute.
        let log = match log.to_str() {
            Some(crate::util::logging::JOURNALD) => crate::util::logging::JOURNALD.to_string(),
            _ => absolute(log)?,
        };
        argv.extend(["-L".to_string(), log]);
    }
    if let Some(dir) = &args.timeline_dir {
        // Checked now: a refused directory is the operator's to fix at
        // start, not a line in every call's log.
        crate::util::dirs::ensure_shared_dir(dir).map_err(anyhow::Error::msg)?;
        argv.extend(["-T".to_string(), absolute(dir)?]);
    }
    // Short options (`run --help` has the long ones): Asterisk keeps 255
    // bytes of the row's command line. `slin` is run's default format.
    argv.extend(["-H".to_string(), absolute(&args.socket)?]);
    if let Some(standby) = &args.standby {
        argv.extend(["-S".to_string(), absolute(standby)?]);
    }
    if format != "slin" {
        argv.extend(["--format".to_string(), format.to_string()]);
    }
    let template = crate::hub::realtime::row::RowTemplate::new(&args.class_prefix, format, argv)
        .map_err(anyhow::Error::msg)?;
    Ok((
        crate::hub::realtime::RealtimeConfig {
            listen: listen.to_string(),
            path: args.realtime_path.trim_end_matches('/').to_string(),
            template,
            // The generators' defaults (`run --timeline-max`, `--timeline-days`).
            timelines: args
                .timeline_dir
                .as_ref()
                .map(|dir| crate::run::timeline_file::TimelineDir {
                    dir: std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
                    max: 1 << 20,
                    days: 30,
                }),
        },
        served,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::collections::HashMap;

    /// The rows a hub serves name its standby hub (`-S`) after its own.
    #[test]
    fn realtime_rows_name_the_standby_hub() {
        let argv = [
            "holdmix",
            "hub",
            "--socket",
            "/run/a.sock",
            "--realtime",
            "127.0.0.1:1",
            "--standby",
            "/run/b.sock",
            "--playlist",
            "/etc/p.toml",
        ];
        let Command::Hub(args) = Cli::try_parse_from(argv).expect("parses").command else {
            panic!("not hub");
        };
        let (rt, _) = realtime(&args, "127.0.0.1:1", None, Path::new("/usr/bin/holdmix")).expect("config");
        let row = rt.template.row("holdmix-1795734025.1").expect("a row");
        assert!(row.contains("%20-H%20/run/a.sock%20-S%20/run/b.sock%20"), "{row}");
        // Without --realtime there are no rows to name it in.
        assert!(Cli::try_parse_from(["holdmix", "hub", "--standby", "/run/b.sock"]).is_err());
    }

    fn run_args(argv: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["holdmix", "run"].iter().chain(argv)).expect("parses");
        match cli.command {
            Command::Run(a) => a,
            other => panic!("not run: {other:?}"),
        }
    }

    fn resolve(argv: &[&str], env: &[(&str, &str)]) -> RunConfig {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |k: &str| env.get(k).cloned();
        run(run_args(argv), &lookup, |_| Ok("s3cret".into()))
    }

    #[test]
    fn values_on_the_command_line_are_trusted_and_win_over_the_environment() {
        let c = resolve(
            &["--uniqueid", "1795734134.39", "--caller", "+7916"],
            &[("UNIQUEID", "1.1"), ("PHONE", "555"), ("CHANNEL", "PJSIP/a-1")],
        );
        let id = &c.identity;
        assert_eq!(id.uniqueid(), Some("1795734134.39"));
        assert_eq!(id.own_uniqueid(), Some("1795734134.39"));
        assert!(id.uniqueid_in_argv() && id.caller_in_argv());
        assert_eq!(id.caller(), Some("+7916"));
        // The channel came from the environment: known, not to be followed
        // by a generator whose Uniqueid is its own.
        assert_eq!(id.channel(), Some("PJSIP/a-1"));
        assert_eq!(id.channel_to_follow(), None);
    }

    #[test]
    fn values_from_the_environment_are_used_but_not_trusted() {
        let c = resolve(
            &[],
            &[("UNIQUEID", "1.1"), ("PHONE", "555"), ("CHANNEL", "PJSIP/a-1")],
        );
        let id = &c.identity;
        assert_eq!((id.uniqueid(), id.caller()), (Some("1.1"), Some("555")));
        assert!(!id.uniqueid_in_argv() && !id.caller_in_argv());
        assert_eq!(id.own_uniqueid(), None);
        assert_eq!(id.channel_to_follow(), Some("PJSIP/a-1"));
    }

    #[test]
    fn nothing_given_is_nothing_known() {
        let c = resolve(&[], &[]);
        assert_eq!(c.identity, CallIdentity::default());
        assert!(c.ami.is_none() && c.hub.is_none());
    }

    #[test]
    fn ami_gets_the_identity_and_the_secret_but_never_shows_it() {
        let c = resolve(
            &[
                "--ami",
                "127.0.0.1:5038",
                "--channel",
                "PJSIP/b-2",
                "--queue",
                "support",
            ],
            &[("PHONE", "555")],
        );
        let ami = c.ami.expect("a session");
        assert_eq!(ami.secret, "s3cret");
        assert_eq!(ami.channel.as_deref(), Some("PJSIP/b-2"));
        assert_eq!(ami.caller.as_deref(), Some("555"));
        assert_eq!(ami.queue.as_deref(), Some("support"));
        assert!(!format!("{ami:?}").contains("s3cret"));
    }

    #[test]
    fn no_secret_no_session() {
        let args = run_args(&["--ami", "127.0.0.1:5038"]);
        let c = run(args, &|_| None, |_| Err("no secret".into()));
        assert!(c.ami.is_none());
    }

    #[test]
    fn store_none_turns_memory_off_and_a_zero_orphan_guard_is_off() {
        let c = resolve(&["--store", "none", "--orphan-after", "0"], &[]);
        assert!(c.store.is_none());
        assert_eq!(c.orphan_after, None);
        let c = resolve(&["--store-timeout", "50ms"], &[]);
        let store = c.store.expect("default store");
        assert_eq!(
            (store.spec, store.start_timeout),
            (None, Duration::from_millis(50))
        );
        assert_eq!(c.orphan_after, Some(Duration::from_secs(30)));
    }
}
