//! `holdmix report DIR`: reads the timeline directory (and queue_log) with
//! [`crate::report`], prints the text or the JSON to stdout, and draws the
//! PNG when asked. Broken lines are in the report, not errors: the exit
//! status is 0 unless the directory, the queue_log or the PNG cannot be
//! opened or written.

use crate::cli::ReportArgs;
use crate::report::queue_log_db::Db;
use crate::report::{Options, QueueLogSource};
use anyhow::Result;

pub fn report(args: &ReportArgs) -> Result<()> {
    let opts = Options {
        dir: args.dir.clone(),
        queue_log: match (&args.queue_log, &args.queue_log_db) {
            (Some(file), _) => Some(QueueLogSource::File(file.clone())),
            (None, Some(url)) => Some(QueueLogSource::Db(Db {
                url: url.clone(),
                table: args.queue_log_table.clone(),
                password_file: args.queue_log_password_file.clone(),
            })),
            (None, None) => None,
        },
        from: args.from,
        to: args.to,
        by: args.by,
    };
    let r = crate::report::report(&opts)?;
    if r.broken.count > 0 {
        tracing::warn!(
            count = r.broken.count,
            "broken lines skipped (listed in the report)"
        );
    }
    if let Some(png) = &args.png {
        crate::plot::report::write_png(png, args.png_size.0, args.png_size.1, &r)?;
    }
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&r)?;
        s.push('\n');
        s
    } else {
        crate::report::text::render(&r)
    };
    super::stdout::write_all(out.as_bytes())?;
    Ok(())
}
