//! The `holdmix` binary: parse, run, exit code. Everything else is in the library.

use clap::Parser;
use holdmix::audio::cache::Cache;
use holdmix::cli::{CacheCommand, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = holdmix::logging::init(cli.common.log.as_deref(), cli.common.verbose, cli.common.quiet) {
        eprintln!("holdmix: {e:#}");
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `flag` was given on the command line (not filled in from the
/// environment by clap). `args_os`: a non-UTF-8 argument must not panic.
fn in_argv(flag: &str) -> bool {
    let with_value = format!("{flag}=");
    std::env::args_os().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&with_value))
    })
}

/// The row every served class gets: this very binary, run through the hub.
fn realtime_config(
    args: &holdmix::cli::HubArgs,
    listen: &str,
    cache_dir: Option<&std::path::Path>,
) -> anyhow::Result<holdmix::hub::realtime::RealtimeConfig> {
    let absolute = |p: &std::path::Path| -> anyhow::Result<String> {
        let p = std::path::absolute(p)?;
        Ok(p.to_string_lossy().into_owned())
    };
    let exe = std::env::current_exe()?;
    let playlist = args
        .playlist
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("--realtime needs --playlist: what the served generators play"))?;
    let format = args.format.asterisk_name();
    let mut argv = vec![absolute(&exe)?, "run".to_string()];
    if let Some(dir) = cache_dir {
        argv.extend(["--cache-dir".to_string(), absolute(dir)?]);
    }
    if let Some(log) = &args.generator_log {
        argv.extend(["--log".to_string(), absolute(log)?]);
    }
    argv.extend([
        "--hub".to_string(),
        absolute(&args.socket)?,
        "--playlist".to_string(),
        absolute(playlist)?,
        "--format".to_string(),
        format.to_string(),
    ]);
    let template = holdmix::hub::realtime::row::RowTemplate::new(&args.class_prefix, format, argv)
        .map_err(anyhow::Error::msg)?;
    Ok(holdmix::hub::realtime::RealtimeConfig {
        listen: listen.to_string(),
        path: args.realtime_path.trim_end_matches('/').to_string(),
        template,
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let cache = Cache::open(cli.common.cache_dir.as_deref());
    match cli.command {
        Command::Run(args) => {
            let id = &args.identity;
            let span = tracing::info_span!(
                "call",
                uniqueid = %id.uniqueid.as_deref().unwrap_or("-"),
                caller = %id.caller.as_deref().unwrap_or("-")
            );
            let _g = span.enter();
            let ami = args.ami.as_ref().and_then(|addr| {
                // Without a secret there is no session; the music plays anyway.
                match holdmix::ami::secret::read_secret(args.ami_secret_file.as_deref()) {
                    Ok(secret) => Some(holdmix::ami::client::AmiConfig {
                        addr: addr.clone(),
                        user: args.ami_user.clone(),
                        secret,
                        channel: id.channel.clone(),
                        uniqueid: id.uniqueid.clone(),
                        caller: id.caller.clone(),
                        queue: id.queue.clone(),
                        status_every: std::time::Duration::from_secs(10),
                    }),
                    Err(e) => {
                        tracing::error!("{e}; running without AMI");
                        None
                    }
                }
            });
            let opts = holdmix::run::RunOptions {
                playlist: args.playlist,
                format: args.format,
                events: args.events,
                timeline: args.timeline,
                lead: args.lead,
                ami,
                hub: args.hub.clone(),
                channel: id.channel.clone(),
                uniqueid: id.uniqueid.clone(),
                caller: id.caller.clone(),
                state_dir: args.state_dir.clone(),
                orphan_after: (!args.orphan_after.is_zero()).then_some(args.orphan_after),
                uniqueid_in_argv: in_argv("--uniqueid"),
                caller_in_argv: in_argv("--caller"),
                store: (args.store.as_deref() != Some("none")).then(|| holdmix::store::StoreOptions {
                    spec: args.store.clone(),
                    password_file: args.store_password_file.clone(),
                    start_timeout: args.store_timeout,
                    heard_window: args.remember_advices,
                }),
            };
            // The stream ends only on purpose (signal, hangup, reader gone): exit 0.
            holdmix::run::run(&opts, &cache)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Render(args) => {
            let opts = holdmix::render::RenderOptions {
                playlist: args.playlist,
                duration: args.duration,
                output: args.output,
                format: args.format,
                events: args.events,
                timeline: args.timeline,
                at: args.at,
                seed: args.seed,
                plot: args.plot.map(|p| (p, args.plot_size.0, args.plot_size.1)),
                caller: args.caller.clone(),
            };
            let span = tracing::info_span!("render", caller = %args.caller.as_deref().unwrap_or("-"));
            let _g = span.enter();
            let summary = holdmix::render::render(&opts, &cache)?;
            tracing::info!(frames = summary.frames, exit = %summary.exit, "rendered");
            Ok(ExitCode::SUCCESS)
        }
        Command::Hub(args) => {
            let secret = holdmix::ami::secret::read_secret(args.ami_secret_file.as_deref())
                .map_err(anyhow::Error::msg)?;
            if let Some(listen) = &args.realtime {
                let cfg = realtime_config(&args, listen, cli.common.cache_dir.as_deref())?;
                let addr = holdmix::hub::realtime::spawn(cfg)?;
                tracing::info!(%addr, path = %args.realtime_path, "answering realtime class lookups");
            }
            holdmix::hub::run(&holdmix::hub::HubConfig {
                ami: args.ami,
                user: args.ami_user,
                secret,
                socket: args.socket,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Say(args) => {
            holdmix::say::say(&args, &cache)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let clean = holdmix::check::check(&args.playlists, args.quick, &cache)?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Cache {
            command: CacheCommand::Warm { playlists, format },
        } => {
            let failures = holdmix::warm::warm(&playlists, &format, &cache)?;
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
