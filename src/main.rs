//! The `holdmix` binary: parse, run, exit code. Everything else is in the library.

use clap::Parser;
use holdmix::audio::cache::Cache;
use holdmix::cli::{CacheCommand, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let code = start();
    holdmix::util::logging::flush_at_exit();
    code
}

fn start() -> ExitCode {
    // `hub --audio`'s watchdog process, which the hub starts itself.
    if let Some(code) = holdmix::hub::audio::watchdog::main_if_asked() {
        return code;
    }
    let cli = Cli::parse();
    // A held call's process: its memory is paid once per call.
    if matches!(cli.command, Command::Run(_)) {
        holdmix::util::footprint::one_malloc_arena();
    }
    // A service's stderr is its log (Asterisk's, journald): its lines,
    // its last error among them, carry the time and the call. A command
    // typed at a shell answers as a command does.
    let service = matches!(cli.command, Command::Run(_) | Command::Hub(_) | Command::Serve(_));
    if let Err(e) = holdmix::util::logging::init(
        cli.common.log.as_deref(),
        cli.common.verbose,
        cli.common.quiet,
        !service,
    ) {
        eprintln!("holdmix: {e:#}");
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) if service => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
        Err(e) => {
            // The lines logged before it (the problems it sums up) first:
            // they go out through the log's own thread.
            holdmix::util::logging::flush_at_exit();
            eprintln!("holdmix: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    // Generated text only: no cache directory created for it.
    match &cli.command {
        Command::Completions { shell } => {
            holdmix::cmd::completions::completions(*shell)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man { command, dir } => {
            holdmix::cmd::man::man(command, dir.as_deref())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Ctl(args) => return Ok(ExitCode::from(holdmix::cmd::ctl::ctl(args))),
        _ => {}
    }
    let cache = Cache::open(cli.common.cache_dir.as_deref());
    match cli.command {
        Command::Run(args) => {
            let cfg = holdmix::config::run(
                args,
                &holdmix::config::process_env,
                holdmix::ami::secret::read_secret,
            );
            let id = &cfg.identity;
            // A caller sets their number: the log writer escapes what it
            // holds, so it can never forge a line (util::logging).
            let span = tracing::info_span!(
                "call",
                uniqueid = %id.uniqueid().unwrap_or("-"),
                caller = %id.caller().unwrap_or("-")
            );
            let _g = span.enter();
            // The stream ends only on purpose (signal, hangup, reader gone): exit 0.
            holdmix::run::run(&cfg, &cache)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Render(args) => {
            let span = tracing::info_span!("render", caller = %args.caller.as_deref().unwrap_or("-"));
            let _g = span.enter();
            let summary = holdmix::cmd::render::render(&holdmix::config::render(args), &cache)?;
            tracing::info!(
                frames = summary.frames,
                exit = %summary.exit,
                "rendered; the same again: {}",
                summary.replay
            );
            if summary.playlist_errors > 0 {
                tracing::error!(
                    "{} error(s) in the playlist: rendered as a call hears it with them; fix them (see `holdmix check`)",
                    summary.playlist_errors
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Play(args) => {
            holdmix::cmd::play::play(
                &holdmix::cmd::play::PlayOptions {
                    playlist: args.playlist,
                    rate: args.format.rate(),
                    device: args.device,
                    duration: args.duration,
                    skip: args.skip,
                    at: args.at,
                    seed: args.seed.resolve(),
                    caller: args.caller,
                    timeline: args.timeline,
                },
                &cache,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Hub(args) => {
            let secret = holdmix::ami::secret::read_secret(args.ami_secret_file.as_deref())
                .map_err(anyhow::Error::msg)?;
            let key_file = args
                .key_file
                .clone()
                .unwrap_or_else(|| holdmix::hub::token::default_path(&args.socket));
            let key = std::sync::Arc::new(holdmix::hub::token::Key::load_or_create(&key_file)?);
            let realtime = match &args.realtime {
                Some(listen) => {
                    let exe = std::env::current_exe()?;
                    Some(holdmix::config::realtime(
                        &args,
                        listen,
                        cli.common.cache_dir.as_deref(),
                        &exe,
                    )?)
                }
                None => None,
            };
            holdmix::hub::run(
                &holdmix::hub::HubConfig {
                    ami: args.ami,
                    user: args.ami_user,
                    secret,
                    socket: args.socket,
                    key,
                    peer_uids: args.peer_uid,
                    max_clients: args.max_clients,
                    metrics: args.metrics,
                    control: args.control,
                    audio: match args.audio {
                        // One cache for every hosted call, for the hub's life.
                        true => Some(holdmix::hub::audio::Audio::spawn(
                            args.audio_max,
                            Box::leak(Box::new(cache)),
                            cli.common.log.as_deref(),
                        )?),
                        false => None,
                    },
                    hangups: match args.state_dir.as_deref() {
                        Some(d) if d == std::path::Path::new("none") => None,
                        dir => holdmix::hub::hangup::Hangups::spawn(dir)
                            .map_err(|e| tracing::warn!("{e}; checkpoints stay until the generators' sweep"))
                            .ok(),
                    },
                },
                realtime,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            holdmix::cmd::serve::serve(args, &cache)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Say(args) => {
            holdmix::cmd::say::say(&args, &cache)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let clean = holdmix::cmd::check::check(&args.playlists, args.quick, &cache.reading_whole())?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plan(args) => {
            let text = holdmix::cmd::plan::plan(&holdmix::cmd::plan::PlanOptions {
                playlist: args.playlist,
                date: args.date,
                plot: args.plot.map(|p| (p, args.plot_size.0, args.plot_size.1)),
            })?;
            use std::io::Write;
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            holdmix::cmd::report::report(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cache {
            command: CacheCommand::Warm { playlists, format },
        } => {
            let failures = holdmix::cmd::cache::warm(&playlists, &format, &cache.reading_whole())?;
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        // Printed above, before the cache.
        Command::Completions { .. } | Command::Man { .. } | Command::Ctl(_) => Ok(ExitCode::SUCCESS),
    }
}
