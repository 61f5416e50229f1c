//! What a call's checkpoints cost at its start and at its hangup while
//! other calls' checkpoints fill the directory (`cargo bench --bench
//! state`; results in `benches/README.md`): a process looks for its call's
//! newest checkpoint before its first frame, writes its own, and the hub
//! removes the call's files at its `Hangup`. A standby hub taking over a
//! thousand calls does the first for each of them at once.
//!
//! The directory is a temporary one on tmpfs (`/dev/shm`, as the default
//! state directory is) when it can be, else in the system's temporary
//! directory.

use divan::Bencher;
use holdmix::engine::snapshot::Snapshot;
use holdmix::state::StateDir;
use std::path::Path;

fn main() {
    divan::main();
}

/// A state directory holding `others` calls' checkpoints, one each (as a
/// hub of that many calls keeps), and the handles that keep them.
fn filled(root: &Path, others: usize) -> (StateDir, Vec<holdmix::state::Checkpoint>) {
    let sd = StateDir::open(Some(&root.join("calls"))).expect("a state directory");
    let kept = (0..others)
        .map(|i| {
            let mut w = sd.writer(&format!("1795000000.{i}")).expect("a checkpoint");
            w.write(&Snapshot::default());
            w
        })
        .collect();
    (sd, kept)
}

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new()
        .prefix("holdmix-bench-state")
        .tempdir_in(shm);
    b.or_else(|_| tempfile::Builder::new().prefix("holdmix-bench-state").tempdir())
        .expect("a temporary directory")
}

/// A call's start: the look for its checkpoint (one there, an earlier
/// process's), as `run` does before its first frame.
#[divan::bench(args = [0, 1000])]
fn load(bencher: Bencher, others: usize) {
    let tmp = scratch();
    let (sd, _kept) = filled(tmp.path(), others);
    let mut own = sd.writer("1796000000.1").expect("a checkpoint");
    own.write(&Snapshot {
        at_ms: 500,
        ..Snapshot::default()
    });
    bencher.bench_local(|| divan::black_box(sd.load("1796000000.1")));
}

/// A whole call's files: looked for, its own written, removed at its
/// hangup (the hub's `remove_call`).
#[divan::bench(args = [0, 1000])]
fn start_and_hangup(bencher: Bencher, others: usize) {
    let tmp = scratch();
    let (sd, _kept) = filled(tmp.path(), others);
    bencher.bench_local(|| {
        let found = sd.load("1796000000.2");
        let mut w = sd.writer("1796000000.2").expect("a checkpoint");
        w.write(&Snapshot::default());
        drop(w);
        divan::black_box((found, sd.remove_call("1796000000.2")))
    });
}

/// The hub's bound on the directory (once a minute, and with each sweep:
/// every file looked at, none removed here).
#[divan::bench(args = [1000])]
fn bound(bencher: Bencher, others: usize) {
    let tmp = scratch();
    let (sd, _kept) = filled(tmp.path(), others);
    bencher.bench_local(|| divan::black_box(sd.bound(holdmix::state::MAX_FILES)));
}
