//! The sound card, through rodio: the call's mono frames at 8 or 16 kHz go
//! into rodio's mixer, which converts them to the device's rate and
//! channels (its own converter, over dasp_sample; nothing to add here), and
//! the device's callback pulls them as it needs them. The queue between is
//! three frames: the engine waits for room, so the device's clock paces the
//! call and a preview never drifts ahead of what is heard.

use anyhow::{Context, Result};
use rodio::cpal::traits::{DeviceTrait, HostTrait};
use std::num::NonZero;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

/// Frames queued for the device: 60 ms.
const QUEUE_FRAMES: usize = 3;

pub struct Output {
    tx: SyncSender<Vec<f32>>,
    // Kept open for as long as the call plays: dropping it stops the device.
    sink: rodio::MixerDeviceSink,
}

impl Output {
    /// Opens `device` (a name from `holdmix play --device list`'s
    /// answer), else the system's default output.
    pub fn open(device: Option<&str>, rate: u32) -> Result<Output> {
        let mut sink = match device {
            None => rodio::DeviceSinkBuilder::open_default_sink()
                .context("no sound output (give one with --device NAME; `--device list` lists them)")?,
            Some(name) => {
                let dev = find(name)?;
                rodio::DeviceSinkBuilder::from_device(dev)
                    .and_then(|b| b.open_stream())
                    .with_context(|| format!("--device {name}: cannot open it"))?
            }
        };
        sink.log_on_drop(false);
        let rate = NonZero::new(rate).context("a sample rate of 0")?;
        let (tx, rx) = sync_channel(QUEUE_FRAMES);
        sink.mixer().add(Feed {
            rx,
            buf: Vec::new(),
            pos: 0,
            rate,
        });
        Ok(Output { tx, sink })
    }

    /// Queues a frame, waiting for room; false when the device is gone.
    pub fn send(&self, frame: Vec<f32>) -> bool {
        self.tx.send(frame).is_ok()
    }

    /// Lets what is queued play out before the device closes.
    pub fn drain(self) {
        let Output { tx, sink } = self;
        drop(tx);
        std::thread::sleep(Duration::from_millis(20 * QUEUE_FRAMES as u64 + 100));
        drop(sink);
    }
}

/// The output device named `name` (its name or its id, as listed).
fn find(name: &str) -> Result<rodio::Device> {
    let host = rodio::cpal::default_host();
    let devices: Vec<rodio::Device> = host
        .output_devices()
        .context("cannot list the sound outputs")?
        .collect();
    let label = |d: &rodio::Device| {
        let id = d.id().map(|i| i.to_string()).unwrap_or_default();
        (d.to_string(), id)
    };
    let listed: Vec<String> = devices.iter().map(|d| label(d).1).collect();
    devices
        .into_iter()
        .find(|d| {
            let (shown, id) = label(d);
            shown == name || id == name || id.rsplit_once(':').is_some_and(|(_, n)| n == name)
        })
        .with_context(|| {
            format!(
                "--device {name}: no such output; there are: {}",
                listed.join(", ")
            )
        })
}

/// The names `--device` takes, one per line.
pub fn list() -> Result<Vec<String>> {
    let host = rodio::cpal::default_host();
    Ok(host
        .output_devices()
        .context("cannot list the sound outputs")?
        .map(|d| d.id().map(|i| i.to_string()).unwrap_or_else(|_| d.to_string()))
        .collect())
}

/// The call's frames as a rodio source; silence while the engine is late
/// (a device never waits), the end when the call is over.
struct Feed {
    rx: Receiver<Vec<f32>>,
    buf: Vec<f32>,
    pos: usize,
    rate: rodio::SampleRate,
}

impl Iterator for Feed {
    type Item = rodio::Sample;

    fn next(&mut self) -> Option<rodio::Sample> {
        if self.pos >= self.buf.len() {
            match self.rx.try_recv() {
                Ok(frame) => {
                    self.buf = frame;
                    self.pos = 0;
                }
                Err(TryRecvError::Empty) => return Some(0.0),
                Err(TryRecvError::Disconnected) => return None,
            }
        }
        let s = self.buf.get(self.pos).copied().unwrap_or(0.0);
        self.pos += 1;
        Some(s)
    }
}

impl rodio::Source for Feed {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::<u16>::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}
