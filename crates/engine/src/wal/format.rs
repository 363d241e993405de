//! Byte layout of log segments and records (see `docs/format.md`). Pure functions over byte
//! slices: the decoders are the fuzzing entry points.
//!
//! Segment header, [`SEGMENT_HEADER_LEN`] = 56 bytes, little-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `b"CSWALSEG"` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | header length (56) |
//! | 16 | 8 | segment number (also the file name) |
//! | 24 | 8 | sequence number of the first record the segment holds |
//! | 32 | 8 | sequence number of the last record in all earlier segments |
//! | 40 | 8 | length of the segment file (it is preallocated to exactly this) |
//! | 48 | 4 | reserved, zero |
//! | 52 | 4 | CRC32C of bytes 0..52 |
//!
//! Record, [`RECORD_HEADER_LEN`] = 17 bytes of header then the payload:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | CRC32C of bytes 4..17 and the payload |
//! | 4 | 4 | payload length |
//! | 8 | 1 | record type (never 0) |
//! | 9 | 8 | sequence number |
//! | 17 | len | payload |
//!
//! A record header of 17 zero bytes marks the end of the data in a segment (segments are
//! preallocated with zeros).

use std::fmt;

/// Magic bytes at the start of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"CSWALSEG";
/// The segment format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 56;
/// Size of a record header.
pub const RECORD_HEADER_LEN: usize = 17;

/// The header at the start of each segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's number (segments are numbered consecutively; the file is `<number>.wal`).
    pub number: u64,
    /// Sequence number of the first record in the segment (or of the next record to be written,
    /// if the segment is still empty).
    pub first_seq: u64,
    /// Sequence number of the last record in the segments before this one (normally
    /// `first_seq - 1`; larger gaps are deliberate skips, e.g. past a checkpoint).
    pub prev_last_seq: u64,
    /// The length of the segment file: segments are created at full length and never shrink or
    /// grow, so any other length is damage.
    pub segment_len: u64,
}

/// Why a segment header or a record did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or payload needs.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The magic bytes are wrong.
    BadMagic,
    /// The segment was written by a newer or unknown format version.
    UnsupportedVersion(u32),
    /// The header length field does not match this version.
    BadHeaderLength(u32),
    /// The checksum does not match the bytes.
    ChecksumMismatch {
        /// Checksum stored in the frame.
        stored: u32,
        /// Checksum computed over the bytes.
        computed: u32,
    },
    /// Record type 0 is reserved.
    ZeroType,
    /// Reserved header bytes are not zero (a newer writer, or damage).
    ReservedNotZero,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} available")
            }
            Self::BadMagic => write!(f, "bad magic (not a chainstore log segment)"),
            Self::UnsupportedVersion(v) => write!(
                f,
                "format version {v} is not supported (this build reads version {FORMAT_VERSION}); \
                 use a newer chainstore"
            ),
            Self::BadHeaderLength(n) => write!(f, "bad segment header length {n}"),
            Self::ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::ZeroType => write!(f, "record type 0 is reserved"),
            Self::ReservedNotZero => write!(f, "reserved header bytes are not zero"),
        }
    }
}

impl SegmentHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut buf = [0u8; SEGMENT_HEADER_LEN];
        buf[0..8].copy_from_slice(&SEGMENT_MAGIC);
        buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        buf[16..24].copy_from_slice(&self.number.to_le_bytes());
        buf[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        buf[32..40].copy_from_slice(&self.prev_last_seq.to_le_bytes());
        buf[40..48].copy_from_slice(&self.segment_len.to_le_bytes());
        let crc = crc32c::crc32c(&buf[..52]);
        buf[52..56].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    /// Decodes and checks a header from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self, FrameError> {
        if buf.len() < SEGMENT_HEADER_LEN {
            return Err(FrameError::Truncated { needed: SEGMENT_HEADER_LEN, available: buf.len() });
        }
        if buf[0..8] != SEGMENT_MAGIC {
            return Err(FrameError::BadMagic);
        }
        let stored = le_u32(&buf[52..56]);
        let computed = crc32c::crc32c(&buf[..52]);
        if stored != computed {
            return Err(FrameError::ChecksumMismatch { stored, computed });
        }
        let version = le_u32(&buf[8..12]);
        if version != FORMAT_VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let header_len = le_u32(&buf[12..16]);
        if header_len as usize != SEGMENT_HEADER_LEN {
            return Err(FrameError::BadHeaderLength(header_len));
        }
        if buf[48..52] != [0; 4] {
            return Err(FrameError::ReservedNotZero);
        }
        Ok(Self {
            number: le_u64(&buf[16..24]),
            first_seq: le_u64(&buf[24..32]),
            prev_last_seq: le_u64(&buf[32..40]),
            segment_len: le_u64(&buf[40..48]),
        })
    }
}

/// A decoded record borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Caller-defined record type, never 0.
    pub ty: u8,
    /// The payload.
    pub payload: &'a [u8],
}

/// The encoded size of a record with a payload of `payload_len` bytes.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// Appends the encoding of a record to `out`.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, ty: u8, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(ty);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `buf`. `Ok(None)` is the end-of-data marker (an all-zero
/// record header); `Ok(Some((record, len)))` a good record of `len` encoded bytes.
pub fn decode_record(buf: &[u8]) -> Result<Option<(Record<'_>, usize)>, FrameError> {
    if buf.len() < RECORD_HEADER_LEN {
        if buf.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        return Err(FrameError::Truncated { needed: RECORD_HEADER_LEN, available: buf.len() });
    }
    let header = &buf[..RECORD_HEADER_LEN];
    if header.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let len = le_u32(&header[4..8]) as usize;
    let total = RECORD_HEADER_LEN.saturating_add(len);
    if buf.len() < total {
        return Err(FrameError::Truncated { needed: total, available: buf.len() });
    }
    let stored = le_u32(&header[0..4]);
    let computed = crc32c::crc32c(&buf[4..total]);
    if stored != computed {
        return Err(FrameError::ChecksumMismatch { stored, computed });
    }
    let ty = header[8];
    if ty == 0 {
        return Err(FrameError::ZeroType);
    }
    let seq = le_u64(&header[9..17]);
    Ok(Some((Record { seq, ty, payload: &buf[RECORD_HEADER_LEN..total] }, total)))
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h =
            SegmentHeader { number: 7, first_seq: 1234, prev_last_seq: 1233, segment_len: 4096 };
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        for i in 0..SEGMENT_HEADER_LEN {
            let mut bad = bytes;
            bad[i] ^= 0x01;
            assert!(SegmentHeader::decode(&bad).is_err(), "flip at byte {i} accepted");
        }
        assert!(matches!(
            SegmentHeader::decode(&bytes[..55]),
            Err(FrameError::Truncated { needed: 56, available: 55 })
        ));
    }

    #[test]
    fn newer_version_is_refused_with_a_clear_message() {
        let mut bytes =
            SegmentHeader { number: 1, first_seq: 1, prev_last_seq: 0, segment_len: 4096 }.encode();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..52]);
        bytes[52..56].copy_from_slice(&crc.to_le_bytes());
        let err = SegmentHeader::decode(&bytes).unwrap_err();
        assert_eq!(err, FrameError::UnsupportedVersion(2));
        assert!(err.to_string().contains("newer chainstore"));
    }

    #[test]
    fn record_round_trip_and_every_bit_flip_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 42, 3, b"payload bytes");
        assert_eq!(buf.len(), record_len(13));
        let (rec, len) = decode_record(&buf).unwrap().unwrap();
        assert_eq!((rec.seq, rec.ty, rec.payload, len), (42, 3, &b"payload bytes"[..], buf.len()));
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_record(&bad).is_err(), "flip of bit {bit} accepted");
        }
    }

    #[test]
    fn zero_header_is_end_and_partial_is_truncated() {
        assert_eq!(decode_record(&[0u8; 40]), Ok(None));
        assert_eq!(decode_record(&[0u8; 5]), Ok(None));
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, 1, &[9u8; 100]);
        assert!(matches!(decode_record(&buf[..50]), Err(FrameError::Truncated { .. })));
        assert!(matches!(decode_record(&buf[..10]), Err(FrameError::Truncated { .. })));
    }

    #[test]
    fn zero_type_is_rejected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, 0, b"x");
        assert_eq!(decode_record(&buf), Err(FrameError::ZeroType));
    }
}
