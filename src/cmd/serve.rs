//! `holdmix serve`: the arguments as typed into a [`ServeConfig`], then
//! the AudioSocket server ([`crate::serve`]) until the process is stopped.

use crate::audio::cache::Cache;
use crate::cli::ServeArgs;
use crate::serve::ServeConfig;

pub fn serve(args: ServeArgs, cache: &Cache) -> anyhow::Result<()> {
    let cfg = ServeConfig {
        playlist: args.playlist,
        listen: args.audiosocket,
        max_calls: args.max_calls,
        state_dir: args.state_dir,
        seed: args.seed,
        language: args.language,
        uuid_wait: args.uuid_wait,
        control: args.control,
    };
    crate::serve::serve(&cfg, cache)
}
