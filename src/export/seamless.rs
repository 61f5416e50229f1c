//! A render made into a file that loops with no click: players such as
//! rtpproxy jump from a file's last byte straight back to its first, so
//! the end must flow into the start.
//!
//! The render runs `fade` samples past the loop's length `len`. The file
//! holds the render from `fade` to `len`, then the render from `len` on,
//! faded out (equal power, for unrelated music) while the render's own
//! first `fade` samples fade in. The file's last sample is therefore the
//! render's sample `fade - 1`, and the file starts at sample `fade`: the
//! jump back is one ordinary step of the audio, wherever the music is.
//!
//! It streams: only the first `fade` samples are held, so a 30-minute loop
//! at 44.1 kHz costs 50 ms of memory, not 300 MB.

/// Where the looped samples go.
pub trait Out {
    /// The audio that precedes the file's first sample (the render's
    /// first `fade` samples), given once, before anything is written: a
    /// stateful encoder runs through it so that its state at the file's
    /// start matches its state at the file's end.
    fn prime(&mut self, head: &[f32]) -> std::io::Result<()>;
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
}

pub struct Looper<O: Out> {
    out: O,
    len: usize,
    fade: usize,
    head: Vec<f32>,
    /// Samples of the render taken so far.
    seen: usize,
    tail: Vec<f32>,
}

impl<O: Out> Looper<O> {
    /// A loop of `len` samples with a crossfade of `fade` (at most half of
    /// `len`).
    pub fn new(out: O, len: usize, fade: usize) -> Looper<O> {
        let fade = fade.min(len / 2);
        Looper {
            out,
            len,
            fade,
            head: Vec::with_capacity(fade),
            seen: 0,
            tail: Vec::with_capacity(fade),
        }
    }

    /// How many render samples the loop needs in all.
    pub fn wanted(&self) -> usize {
        self.len + self.fade
    }

    /// Takes the next render samples; any past [`Looper::wanted`] are ignored.
    pub fn push(&mut self, mut samples: &[f32]) -> std::io::Result<()> {
        if self.seen < self.fade {
            let n = (self.fade - self.seen).min(samples.len());
            self.head.extend_from_slice(&samples[..n]);
            self.seen += n;
            samples = &samples[n..];
            if self.seen == self.fade {
                self.out.prime(&self.head)?;
            }
        }
        if self.seen < self.len && !samples.is_empty() {
            let n = (self.len - self.seen).min(samples.len());
            self.out.write(&samples[..n])?;
            self.seen += n;
            samples = &samples[n..];
        }
        let n = (self.wanted() - self.seen).min(samples.len());
        self.tail.extend_from_slice(&samples[..n]);
        self.seen += n;
        Ok(())
    }

    /// Writes the crossfade (a render cut short is padded with silence) and
    /// finishes the output.
    pub fn finish(mut self) -> std::io::Result<O> {
        if self.seen < self.wanted() {
            let missing = vec![0.0; self.wanted() - self.seen];
            self.push(&missing)?;
        }
        let n = self.fade;
        let mut xfade = Vec::with_capacity(n);
        for i in 0..n {
            // (i + 1) / n: the last sample is the head's own, unfaded.
            let t = (i + 1) as f32 / n as f32 * std::f32::consts::FRAC_PI_2;
            xfade.push(self.tail[i] * t.cos() + self.head[i] * t.sin());
        }
        self.out.write(&xfade)?;
        self.out.finish()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Keep {
        primed: Vec<f32>,
        got: Vec<f32>,
    }

    impl Out for Keep {
        fn prime(&mut self, head: &[f32]) -> std::io::Result<()> {
            self.primed = head.to_vec();
            Ok(())
        }
        fn write(&mut self, s: &[f32]) -> std::io::Result<()> {
            self.got.extend_from_slice(s);
            Ok(())
        }
        fn finish(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_file_ends_where_it_starts() {
        // A ramp: the render's samples are their own indices.
        let render: Vec<f32> = (0..1100).map(|i| i as f32).collect();
        let mut l = Looper::new(Keep::default(), 1000, 100);
        assert_eq!(l.wanted(), 1100);
        for part in render.chunks(37) {
            l.push(part).unwrap();
        }
        let k = l.finish().unwrap();
        assert_eq!(k.got.len(), 1000);
        assert_eq!(k.primed, render[..100]);
        assert_eq!(k.got[0], 100.0, "the file starts at the render's sample `fade`");
        assert_eq!(k.got[899], 999.0);
        assert!(
            (k.got[900] - 1000.0).abs() < 30.0,
            "the fade starts from the render's next sample"
        );
        assert!(
            (k.got[999] - 99.0).abs() < 1e-3,
            "and ends on the sample before the file's first"
        );
    }

    #[test]
    fn a_short_render_is_padded() {
        let mut l = Looper::new(Keep::default(), 10, 4);
        l.push(&[1.0; 5]).unwrap();
        let k = l.finish().unwrap();
        assert_eq!(k.got.len(), 10);
    }
}
