//! The hold plan played by the engine (see `plan.rs`): the same on the
//! quiet path as on the full one, and resumed from a snapshot.

use super::super::tests::demo_engine_with;
use super::super::{Engine, Event, EventKind, Request};
use crate::webhook::{Item, Plan, PlanConfig, Say, SayPart};
use std::time::Duration;

/// Answers in turn: a plan of every kind of item with keys, a failure,
/// a plan that only re-asks, then the first again.
fn answers() -> Vec<crate::webhook::PlanAnswer> {
    let full = Plan {
        items: vec![
            Item::Say(Say::Position),
            Item::Pause(Duration::from_millis(2500)),
            Item::Play("music-changed".into()),
            Item::Music("next".into()),
            Item::Say(Say::Parts(vec![
                SayPart::Prompt("in-queue".into()),
                SayPart::Value {
                    say: "number".into(),
                    value: "position".into(),
                },
            ])),
            Item::Pause(Duration::from_secs(4)),
        ],
        keys: vec![('7', "ask".into()), ('8', "say-wait".into())],
        reask: None,
    };
    let reask = Plan {
        reask: Some(Duration::from_secs(9)),
        ..Plan::default()
    };
    vec![Ok(full), Err("the plan server answered 500".into()), Ok(reask)]
}

/// Renders `secs` with the demo playlist and a plan, answering each ask
/// at once; the samples (as bits), the timeline and the asks' triggers.
fn run(full_path_only: bool, secs: u64) -> (Vec<u32>, Vec<super::super::timeline::Entry>, Vec<&'static str>) {
    let mut e: Engine = demo_engine_with(full_path_only, |s| {
        s.plan = Some(PlanConfig::new("http://127.0.0.1:9/plan"));
    });
    // Pushed as they come, like a driver does (the event queue is in order).
    let mut script = vec![
        (1, EventKind::Position(6)),
        (2, EventKind::Holdtime(Duration::from_secs(300))),
        (21, EventKind::Dtmf('7')),
        (40, EventKind::Dtmf('8')),
        (55, EventKind::Position(3)),
        (70, EventKind::Dtmf('7')),
    ]
    .into_iter()
    .peekable();
    let (mut out, mut samples, mut timeline, mut asks) =
        (vec![0.0f32; e.frame_len()], Vec::new(), Vec::new(), Vec::new());
    let replies = answers();
    for _ in 0..secs * 50 {
        while let Some((_, kind)) = script.next_if(|(s, _)| Duration::from_secs(*s) <= e.now()) {
            let at = e.now();
            e.push(Event { at, kind });
        }
        e.render_frame(&mut out);
        samples.extend(out.iter().map(|s| s.to_bits()));
        timeline.extend(e.drain_timeline());
        for r in e.take_requests().collect::<Vec<_>>() {
            if let Request::Plan(ask) = r {
                let answer = replies[asks.len() % replies.len()].clone();
                asks.push(ask.trigger.name());
                let at = e.now();
                e.push(Event {
                    at,
                    kind: EventKind::Plan(answer),
                });
            }
        }
    }
    (samples, timeline, asks)
}

#[test]
fn a_plan_sounds_the_same_on_the_quiet_path() {
    let (full, quiet) = (run(true, 100), run(false, 100));
    assert_eq!(full.2, quiet.2);
    assert_eq!(full.1, quiet.1);
    let first_diff = full.0.iter().zip(&quiet.0).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "samples differ");
    // Every trigger came: the start, the items' end, a retry after the
    // failure, the re-ask, a key and a position change.
    let reqs: Vec<_> = full
        .1
        .iter()
        .filter(|e| {
            matches!(
                &e.event,
                super::super::timeline::TimelineEvent::Request { .. }
                    | super::super::timeline::TimelineEvent::Plan { .. }
                    | super::super::timeline::TimelineEvent::Dtmf { .. }
            )
        })
        .collect();
    for t in ["start", "done", "retry", "reask", "key", "position"] {
        assert!(full.2.contains(&t), "{t}: {:?} {reqs:?}", full.2);
    }
    let plan_prompts = full
        .1
        .iter()
        .filter(|e| matches!(&e.event, super::super::timeline::TimelineEvent::PromptStart { queue, .. } if &**queue == "plan"))
        .count();
    assert!(plan_prompts >= 4, "{plan_prompts} plan prompts");
}

#[test]
fn a_snapshot_goes_on_with_the_plan() {
    let mut e: Engine = demo_engine_with(false, |s| {
        s.plan = Some(PlanConfig::new("http://127.0.0.1:9/plan"));
    });
    let mut out = vec![0.0f32; e.frame_len()];
    let mut asked = 0;
    while e.now() < Duration::from_secs(12) {
        e.render_frame(&mut out);
        e.drain_timeline().for_each(drop);
        for r in e.take_requests().collect::<Vec<_>>() {
            if let Request::Plan(_) = r {
                asked += 1;
                let plan = Plan {
                    items: vec![
                        Item::Pause(Duration::from_secs(600)),
                        Item::Play("music-changed".into()),
                    ],
                    keys: vec![('7', "ask".into())],
                    reask: None,
                };
                let at = e.now();
                e.push(Event {
                    at,
                    kind: EventKind::Plan(Ok(plan)),
                });
            }
        }
    }
    assert_eq!(asked, 1);
    let snap = e.snapshot();
    let at = snap.plan.clone().expect("plan in the snapshot");
    assert_eq!(at.items, vec![Item::Play("music-changed".into())]);
    assert!(at.until_ms.is_some_and(|t| t > 600_000), "{at:?}");
    assert_eq!(at.next_ask_ms, None);
    // Through JSON, as the checkpoint file keeps it.
    let snap: crate::engine::snapshot::Snapshot =
        serde_json::from_str(&serde_json::to_string(&snap).unwrap()).unwrap();
    let now_ms = snap.wall_start_ms + snap.at_ms as i64 + 500;
    let scenario = {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playlists/demo.toml");
        let mut s = crate::scenario::load_valid(&path).unwrap();
        s.plan = Some(PlanConfig::new("http://127.0.0.1:9/plan"));
        s
    };
    let mut r = Engine::resume(&scenario, 8000, &snap, now_ms);
    let mut asks = 0;
    for _ in 0..250 {
        r.render_frame(&mut out);
        asks += r
            .take_requests()
            .filter(|q| matches!(q, Request::Plan(_)))
            .count();
    }
    assert_eq!(asks, 0, "the resumed call asked from the start");
    assert_eq!(r.plan.snapshot(), Some(at));
}
