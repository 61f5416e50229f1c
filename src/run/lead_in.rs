//! Silence while the call is being prepared: the reader gets its frames on
//! time and the stop signals are taken, whatever the preparation is
//! waiting for. Paced like the stream itself (same pacer, same clock), so
//! the stream goes on from here without a jump in its pace; the engine's
//! time starts after this silence (see `Engine::started_late`).

use super::exit::Exit;
use super::output::{OrphanGuard, Output};
use super::prepare::Prepared;
use super::signals::StopFlag;
use crate::audio::clock::Clock;
use crate::audio::format::Format;
use crate::audio::pacer::Pacer;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

/// The stream's parts the lead-in drives, borrowed from `Stream::start`.
pub struct LeadIn<'s> {
    pub out: &'s Output,
    pub pacer: &'s mut Pacer,
    pub clock: &'s mut Clock,
    pub orphans: Option<&'s mut OrphanGuard>,
    pub channel: Option<&'s str>,
    pub frame: Duration,
    pub format: Format,
}

impl LeadIn<'_> {
    /// Writes silence tick by tick until the call is ready, or why the
    /// stream ended first.
    pub fn until_ready(&mut self, ready: &Receiver<Prepared>, stop: &StopFlag) -> Result<Prepared, Exit> {
        tracing::warn!("the call is not ready after a frame: silence until it is");
        let mut silence = Vec::new();
        loop {
            self.silence_tick(&mut silence)?;
            if let Some(exit) = stop.sleep(self.clock) {
                return Err(exit);
            }
            if let Some(p) = self.ready(ready)? {
                return Ok(p);
            }
        }
    }

    /// One tick of silence, without the sleep (a host sleeps for all its
    /// calls): what the pacer asks for, written, and the next deadline set.
    /// `silence` keeps the encoded frames between ticks.
    pub fn silence_tick(&mut self, silence: &mut Vec<u8>) -> Result<(), Exit> {
        let fb = self.format.frame_bytes();
        let measured = (self.out.is_pipe() && self.pacer.must_measure()).then(|| self.out.queued());
        let wall = self.clock.units_at_wake(self.frame);
        let plan = self.pacer.plan(measured, wall);
        if silence.len() < plan.write * fb {
            let quiet = vec![0.0; self.format.frame_samples()];
            silence.resize(plan.write * fb, 0);
            for out in silence.chunks_exact_mut(fb) {
                self.format.encode_into(&quiet, out);
            }
        }
        let written = self.out.write(&silence[..plan.write * fb])?;
        self.pacer.wrote(written, plan.queued + written * fb);
        if let Some(o) = self.orphans.as_deref_mut()
            && o.orphaned(wall, written, self.channel)
        {
            return Err(Exit::Orphaned);
        }
        if self.out.reader_gone(written) {
            return Err(Exit::ReaderGone);
        }
        let realign = self.pacer.take_realign();
        self.clock
            .set_period(self.frame * self.pacer.period_frames() as u32, realign);
        Ok(())
    }

    /// The prepared call, if it is ready.
    pub fn ready(&self, ready: &Receiver<Prepared>) -> Result<Option<Prepared>, Exit> {
        match ready.try_recv() {
            Ok(p) => {
                tracing::info!(frames = self.pacer.written(), "the call is ready");
                Ok(Some(p))
            }
            Err(TryRecvError::Empty) => Ok(None),
            // The sender always sends (even after a panic, see
            // `prepare::spawn`); should it not, there is nothing to wait for.
            Err(TryRecvError::Disconnected) => Err(Exit::WriteError),
        }
    }
}
