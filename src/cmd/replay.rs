//! What makes a simulated call (`render`, `play`) come out the same again:
//! its seed and the local time it starts at. Shown as the options that
//! repeat it, in the summary line and the plot's title.

use crate::cli::At;
use crate::scenario::zone::{self, Zone};
use chrono::{NaiveDateTime, SubsecRound};
use std::fmt;

/// `--at`'s format with seconds, which `--at` reads back.
const AT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    pub seed: u64,
    /// The local start in the playlist's zone, as `--at` takes it.
    pub at: NaiveDateTime,
}

impl Replay {
    /// With no `at`, now in `zone` to the whole second: the call then starts
    /// at exactly the time shown, so giving it back repeats the call. A
    /// time of day alone is today's in `zone` as well.
    pub fn new(seed: u64, at: Option<At>, zone: Option<&Zone>) -> Self {
        let now = || zone::local(zone, chrono::Utc::now());
        let at = match at {
            Some(At::Date(at)) => at,
            Some(At::Today(time)) => now().date().and_time(time),
            None => now().trunc_subsecs(0),
        };
        Replay { seed, at }
    }
}

/// `--seed N --at TIME`, ready to paste after the same command.
impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--seed {} --at {}", self.seed, self.at.format(AT_FORMAT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, Seed};
    use chrono::Timelike;
    use clap::Parser;

    fn render_args(extra: &[&str]) -> crate::cli::RenderArgs {
        let argv = ["holdmix", "render", "p.toml", "-o", "out.wav"]
            .into_iter()
            .chain(extra.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Render(args) => args,
            other => panic!("{other:?}"),
        }
    }

    /// What the summary and the title show is what the command line takes
    /// back: the same seed and the same start, to the second.
    #[test]
    fn shown_options_parse_back_to_the_same_call() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(9, 30, 7)
            .unwrap();
        let replay = Replay::new(u64::MAX, Some(At::Date(at)), None);
        let shown = replay.to_string();
        assert_eq!(shown, "--seed 18446744073709551615 --at 2026-11-23T09:30:07");
        let words: Vec<&str> = shown.split(' ').collect();
        let args = render_args(&words);
        assert_eq!(args.seed, Seed::Fixed(replay.seed));
        assert_eq!(args.at, Some(At::Date(at)));
    }

    #[test]
    fn now_is_taken_to_the_second() {
        let replay = Replay::new(5, None, None);
        assert_eq!(replay.at.nanosecond(), 0);
        let args = render_args(&replay.to_string().split(' ').collect::<Vec<_>>());
        assert_eq!(args.at, Some(At::Date(replay.at)));
    }

    /// `--at 09:30` is today in the playlist's zone, as the default now is:
    /// on either side of the date line at least one of them is not the
    /// host's today.
    #[test]
    fn a_time_alone_is_today_in_the_playlists_zone() {
        let args = render_args(&["--at", "09:30"]);
        let time = chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap();
        assert_eq!(args.at, Some(At::Today(time)));
        for name in ["Pacific/Kiritimati", "Pacific/Pago_Pago"] {
            let zone = Zone::named(name).unwrap();
            let before = zone::local(Some(&zone), chrono::Utc::now()).date();
            let replay = Replay::new(1, args.at, Some(&zone));
            let after = zone::local(Some(&zone), chrono::Utc::now()).date();
            assert_eq!(replay.at.time(), time);
            assert!(
                replay.at.date() == before || replay.at.date() == after,
                "{name}: {replay}"
            );
        }
    }

    #[test]
    fn render_and_play_default_to_one_fixed_seed() {
        assert_eq!(render_args(&[]).seed, Seed::Fixed(1));
        assert_eq!(render_args(&["--seed", "random"]).seed, Seed::Random);
        assert_eq!(render_args(&["--seed", "42"]).seed, Seed::Fixed(42));
        let play = Cli::try_parse_from(["holdmix", "play", "p.toml"])
            .unwrap()
            .command;
        assert!(
            matches!(play, Command::Play(ref a) if a.seed == Seed::Fixed(1)),
            "{play:?}"
        );
        assert!(Cli::try_parse_from(["holdmix", "render", "p.toml", "-o", "x", "--seed", "-1"]).is_err());
        assert!(Cli::try_parse_from(["holdmix", "render", "p.toml", "-o", "x", "--seed", "soon"]).is_err());
    }
}
