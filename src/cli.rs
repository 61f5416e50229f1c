//! The command line as typed (clap derive). Validation only, no I/O and no
//! environment: `config` resolves these into what the commands run with.

use crate::audio::format::Format;
use crate::engine::Event;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "holdmix",
    version,
    about = "Per-call programmable music on hold for Asterisk"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Directory of the decoded-audio cache [default: the first usable of $XDG_CACHE_HOME/holdmix, /var/cache/holdmix, $HOME/.cache/holdmix]
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Write logs to FILE instead of stderr (reopened at SIGUSR1, for
    /// logrotate), or `journald` to the systemd journal.
    #[arg(short = 'L', long, global = true, value_name = "FILE|journald")]
    pub log: Option<PathBuf>,
    /// More log detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors in the log.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream hold music to stdout in real time (what Asterisk runs).
    Run(RunArgs),
    /// Render a simulated call to a file, faster than real time.
    Render(RenderArgs),
    /// Play a call on the speakers, live: type keys (then Enter) as the
    /// caller's DTMF, `p N` for a queue position, `s 2m` to skip ahead, `q`
    /// to quit (needs the `speaker` build feature).
    Play(PlayArgs),
    /// Say a value (number, ordinal, money, digits, duration) through a sound map.
    Say(SayArgs),
    /// Hold one AMI session for the host and hand each generator its call's events.
    Hub(HubArgs),
    /// Serve many calls over Asterisk's AudioSocket (`AudioSocket(uuid,host:port)`,
    /// `Dial(AudioSocket/...)`): one process, a stream per call, keys in-band.
    Serve(ServeArgs),
    /// Control a held call: status, position, say-position, play, music,
    /// dtmf, debug, stop. Exit 0 ok, 1 an error answer, 2 no answer or usage.
    Ctl(CtlArgs),
    /// Check playlists: every problem with file:line:column and a hint.
    /// Exit status 0 when clean (warnings allowed), 1 with errors.
    Check(CheckArgs),
    /// Show what a caller would hear through one day, window by window:
    /// music, welcome, advice groups, repeats and keys, with overlaps and gaps.
    Plan(PlanArgs),
    /// Report what callers heard from a timeline directory (`run`/`hub
    /// --timeline-dir`), with Asterisk's queue_log: calls, hold times, keys,
    /// prompts, and what abandoning callers heard (docs/report.md).
    Report(ReportArgs),
    /// Manage the decoded-audio cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: crate::cmd::completions::Shell,
    },
    /// Print the manual page (roff): holdmix's, or a subcommand's (`man run`).
    Man {
        /// The subcommand whose page to print, e.g. `run` or `cache warm`.
        command: Vec<String>,
        /// Write every page (holdmix.1, holdmix-run.1, …) into DIR instead.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    // The short options (-p -T -H -t -l -u, -C -L) are for the hub's
    // realtime rows: Asterisk keeps 255 bytes of a row's command line.
    /// The playlist to play (TOML).
    #[arg(short, long, value_name = "FILE")]
    pub playlist: Option<PathBuf>,
    /// Output format; must match the class's `format=` in musiconhold.conf.
    #[arg(long, value_enum, default_value = "slin")]
    pub format: Format,
    /// Read events (`dtmf 3`, `position 4`, `hangup`), one per line, from FILE or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Write the timeline (JSON lines) to FILE.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// Append the call's timeline to DIR/<YYYY-MM-DD>/<uniqueid>.jsonl (the
    /// UTC day the call started); bounded by --timeline-max and --timeline-days.
    #[arg(short = 'T', long, value_name = "DIR", conflicts_with = "timeline")]
    pub timeline_dir: Option<PathBuf>,
    /// Bytes a call's file in --timeline-dir may reach; then one `truncated` line.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub timeline_max: u64,
    /// Days the files in --timeline-dir are kept.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub timeline_days: u32,
    /// Audio kept waiting in the pipe, e.g. 80ms [default: learned from the reader].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub lead: Option<Duration>,
    #[command(flatten)]
    pub identity: Identity,
    /// Follow this call on Asterisk's manager interface, HOST:PORT (e.g. 127.0.0.1:5038).
    #[arg(long, value_name = "HOST:PORT")]
    pub ami: Option<String>,
    /// The manager.conf user (needs `read = call,dtmf,agent,user`).
    #[arg(long, value_name = "USER", default_value = "holdmix")]
    pub ami_user: String,
    /// File whose first line is the AMI secret [default: $HOLDMIX_AMI_SECRET].
    /// Never give the secret itself on the command line: `ps` shows it.
    #[arg(long, value_name = "FILE")]
    pub ami_secret_file: Option<PathBuf>,
    /// Exit (status 0) when nobody has read the stream for this long: a
    /// generator Asterisk lost. `0` turns it off.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub orphan_after: Duration,
    /// Where callers are remembered between calls (music, where they left
    /// off, advices heard): `sqlite:PATH`, a path, `mysql://user@host:port/db`,
    /// or `none` [default: store.sqlite3 in the first usable of
    /// $XDG_STATE_HOME/holdmix, /var/lib/holdmix, $HOME/.local/state/holdmix].
    /// Used when the caller's number is known.
    #[arg(long, value_name = "SPEC")]
    pub store: Option<String>,
    /// File whose first line is the MySQL password [default: $HOLDMIX_STORE_PASSWORD].
    #[arg(long, value_name = "FILE")]
    pub store_password_file: Option<PathBuf>,
    /// How long the start waits for the store before going on with defaults.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "300ms")]
    pub store_timeout: Duration,
    /// Advices heard on a call-back within this window are not repeated.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "24h")]
    pub remember_advices: Duration,
    /// Where call checkpoints live, so a respawned generator resumes the call
    /// [default: $XDG_RUNTIME_DIR/holdmix/calls, else /dev/shm/holdmix-UID/calls].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Take the call's AMI events from a `holdmix hub` at this socket
    /// (falls back to --ami when no hub answers).
    #[arg(short = 'H', long, value_name = "PATH")]
    pub hub: Option<PathBuf>,
    /// This call's token for the hub, as the hub's realtime row gives it
    /// (a per-call capability, not a secret of the host's).
    #[arg(short = 't', long, value_name = "HEX", requires = "hub")]
    pub hub_token: Option<String>,
    /// A second hub with audio (`hub --audio`, the first's --key-file):
    /// the call is handed to it when the first is absent, refuses it, dies
    /// or stops writing, before the call streams on its own (see
    /// docs/hub-audio.md, "A standby hub").
    #[arg(short = 'S', long, value_name = "PATH", requires = "hub")]
    pub standby_hub: Option<PathBuf>,
    /// The language the call's route chooses, when the playlist offers
    /// languages: a code such as `en` or `pt-BR`. The caller's own choice
    /// (a key, remembered) comes first; the channel's language and the
    /// playlist's default after it. A bad code is logged and ignored.
    #[arg(short, long, value_name = "CODE")]
    pub language: Option<String>,
    /// A control socket for this call (mode 0600, removed at exit):
    /// `holdmix ctl --control PATH status|…` (see docs/control.md).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Never hand the call over to the hub's audio (docs/hub-audio.md):
    /// the shim's flag when it runs a call itself.
    #[arg(long, hide = true)]
    pub standalone: bool,
    /// The call was taken back from a hub that stopped writing it (hung,
    /// its socket still accepting): the start does not wait for that
    /// hub's greeting, which would not come, and follows it once it
    /// answers. The shim's flag when it runs such a call itself.
    #[arg(long, hide = true)]
    pub hub_hung: bool,
    /// The name a hub that hosted the call kept its checkpoints under
    /// (`call-<digest>` of the call's key, told at the hand-over): a
    /// take-over resumes from them when no hub greets it with the key.
    /// The shim's and a standby hand-over's flag.
    #[arg(long, hide = true, value_name = "NAME", value_parser = parse_checkpoints_name)]
    pub hub_checkpoints: Option<String>,
}

#[derive(Debug, Args)]
pub struct HubArgs {
    /// Asterisk's manager interface, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5038")]
    pub ami: String,
    #[arg(long, value_name = "USER", default_value = "holdmix")]
    pub ami_user: String,
    /// File whose first line is the AMI secret [default: $HOLDMIX_AMI_SECRET].
    #[arg(long, value_name = "FILE")]
    pub ami_secret_file: Option<PathBuf>,
    /// Where generators connect (`run --hub PATH`); created mode 0660.
    #[arg(long, value_name = "PATH", default_value = "/run/holdmix/hub.sock")]
    pub socket: PathBuf,
    /// Answer Asterisk's realtime class lookups (res_config_curl) here,
    /// e.g. 127.0.0.1:8765: each `holdmix-<uniqueid>` (or
    /// `holdmix-<route>-<uniqueid>`) class gets a row that starts a
    /// generator for that call.
    #[arg(long, value_name = "HOST:PORT")]
    pub realtime: Option<String>,
    /// The path of the extconfig.conf URL (`musiconhold => curl,http://HOST:PORT/moh`).
    #[arg(long, value_name = "PATH", default_value = "/moh")]
    pub realtime_path: String,
    /// Class names served: this prefix and a Uniqueid.
    #[arg(long, value_name = "PREFIX", default_value = "holdmix-")]
    pub class_prefix: String,
    /// The playlist the served generators play (one default route).
    #[arg(long, value_name = "FILE")]
    pub playlist: Option<PathBuf>,
    /// A routes file (TOML): a playlist per queue, tenant or class name,
    /// reloaded when it changes (see docs/asterisk.md).
    #[arg(long, value_name = "FILE", conflicts_with = "playlist")]
    pub routes: Option<PathBuf>,
    /// The served classes' format (the row's `format=`, the generator's --format).
    #[arg(long, value_enum, default_value = "slin")]
    pub format: Format,
    /// Where the served generators log (they have no terminal).
    #[arg(long, value_name = "FILE")]
    pub generator_log: Option<PathBuf>,
    /// The served generators write each call's timeline here (`run
    /// --timeline-dir`; checked at start).
    #[arg(long, value_name = "DIR", requires = "realtime")]
    pub timeline_dir: Option<PathBuf>,
    /// The key of the calls' hub tokens (created mode 0600 if absent)
    /// [default: beside --socket, `hub.key`].
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Serve generators running as this uid too (besides the hub's own);
    /// repeatable.
    #[arg(long, value_name = "UID")]
    pub peer_uid: Vec<u32>,
    /// Generators connected at once; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_clients: usize,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics, e.g.
    /// 127.0.0.1:9464 (see docs/metrics.md); the generators report theirs
    /// through the socket.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
    /// The generators' call checkpoints, removed at each call's `Hangup`
    /// [default: theirs, $XDG_RUNTIME_DIR/holdmix/calls, else
    /// /dev/shm/holdmix-UID/calls]; `none` leaves them to the generators' sweep.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// A control socket for every call served (mode 0600): `holdmix ctl
    /// --hub PATH list|CALL COMMAND` (see docs/control.md).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Stream the calls whose generators hand their pipe over (`run
    /// --hub`): one process and one timer for every held call (see
    /// docs/hub-audio.md).
    #[arg(long)]
    pub audio: bool,
    /// Calls streamed at once with --audio; more stream on their own.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub audio_max: usize,
    /// Another hub's socket (with --audio and this hub's --key-file): the
    /// realtime rows name it as their calls' standby hub (`run -S`).
    #[arg(long, value_name = "PATH", requires = "realtime")]
    pub standby: Option<PathBuf>,
}

/// `holdmix ctl`: one command to a call's control socket or the hub's.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("socket").required(true).args(["control", "hub", "serve"]))]
pub struct CtlArgs {
    /// A call's own socket (`run --control PATH`).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// The hub's control socket (`hub --control PATH`): `list`, or `CALL
    /// COMMAND` with CALL a Uniqueid or channel name.
    #[arg(long, value_name = "PATH")]
    pub hub: Option<PathBuf>,
    /// An AudioSocket server's control socket (`serve --control PATH`):
    /// `list`, or `UUID COMMAND`.
    #[arg(long, value_name = "PATH")]
    pub serve: Option<PathBuf>,
    /// The command: status, position N, say-position [N], play FILE,
    /// music next|previous|NAME, dtmf D, debug on|off, stop, list.
    #[arg(required = true, num_args = 1.., value_name = "WORDS")]
    pub words: Vec<String>,
}

/// Who the call is; every log line carries it.
#[derive(Debug, Args, Default, Clone)]
pub struct Identity {
    /// The call's Asterisk Uniqueid [fallback: $UNIQUEID, as the old hack
    /// used; a value from the environment is not trusted to be this call's].
    #[arg(short, long, value_name = "ID")]
    pub uniqueid: Option<String>,
    /// The caller's number [fallback: $PHONE]. With --ami it is confirmed with
    /// Asterisk before anything personal is said.
    #[arg(long, value_name = "NUMBER")]
    pub caller: Option<String>,
    /// The caller's channel name [fallback: $CHANNEL].
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// The queue the caller waits in.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
    /// What the call is known by across channels (e.g. its SIP Call-ID):
    /// its checkpoints are kept under this key, so the call held again on
    /// another channel goes on where it was. Through a hub, the dialplan's
    /// `UserEvent(HoldmixCall,CallKey: ...)` gives it instead.
    #[arg(long, value_name = "KEY", value_parser = parse_call_key)]
    pub call_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The playlist to render (TOML).
    pub playlist: PathBuf,
    /// Length of the simulated call, e.g. 90s or 2m.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub duration: Duration,
    /// Output file: WAV when it ends in .wav, raw audio otherwise; `-` for stdout.
    #[arg(short, long, value_name = "FILE", required_unless_present = "mohqueue")]
    pub output: Option<PathBuf>,
    /// The output's encoding. Not with --mohqueue, which writes every
    /// format mohqueue offers (one file each): a --format there would be
    /// silently ignored, so it is refused.
    #[arg(long, value_enum, default_value = "slin", conflicts_with = "mohqueue")]
    pub format: Format,
    /// A scripted event TIME:EVENT, e.g. 25s:dtmf:3 or 80s:hangup (repeatable).
    #[arg(long = "event", value_name = "TIME:EVENT", value_parser = parse_event)]
    pub events: Vec<Event>,
    /// Write the timeline (JSON lines) to FILE.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// Local time the simulated call starts, in the playlist's timezone, for
    /// time-of-day windows: 2026-11-23T09:30, or 09:30 (today there)
    /// [default: now, to the second; the summary line and the plot's title
    /// name the time used].
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<At>,
    /// Seed for every random order (music, advice groups): the same command
    /// line, seed and --at give the same file and plot. `random` draws one,
    /// which the summary line names.
    #[arg(long, value_name = "N|random", default_value = DEFAULT_SEED, value_parser = parse_seed)]
    pub seed: Seed,
    /// Draw the call as a PNG: output level, music, ducks, prompts and keys.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Size of the --plot picture in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1600x600", value_parser = parse_size)]
    pub plot_size: (u32, u32),
    /// The simulated caller's number.
    #[arg(long, value_name = "NUMBER")]
    pub caller: Option<String>,
    /// Write Kamailio mohqueue's looping files (mohfile.0, .8, .9, .10,
    /// .11) into DIR instead of --output: --duration is the loop's length.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["output", "plot"])]
    pub mohqueue: Option<PathBuf>,
    /// With --mohqueue: one subdirectory per route of this routes file,
    /// each from its route's playlist (PLAYLIST is then not read).
    #[arg(long, value_name = "FILE", requires = "mohqueue")]
    pub routes: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The playlist every call plays (TOML).
    pub playlist: PathBuf,
    /// Listen for AudioSocket connections here, HOST:PORT (e.g. 127.0.0.1:9092;
    /// port 0 takes any, and the log says which).
    #[arg(long, value_name = "HOST:PORT")]
    pub audiosocket: String,
    /// Calls served at once; the next connection gets a hangup packet (logged).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_calls: usize,
    /// Keep each call's checkpoint here, keyed by its UUID, so a call that
    /// connects again with the same UUID goes on where it was [default: none].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seed for every call's random orders (a call then sounds as `render --seed`)
    /// [default: a new one per call].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// The language every call starts in, when the playlist offers languages.
    #[arg(short, long, value_name = "CODE")]
    pub language: Option<String>,
    /// How long a new connection may take to send its UUID packet.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub uuid_wait: Duration,
    /// A control socket for every call, by UUID (mode 0600): `holdmix ctl
    /// --serve PATH UUID COMMAND`; a command for a UUID not connected yet
    /// waits 60 s for it (the dialplan's position before `AudioSocket()`).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The playlist to play (TOML).
    pub playlist: PathBuf,
    /// The output device (`--device list` lists them) [default: the system's].
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
    /// Telephone quality to hear: slin (8 kHz) or slin16 (16 kHz).
    #[arg(long, value_enum, default_value = "slin")]
    pub format: Format,
    /// Stop after this much of the call [default: until `q` or the call ends].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Start this far into the call (what comes before is rendered unheard).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub skip: Duration,
    /// Local time the call starts, in the playlist's timezone, for
    /// time-of-day windows: 2026-11-23T09:30, or 09:30 (today there)
    /// [default: now, to the second; logged at the start].
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<At>,
    /// Seed for every random order, as `render --seed`: the same seed and
    /// --at sound as `render` of them. `random` draws one, logged at the start.
    #[arg(long, value_name = "N|random", default_value = DEFAULT_SEED, value_parser = parse_seed)]
    pub seed: Seed,
    /// The simulated caller's number, for billing lookups.
    #[arg(long, value_name = "NUMBER")]
    pub caller: Option<String>,
    /// Write the timeline (JSON lines) to FILE.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SayArgs {
    /// number, ordinal, money, digits or duration.
    #[arg(value_parser = parse_kind)]
    pub kind: crate::speech::Kind,
    /// The value, e.g. 1234.56 (money), 200045 (digits), 90s (duration).
    #[arg(allow_hyphen_values = true)]
    pub value: String,
    /// Language: en or ru.
    #[arg(long, default_value = "en", value_parser = parse_lang)]
    pub lang: crate::speech::Lang,
    /// Gender the number or ordinal agrees with (Russian): m, f or n.
    #[arg(long, default_value = "m", value_parser = parse_gender)]
    pub gender: crate::speech::Gender,
    /// Sound map of the recordings [default: sample-audio/words/LANG/map.toml,
    /// else /usr/share/holdmix/words/LANG/map.toml (the package's)].
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Print the recordings, one per line, instead of the audio.
    #[arg(long)]
    pub list: bool,
    /// Where to write the audio: a .wav file, a raw file, or stdout (the default).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "slin")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Playlist file(s) to check.
    #[arg(required = true)]
    pub playlists: Vec<PathBuf>,
    /// Skip decoding the audio files (faster; corrupt files go unnoticed).
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The playlist to plan.
    pub playlist: PathBuf,
    /// The day, e.g. 2026-12-31 (a local date in the playlist's time zone).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: chrono::NaiveDate,
    /// Draw the day as a PNG: one lane per section over the 24 hours.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Size of the --plot picture in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1600x500", value_parser = parse_size)]
    pub plot_size: (u32, u32),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The timeline directory (`DIR/<YYYY-MM-DD>/<uniqueid>.jsonl`).
    pub dir: PathBuf,
    /// Asterisk's queue_log file (answered or abandoned, and the queue).
    #[arg(long, value_name = "FILE")]
    pub queue_log: Option<PathBuf>,
    /// Or Asterisk's realtime queue_log table: mysql://user@host:port/db
    /// (no password in it).
    #[arg(long, value_name = "URL", conflicts_with = "queue_log")]
    pub queue_log_db: Option<String>,
    /// The realtime table's name.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "queue_log",
        requires = "queue_log_db"
    )]
    pub queue_log_table: String,
    /// File whose first line is the --queue-log-db password
    /// [default: $HOLDMIX_QUEUE_LOG_PASSWORD].
    #[arg(long, value_name = "FILE", requires = "queue_log_db")]
    pub queue_log_password_file: Option<PathBuf>,
    /// First day (UTC) reported.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub from: Option<chrono::NaiveDate>,
    /// Last day (UTC) reported.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub to: Option<chrono::NaiveDate>,
    /// Print JSON (schema `holdmix-report/1`, docs/report.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Draw the report as a PNG: hold times, outcomes per group, keys and
    /// what abandoning callers heard.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Size of the --png picture in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1600x1000", value_parser = parse_size)]
    pub png_size: (u32, u32),
    /// Split the calls per day, per queue (from queue_log) or per route
    /// (the hub's, from its `--timeline-dir` rows).
    #[arg(long, value_enum, default_value = "day")]
    pub by: crate::report::By,
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?}: write a date as 2026-12-31"))
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Decode every sound a playlist uses into the cache.
    Warm {
        /// The playlist(s) whose sounds to decode.
        #[arg(required = true)]
        playlists: Vec<PathBuf>,
        /// Output format(s) to prepare (their rate decides the cache entry).
        #[arg(long, value_enum, default_value = "slin")]
        format: Vec<Format>,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::util::duration::parse(s).map_err(|e| format!("{e:#}"))
}

/// `--at`: a local time in the playlist's zone, with its date or today's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Date(chrono::NaiveDateTime),
    /// A time of day alone: today, as the playlist's zone has it (the
    /// default "now" is taken there too), not the host's.
    Today(chrono::NaiveTime),
}

fn parse_at(s: &str) -> Result<At, String> {
    let t = s.trim();
    for f in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Ok(At::Date(d));
        }
    }
    for f in ["%H:%M", "%H:%M:%S"] {
        if let Ok(time) = chrono::NaiveTime::parse_from_str(t, f) {
            return Ok(At::Today(time));
        }
    }
    Err(format!("{s:?}: write a local time as 2026-11-23T09:30 or 09:30"))
}

/// `--seed` of the simulated calls (`render`, `play`). Live calls (`run`,
/// `serve`, the hub's) draw their own unless given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    Fixed(u64),
    /// Drawn when the call starts.
    Random,
}

/// A preview is repeatable by default: the same command, the same call.
pub const DEFAULT_SEED: &str = "1";

impl Seed {
    pub fn resolve(self) -> u64 {
        match self {
            Seed::Fixed(n) => n,
            Seed::Random => fastrand::u64(..),
        }
    }
}

fn parse_seed(s: &str) -> Result<Seed, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("random") {
        return Ok(Seed::Random);
    }
    s.parse::<u64>().map(Seed::Fixed).map_err(|_| {
        format!(
            "{s:?}: a seed is a whole number from 0 to {}, or `random`",
            u64::MAX
        )
    })
}

fn parse_kind(s: &str) -> Result<crate::speech::Kind, String> {
    crate::speech::Kind::parse(s)
        .ok_or_else(|| format!("{s:?}: one of number, ordinal, money, digits, duration"))
}

fn parse_gender(s: &str) -> Result<crate::speech::Gender, String> {
    crate::speech::Gender::parse(s).ok_or_else(|| format!("{s:?}: m, f or n (masculine, feminine, neuter)"))
}

fn parse_lang(s: &str) -> Result<crate::speech::Lang, String> {
    crate::speech::Lang::parse(s).ok_or_else(|| format!("{s:?}: en or ru"))
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?}: write WIDTHxHEIGHT, e.g. 1600x600"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("{s:?}: {v:?} is not a number of pixels"))
    };
    let (w, h) = (n(w)?, n(h)?);
    crate::plot::check_size(w, h).map_err(|e| format!("{e}"))?;
    Ok((w, h))
}

fn parse_event(s: &str) -> Result<Event, String> {
    Event::parse_scripted(s).map_err(|e| format!("{e:#}"))
}

/// `--hub-checkpoints`: a name `call-<32 hex digits>`, never a path.
fn parse_checkpoints_name(s: &str) -> Result<String, String> {
    if crate::run::checkpoint::is_call_file_name(s) {
        Ok(s.to_string())
    } else {
        Err("a hub's checkpoints name is call- and 32 hex digits".into())
    }
}

/// A call key: any text a dialplan has (a Call-ID, a header), but not
/// empty, not huge and without control characters (it may be logged as a
/// digest and is hashed into a file name, never used as one).
pub fn parse_call_key(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > crate::config::CALL_KEY_LEN || s.chars().any(char::is_control) {
        return Err(format!(
            "a call key is 1 to {} characters without control characters",
            crate::config::CALL_KEY_LEN
        ));
    }
    Ok(s.to_string())
}
