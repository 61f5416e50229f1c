//! Audio: decoding (with the GSM and G.722 codecs), resampling, the decoded-audio cache, the mixing stages
//! (ramp, voice, limiter), output formats and real-time output helpers.

pub mod cache;
pub mod clip;
pub mod clock;
pub mod coded;
pub mod decode;
pub mod format;
pub mod g711;
pub mod g722;
pub mod gsm;
pub mod limiter;
pub mod loudness;
pub mod pacer;
pub mod pipe;
pub mod prepare;
pub mod ramp;
pub mod resample;
pub mod sink;
pub mod voice;
