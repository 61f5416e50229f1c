//! Audio: decoding, resampling, the decoded-audio cache, the mixing stages
//! (ramp, voice, limiter), output formats and real-time output helpers.

pub mod cache;
pub mod clip;
pub mod clock;
pub mod decode;
pub mod format;
pub mod g711;
pub mod limiter;
pub mod loudness;
pub mod pacer;
pub mod pipe;
pub mod prepare;
pub mod ramp;
pub mod resample;
pub mod sink;
pub mod voice;
