//! `holdmix serve --audiosocket HOST:PORT`: one process streams the hold
//! experience to many calls over Asterisk's AudioSocket protocol
//! (`AudioSocket(uuid,host:port)` and `Dial(AudioSocket/…)`), the media
//! path for set-ups where a proxy (OpenSIPS call_center, Kamailio) sends a
//! queued call to Asterisk only for its media.
//!
//! The playlist and its sounds are loaded once; each connection gets a
//! thread of its own with a small stack ([`call`]: the UUID, the engine,
//! resumed by UUID from a checkpoint when a state directory is given; then
//! [`stream`]: the frames on the real clock, the caller's keys in-band).
//! The [`codec`] frames the bytes; [`Calls`] is the registry of live calls
//! through which anything else in the process reaches one by UUID.

mod call;
mod calls;
pub mod codec;
mod control;
mod sounds;
mod stream;

pub use calls::{Calls, Member, PRESET_LIMIT, PRESET_TTL};

use crate::audio::cache::Cache;
use crate::scenario::Scenario;
use crate::state::StateDir;
use crate::util::ratelimit::{Limiter, WINDOW};
use anyhow::{Context, Result};
use sounds::Sounds;
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A call thread's stack: the engine lives on the heap; measured, a
/// debug build's deepest frame path stays well inside this.
const CALL_STACK: usize = 512 * 1024;
/// A call's checkpoint is kept this long after its connection ends, for
/// a reconnect (the same as a respawned generator's limit).
const KEEP_ENDED: Duration = Duration::from_secs(3600);
/// Ended calls remembered for that clean-up, at most.
const ENDED_LIMIT: usize = crate::state::MAX_FILES;

/// What `serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub playlist: PathBuf,
    /// Where to listen, HOST:PORT (port 0: any; the log says which).
    pub listen: String,
    /// Calls served at once; the next connection is refused.
    pub max_calls: usize,
    /// Checkpoints keyed by UUID go here; none without it.
    pub state_dir: Option<PathBuf>,
    /// Every call's random orders from this seed (else drawn per call).
    pub seed: Option<u64>,
    /// The route's language for every call.
    pub language: Option<String>,
    /// How long a new connection may take to send its UUID.
    pub uuid_wait: Duration,
    /// The control socket for every call, by UUID (mode 0600).
    pub control: Option<PathBuf>,
}

/// What every call thread shares.
pub(crate) struct Shared {
    scenario: Scenario,
    sounds: Sounds,
    calls: Calls,
    state_dir: Option<PathBuf>,
    seed: Option<u64>,
    language: Option<String>,
    uuid_wait: Duration,
    /// Calls that ended, oldest first, for the checkpoint clean-up.
    ended: Mutex<VecDeque<(Instant, String)>>,
}

impl Shared {
    fn ended(&self, uuid: &str) {
        if self.state_dir.is_none() {
            return;
        }
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        if ended.len() >= ENDED_LIMIT {
            ended.pop_front();
        }
        ended.push_back((Instant::now(), uuid.to_string()));
    }

    /// Removes the checkpoints of calls ended over [`KEEP_ENDED`] ago and
    /// not connected again (a server's own files are never swept as a dead
    /// process's are).
    fn clean_up(&self, dir: &StateDir) {
        let live = self.calls.list();
        let old: Vec<String> = {
            let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
            let mut old = Vec::new();
            while let Some((at, _)) = ended.front() {
                if at.elapsed() < KEEP_ENDED {
                    break;
                }
                if let Some((_, uuid)) = ended.pop_front() {
                    old.push(uuid);
                }
            }
            old
        };
        for uuid in old.into_iter().filter(|u| !live.contains(u)) {
            dir.remove_call(&uuid);
        }
    }
}

/// A bound listener with its playlist loaded, ready to serve.
pub struct Server {
    listener: TcpListener,
    /// The control socket, kept for the server's life (its file goes with it).
    _control: Option<crate::control::socket::Bound>,
    shared: Arc<Shared>,
    max_calls: usize,
    active: Arc<AtomicUsize>,
}

impl Server {
    /// Loads the playlist and its sounds (through the cache) and binds.
    pub fn bind(cfg: &ServeConfig, cache: &Cache) -> Result<Server> {
        let loaded = Scenario::load(&cfg.playlist)?;
        crate::scenario::log_diagnostics(&loaded.diagnostics);
        let scenario = loaded.scenario;
        let sounds = Sounds::load(&scenario, cache, call::RATE);
        if let Some(d) = &cfg.state_dir {
            StateDir::open(Some(d)).map_err(anyhow::Error::msg)?;
        }
        let listener = TcpListener::bind(&cfg.listen)
            .with_context(|| format!("--audiosocket {}: cannot listen", cfg.listen))?;
        let calls = Calls::new();
        let control = match &cfg.control {
            Some(path) => {
                let bound = crate::control::socket::bind(path, 0o600, "--control")?;
                let target = control::ServeTarget {
                    calls: calls.clone(),
                    cache: cache.clone(),
                };
                crate::control::serve(&bound, Arc::new(target), crate::control::Mode::ManyCalls)?;
                tracing::info!(control = %path.display(), "control socket listening");
                Some(bound)
            }
            None => None,
        };
        Ok(Server {
            listener,
            _control: control,
            shared: Arc::new(Shared {
                scenario,
                sounds,
                calls,
                state_dir: cfg.state_dir.clone(),
                seed: cfg.seed,
                language: cfg.language.clone(),
                uuid_wait: cfg.uuid_wait,
                ended: Mutex::new(VecDeque::new()),
            }),
            max_calls: cfg.max_calls.max(1),
            active: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The registry of this server's live calls.
    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// Accepts connections for ever, each call on a thread of its own.
    pub fn run(self) -> Result<()> {
        tracing::info!(addr = %self.local_addr()?, max_calls = self.max_calls, "listening for AudioSocket calls");
        if let Some(d) = &self.shared.state_dir {
            let dir = StateDir::open(Some(d)).map_err(anyhow::Error::msg)?;
            let shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name("checkpoints".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(60));
                        shared.clean_up(&dir);
                    }
                })?;
        }
        for conn in self.listener.incoming() {
            match conn {
                Ok(sock) => self.admit(sock),
                Err(e) => {
                    static ACCEPT: Limiter = Limiter::new(WINDOW);
                    if let Some(more) = ACCEPT.check() {
                        tracing::warn!("cannot accept a connection: {e}{more}");
                    }
                    // Out of descriptors: let calls end before trying again.
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        Ok(())
    }

    fn admit(&self, sock: TcpStream) {
        let peer = sock
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        if self.active.fetch_add(1, Ordering::SeqCst) >= self.max_calls {
            self.active.fetch_sub(1, Ordering::SeqCst);
            refuse(sock, peer, self.max_calls);
            return;
        }
        let shared = Arc::clone(&self.shared);
        let active = Arc::clone(&self.active);
        let spawned = std::thread::Builder::new()
            .name("call".into())
            .stack_size(CALL_STACK)
            .spawn(move || {
                // Counted until the thread ends, panic or not.
                let _slot = Slot(active);
                call::handle(sock, peer, &shared);
            });
        if let Err(e) = spawned {
            tracing::error!(%peer, "cannot start a thread for a call: {e}");
        }
    }
}

/// One of `max_calls`, given back when its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Over the cap: a hangup packet (Asterisk's AudioSocket() returns and the
/// dialplan goes on) and the connection closed; logged once a minute.
fn refuse(mut sock: TcpStream, peer: SocketAddr, max: usize) {
    use std::io::Write;
    sock.set_nonblocking(true).ok();
    sock.write_all(&codec::HANGUP).ok();
    static REFUSED: Limiter = Limiter::new(WINDOW);
    if let Some(more) = REFUSED.check() {
        tracing::warn!(%peer, "refused an AudioSocket connection: {max} calls already (--max-calls){more}");
    }
}

/// `holdmix serve`: bind, then serve until killed.
pub fn serve(cfg: &ServeConfig, cache: &Cache) -> Result<()> {
    Server::bind(cfg, cache)?.run()
}
