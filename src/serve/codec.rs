//! AudioSocket framing, sans I/O: `type (1 byte) | length (2 bytes, big
//! endian) | payload`, as Asterisk's `res_audiosocket` reads and writes it
//! (and as the captures of a real Asterisk 22 in `tests/audiosocket/`
//! show). The [`Decoder`] takes bytes as they come, in any split, and says
//! what each packet was; audio payloads are counted and dropped as they
//! pass, so a peer's audio never costs more memory than the decoder's
//! fixed fields. [`audio_packet`] frames what the server sends.
//!
//! Hand-written: no maintained crate frames AudioSocket, and the format is
//! three bytes of header.

/// The packet types of `include/asterisk/res_audiosocket.h`.
pub const KIND_HANGUP: u8 = 0x00;
pub const KIND_UUID: u8 = 0x01;
pub const KIND_DTMF: u8 = 0x03;
/// Signed linear 8 kHz; 0x11–0x18 are slin12 … slin192.
pub const KIND_AUDIO: u8 = 0x10;
const KIND_AUDIO_LAST: u8 = 0x18;
pub const KIND_ERROR: u8 = 0xff;

/// The largest audio payload taken: 20 ms of slin192 is 7680 bytes; twice
/// that allows 40 ms frames. Anything longer is a broken or hostile peer
/// (Asterisk itself gives up on a length it does not get within 5 ms).
pub const MAX_AUDIO: usize = 16 * 1024;
/// An error packet's payload is a code; more than this is not one.
const MAX_ERROR: usize = 64;
const UUID_LEN: usize = 16;

/// One whole packet from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hangup,
    /// The call's UUID, raw (RFC 4122 byte order).
    Uuid([u8; UUID_LEN]),
    /// A key, as its ASCII character (`'0'`–`'9'`, `'*'`, `'#'`, `'A'`–`'D'`).
    Dtmf(char),
    /// Audio of this type and payload length (the samples are dropped).
    Audio {
        kind: u8,
        len: usize,
    },
    /// The peer's error packet and its first payload byte (the code), if any.
    Error(Option<u8>),
}

/// A packet that cannot be taken: the connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A type the protocol does not have.
    BadType(u8),
    /// A length the type cannot have (zero audio, a long UUID, …).
    BadLength { kind: u8, len: usize },
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::BadType(k) => write!(f, "unknown packet type 0x{k:02x}"),
            Fault::BadLength { kind, len } => {
                write!(f, "packet type 0x{kind:02x} cannot have length {len}")
            }
        }
    }
}

/// The UUID as Asterisk's dialplan writes it, `8-4-4-4-12` lowercase hex.
pub fn uuid_text(raw: &[u8; UUID_LEN]) -> String {
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[derive(Debug)]
enum State {
    Header { got: usize },
    Payload { kind: u8, len: usize, got: usize },
}

/// Packets out of a byte stream, whatever its splits.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    header: [u8; 3],
    /// The start of a small payload (UUID, DTMF, error code).
    small: [u8; UUID_LEN],
    /// Set after a fault: nothing more is decoded.
    broken: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Header { got: 0 },
            header: [0; 3],
            small: [0; UUID_LEN],
            broken: false,
        }
    }
}

impl Decoder {
    /// Takes bytes from the front of `input`: how many it used, and the
    /// packet they completed, if any. Call again with the rest until it
    /// uses nothing. After a fault it takes nothing more.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Result<Message, Fault>>) {
        if self.broken {
            return (0, None);
        }
        let mut used = 0;
        loop {
            match &mut self.state {
                State::Header { got } => {
                    let n = (3 - *got).min(input.len() - used);
                    self.header[*got..*got + n].copy_from_slice(&input[used..used + n]);
                    *got += n;
                    used += n;
                    if *got < 3 {
                        return (used, None);
                    }
                    let kind = self.header[0];
                    let len = usize::from(u16::from_be_bytes([self.header[1], self.header[2]]));
                    if let Err(fault) = check(kind, len) {
                        self.broken = true;
                        return (used, Some(Err(fault)));
                    }
                    self.state = State::Payload { kind, len, got: 0 };
                }
                State::Payload { kind, len, got } => {
                    let n = (*len - *got).min(input.len() - used);
                    let keep = (*got..(*got + n).min(UUID_LEN)).len();
                    if keep > 0 {
                        self.small[*got..*got + keep].copy_from_slice(&input[used..used + keep]);
                    }
                    *got += n;
                    used += n;
                    if *got < *len {
                        return (used, None);
                    }
                    let (kind, len) = (*kind, *len);
                    self.state = State::Header { got: 0 };
                    return (used, Some(Ok(self.message(kind, len))));
                }
            }
        }
    }

    fn message(&self, kind: u8, len: usize) -> Message {
        match kind {
            KIND_HANGUP => Message::Hangup,
            KIND_UUID => {
                let mut raw = [0; UUID_LEN];
                raw.copy_from_slice(&self.small);
                Message::Uuid(raw)
            }
            KIND_DTMF => Message::Dtmf(char::from(self.small[0])),
            KIND_ERROR => Message::Error((len > 0).then_some(self.small[0])),
            _ => Message::Audio { kind, len },
        }
    }
}

/// Whether a header can start a packet the decoder takes.
fn check(kind: u8, len: usize) -> Result<(), Fault> {
    let ok = match kind {
        KIND_HANGUP => len == 0,
        KIND_UUID => len == UUID_LEN,
        KIND_DTMF => len == 1,
        KIND_AUDIO..=KIND_AUDIO_LAST => (1..=MAX_AUDIO).contains(&len),
        KIND_ERROR => len <= MAX_ERROR,
        other => return Err(Fault::BadType(other)),
    };
    if ok {
        Ok(())
    } else {
        Err(Fault::BadLength { kind, len })
    }
}

/// Appends one slin 8 kHz audio packet holding `pcm` (whole frames,
/// little-endian samples) to `out`.
pub fn audio_packet(pcm: &[u8], out: &mut Vec<u8>) {
    debug_assert!(pcm.len() <= usize::from(u16::MAX));
    out.push(KIND_AUDIO);
    out.extend_from_slice(&(pcm.len() as u16).to_be_bytes());
    out.extend_from_slice(pcm);
}

/// The hangup packet: the server ends the session (Asterisk's
/// `AudioSocket()` then returns success and the dialplan goes on).
pub const HANGUP: [u8; 3] = [KIND_HANGUP, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &[u8] = include_bytes!("../../tests/audiosocket/uuid-app-audio-dtmf-hangup.bin");
    const SLIN16: &[u8] = include_bytes!("../../tests/audiosocket/chan-slin16-audio-dtmf-hangup.bin");

    /// Every packet of `bytes` fed `split` bytes at a time.
    fn decode(bytes: &[u8], split: usize) -> Vec<Result<Message, Fault>> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(split) {
            let mut rest = chunk;
            loop {
                let (n, m) = d.feed(rest);
                rest = &rest[n..];
                if let Some(m) = m {
                    out.push(m);
                }
                if n == 0 || rest.is_empty() {
                    break;
                }
            }
        }
        out
    }

    fn summary(msgs: &[Result<Message, Fault>]) -> (String, String, usize) {
        let uuid = match &msgs[0] {
            Ok(Message::Uuid(raw)) => uuid_text(raw),
            other => panic!("first packet {other:?}"),
        };
        let keys: String = msgs
            .iter()
            .filter_map(|m| match m {
                Ok(Message::Dtmf(c)) => Some(*c),
                _ => None,
            })
            .collect();
        let audio = msgs
            .iter()
            .filter(|m| matches!(m, Ok(Message::Audio { .. })))
            .count();
        (uuid, keys, audio)
    }

    #[test]
    fn a_real_asterisk_capture_decodes_at_every_split() {
        let whole = decode(CAPTURE, CAPTURE.len());
        let (uuid, keys, audio) = summary(&whole);
        assert_eq!(uuid, "dcafb1f4-b19d-4f55-bebe-591312c25aaa");
        assert_eq!(keys, "123#");
        assert!(audio > 90, "{audio} audio packets");
        // Every packet audio, UUID or DTMF; the short last frame of a
        // playback (276 bytes) among them.
        assert!(whole.iter().all(|m| m.is_ok()));
        assert!(whole.contains(&Ok(Message::Audio {
            kind: KIND_AUDIO,
            len: 276
        })));
        for split in 1..=40 {
            assert_eq!(decode(CAPTURE, split), whole, "split {split}");
        }
    }

    #[test]
    fn slin16_audio_from_dial_with_c_slin16_is_taken() {
        let msgs = decode(SLIN16, 7);
        let (_, keys, _) = summary(&msgs);
        assert_eq!(keys, "123#");
        assert!(msgs.contains(&Ok(Message::Audio { kind: 0x12, len: 640 })));
    }

    #[test]
    fn bad_packets_are_faults_and_end_decoding() {
        for (bytes, want) in [
            (&[0x42, 0, 2, 0xab, 0xcd][..], Fault::BadType(0x42)),
            (
                &[0x10, 0xff, 0xff][..],
                Fault::BadLength {
                    kind: 0x10,
                    len: 0xffff,
                },
            ),
            (&[0x10, 0, 0][..], Fault::BadLength { kind: 0x10, len: 0 }),
            (
                &[0x01, 0, 4, 1, 2, 3, 4][..],
                Fault::BadLength { kind: 1, len: 4 },
            ),
            (&[0x03, 0, 0][..], Fault::BadLength { kind: 3, len: 0 }),
        ] {
            let mut d = Decoder::default();
            let (_, m) = d.feed(bytes);
            assert_eq!(m, Some(Err(want)), "{bytes:02x?}");
            assert_eq!(d.feed(&[0, 0, 0]), (0, None));
        }
    }

    #[test]
    fn hangup_and_error_packets() {
        assert_eq!(decode(&[0, 0, 0], 1), vec![Ok(Message::Hangup)]);
        assert_eq!(decode(&[0xff, 0, 1, 2], 2), vec![Ok(Message::Error(Some(2)))]);
        assert_eq!(decode(&[0xff, 0, 0], 3), vec![Ok(Message::Error(None))]);
    }

    #[test]
    fn audio_packets_carry_their_length() {
        let mut out = Vec::new();
        audio_packet(&[7; 320], &mut out);
        assert_eq!(&out[..3], &[0x10, 0x01, 0x40]);
        assert_eq!(out.len(), 323);
        assert_eq!(decode(&out, 5), vec![Ok(Message::Audio { kind: 0x10, len: 320 })]);
    }
}
