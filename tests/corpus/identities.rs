//! Hostile channel names (tests/corpus/identities): what `run --ami` sends
//! Asterisk carries the name on one line, so a line break in it can never
//! add a header or, after an empty line, an action of its own (an
//! Originate); the log keeps it on one line too; and the music goes on.

use super::{case_dir, cases, spawn_case, stream_then_hang_up, tail_rms, tone_playlist};
use crate::common::*;
use std::time::Duration;

/// What the generator may ask of Asterisk for its own call.
const OWN: [&str; 6] = ["Login", "Filter", "Getvar", "Setvar", "QueueStatus", "Logoff"];

#[test]
fn a_hostile_channel_name_never_sends_asterisk_an_action_of_its_own() {
    let tmp = tempdir();
    let p = tone_playlist(tmp.path());
    let all = cases("identities");
    let mut runs = Vec::new();
    for (i, case) in all.iter().enumerate() {
        let sub = case_dir(tmp.path(), i);
        let (port, server) = crate::ami::server::serve_script("pw", vec![vec![]]);
        let channel = case.input.clone().expect("input");
        let ami = format!("127.0.0.1:{port}");
        let args = ["--ami", &ami, "--channel", &channel];
        runs.push((
            spawn_case(tmp.path(), &sub, &p, &args, &[("HOLDMIX_AMI_SECRET", "pw")]),
            server,
        ));
    }
    // Two and a half seconds of each stream's own time (or its end).
    stream_then_hang_up(runs.iter_mut().map(|(c, _)| c), 320 * 125);
    for (i, (case, (mut c, server))) in all.iter().zip(runs).enumerate() {
        let what = format!("{:?}", case.covers);
        let (status, _) = wait_exit(&mut c.child, Duration::from_secs(10));
        assert!(status.success(), "{what}: {status:?}");
        let pcm = c.reader.join().expect("reader");
        let log = std::fs::read_to_string(tmp.path().join(format!("c{i}/run.log"))).unwrap_or_default();
        // The name is logged (identity lines): escaped, never a line of its own.
        super::callers::assert_clean_log(&log, &what);
        match case.outcome.as_str() {
            "accepted" => {
                assert!(pcm.len() >= 320 * 75, "{what}: only {} bytes", pcm.len());
                let level = tail_rms(&pcm, 0.5);
                assert!(level > 0.02, "{what}: the music stopped (rms {level})");
            }
            // Asterisk knows no such channel: the generator ends, as for a
            // call that is gone, having streamed until it was told.
            "exits" => {
                assert!(!pcm.is_empty(), "{what}: no audio");
                assert!(
                    log.contains("no such channel: the call is over"),
                    "{what}:\n{log}"
                );
            }
            other => panic!("{what}: outcome {other}"),
        }
        // The generator closed its connection: the server has all it got.
        let actions = server.join().expect("server");
        for a in &actions {
            let name = a.get("Action").unwrap_or("");
            assert!(
                OWN.contains(&name),
                "{what}: Asterisk was sent `{name}`: {actions:?}"
            );
        }
        let filter = actions
            .iter()
            .find(|a| a.get("Action") == Some("Filter"))
            .unwrap_or_else(|| panic!("{what}: no Filter: {actions:?}"));
        assert_eq!(filter.get("Filter"), Some(case.expect.as_str()), "{what}");
    }
}
