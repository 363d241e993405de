//! Byte layout of log segments and records (see `docs/format.md`). Pure functions over byte
//! slices: the decoders are the fuzzing entry points.
//!
//! Segment header, [`SEGMENT_HEADER_LEN`] = 56 bytes, little-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `b"CSWALSEG"` |
//! | 8 | 4 | format version (2) |
//! | 12 | 4 | header length (56) |
//! | 16 | 8 | segment number (also the file name) |
//! | 24 | 8 | sequence number of the first record the segment holds |
//! | 32 | 8 | sequence number of the last record in all earlier segments |
//! | 40 | 8 | length of the segment file (it is preallocated to exactly this) |
//! | 48 | 4 | salt: random, chosen when the segment is created |
//! | 52 | 4 | CRC32C of bytes 0..52 |
//!
//! Record, [`RECORD_HEADER_LEN`] = 21 bytes of header then the payload:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | header check: CRC32C of bytes 4..21, XOR [`position_key`] of (salt, record offset) |
//! | 4 | 4 | payload length |
//! | 8 | 1 | record type (never 0) |
//! | 9 | 8 | sequence number |
//! | 17 | 4 | CRC32C of the payload |
//! | 21 | len | payload |
//!
//! The header check binds a record to the place it was written: bytes that form a valid record
//! somewhere else (inside another record's payload, in another segment, in another log) do not
//! pass it here. A torn record whose header survived therefore claims its extent reliably, and
//! recovery judges only the bytes beyond it. A record header of 21 zero bytes marks the end of the
//! data in a segment (segments are preallocated with zeros).

use std::fmt;

/// Magic bytes at the start of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"CSWALSEG";
/// The segment format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Size of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 56;
/// Size of a record header.
pub const RECORD_HEADER_LEN: usize = 21;

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
    /// Random, chosen when the segment is created; keys every record's header check (see
    /// [`position_key`]), so no payload can carry bytes that pass for a record of this segment.
    pub salt: u32,
}

/// Why a segment header or a record did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The segment was written by another format version.
    UnsupportedVersion(u32),
    /// The header length field does not match this version.
    BadHeaderLength(u32),
    /// The checksum of a segment header or of a record's payload does not match the bytes.
    ChecksumMismatch {
        /// Checksum stored in the frame.
        stored: u32,
        /// Checksum computed over the bytes.
        computed: u32,
    },
    /// A record header's check does not hold at this position: the header is damaged or torn,
    /// or the bytes are not a record written here.
    BadRecordHeader,
    /// Record type 0 is reserved.
    ZeroType,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} available")
            }
            Self::BadMagic => write!(f, "bad magic (not a chainstore log segment)"),
            Self::UnsupportedVersion(v) if *v < FORMAT_VERSION => write!(
                f,
                "format version {v} was written by an older chainstore (this build reads version \
                 {FORMAT_VERSION}); replay it with the chainstore that wrote it"
            ),
            Self::UnsupportedVersion(v) => write!(
                f,
                "format version {v} is not supported (this build reads version {FORMAT_VERSION}); \
                 use a newer chainstore"
            ),
            Self::BadHeaderLength(n) => write!(f, "bad segment header length {n}"),
            Self::ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::BadRecordHeader => write!(f, "record header check failed"),
            Self::ZeroType => write!(f, "record type 0 is reserved"),
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
        buf[48..52].copy_from_slice(&self.salt.to_le_bytes());
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
        Ok(Self {
            number: le_u64(&buf[16..24]),
            first_seq: le_u64(&buf[24..32]),
            prev_last_seq: le_u64(&buf[32..40]),
            segment_len: le_u64(&buf[40..48]),
            salt: le_u32(&buf[48..52]),
        })
    }

    /// Where a record at `offset` of this segment sits, for its header check.
    pub fn at(&self, offset: u64) -> Position {
        Position { salt: self.salt, offset }
    }
}

/// A fresh random salt for a new segment (from the standard library's randomly keyed hasher:
/// unpredictable to whoever supplies payloads, no extra dependency).
pub fn fresh_salt() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}

/// The place of a record: its segment's salt and its byte offset in the segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The segment's salt ([`SegmentHeader::salt`]).
    pub salt: u32,
    /// The offset of the record header in the segment file.
    pub offset: u64,
}

/// The 32-bit key a record's header check is XORed with: a 64-bit finalizer (MurmurHash3's
/// `fmix64`) over the salt and the offset. It changes the check in every bit pattern a position
/// can differ by, so a record is valid only where, and in the segment where, it was written.
pub fn position_key(at: Position) -> u32 {
    let salt = u64::from(at.salt);
    let mut x = at.offset ^ (salt << 32 | salt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x as u32
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

/// A record header whose check holds at its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload length.
    pub len: u32,
    /// Record type, never 0.
    pub ty: u8,
    /// Sequence number.
    pub seq: u64,
    /// CRC32C of the payload.
    pub payload_crc: u32,
}

impl RecordHeader {
    /// The encoded size of the record (header plus payload).
    pub fn record_len(&self) -> usize {
        record_len(self.len as usize)
    }
}

/// The encoded size of a record with a payload of `payload_len` bytes.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// Appends the encoding of a record to `out`, for the position `at`.
pub fn encode_record(out: &mut Vec<u8>, at: Position, seq: u64, ty: u8, payload: &[u8]) {
    let start = out.len();
    out.resize(start + RECORD_HEADER_LEN, 0);
    out.extend_from_slice(payload);
    let (header, payload) = out[start..].split_at_mut(RECORD_HEADER_LEN);
    fill_header(header, payload, ty, seq);
    seal_header(header, at);
}

/// Writes the fields of a record header after its check (bytes 4..21: payload length, type,
/// sequence number, payload checksum); [`seal_header`] writes the check.
pub fn fill_header(header: &mut [u8], payload: &[u8], ty: u8, seq: u64) {
    header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8] = ty;
    set_header_seq(header, seq);
    header[17..21].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
}

/// Writes the sequence number into an encoded record header.
pub fn set_header_seq(header: &mut [u8], seq: u64) {
    header[9..17].copy_from_slice(&seq.to_le_bytes());
}

/// Writes the header check of an encoded record header (bytes 4..21 filled in) for position `at`.
pub fn seal_header(header: &mut [u8], at: Position) {
    let check = crc32c::crc32c(&header[4..RECORD_HEADER_LEN]) ^ position_key(at);
    header[0..4].copy_from_slice(&check.to_le_bytes());
}

/// Decodes the record header at the start of `buf`, written for position `at`. `Ok(None)` is the
/// end-of-data marker (an all-zero header, or fewer than [`RECORD_HEADER_LEN`] bytes, all zero).
pub fn decode_record_header(buf: &[u8], at: Position) -> Result<Option<RecordHeader>, FrameError> {
    let Some(header) = buf.get(..RECORD_HEADER_LEN) else {
        if buf.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        return Err(FrameError::Truncated { needed: RECORD_HEADER_LEN, available: buf.len() });
    };
    if header.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let check = crc32c::crc32c(&header[4..]) ^ position_key(at);
    if le_u32(&header[0..4]) != check {
        return Err(FrameError::BadRecordHeader);
    }
    let ty = header[8];
    if ty == 0 {
        return Err(FrameError::ZeroType);
    }
    Ok(Some(RecordHeader {
        len: le_u32(&header[4..8]),
        ty,
        seq: le_u64(&header[9..17]),
        payload_crc: le_u32(&header[17..21]),
    }))
}

/// Decodes the record at the start of `buf`, written for position `at`. `Ok(None)` is the
/// end-of-data marker; `Ok(Some((record, len)))` a good record of `len` encoded bytes.
pub fn decode_record(buf: &[u8], at: Position) -> Result<Option<(Record<'_>, usize)>, FrameError> {
    let Some(header) = decode_record_header(buf, at)? else { return Ok(None) };
    let payload = payload_of(buf, &header)?;
    Ok(Some((Record { seq: header.seq, ty: header.ty, payload }, header.record_len())))
}

/// The record that `bytes` holds exactly, read without checking anything: for records a scan
/// has already checked ([`decode_record`]'s rules). `None` if `bytes` is shorter than a header.
pub fn checked_record(bytes: &[u8]) -> Option<Record<'_>> {
    let header = bytes.get(..RECORD_HEADER_LEN)?;
    Some(Record {
        seq: le_u64(&header[9..17]),
        ty: header[8],
        payload: &bytes[RECORD_HEADER_LEN..],
    })
}

/// The payload of the record whose header `header` starts `buf`, if it is whole and its checksum
/// holds.
pub fn payload_of<'a>(buf: &'a [u8], header: &RecordHeader) -> Result<&'a [u8], FrameError> {
    let total = RECORD_HEADER_LEN.saturating_add(header.len as usize);
    let Some(payload) = buf.get(RECORD_HEADER_LEN..total) else {
        return Err(FrameError::Truncated { needed: total, available: buf.len() });
    };
    let computed = crc32c::crc32c(payload);
    if computed != header.payload_crc {
        return Err(FrameError::ChecksumMismatch { stored: header.payload_crc, computed });
    }
    Ok(payload)
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

    const AT: Position = Position { salt: 0x1234_5678, offset: 56 };

    fn header() -> SegmentHeader {
        SegmentHeader {
            number: 7,
            first_seq: 1234,
            prev_last_seq: 1233,
            segment_len: 4096,
            salt: 9,
        }
    }

    #[test]
    fn header_round_trip_and_damage() {
        let h = header();
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
    fn other_versions_are_refused_with_a_clear_message() {
        for (version, hint) in [(FORMAT_VERSION + 1, "newer chainstore"), (1, "older chainstore")] {
            let mut bytes = header().encode();
            bytes[8..12].copy_from_slice(&version.to_le_bytes());
            let crc = crc32c::crc32c(&bytes[..52]);
            bytes[52..56].copy_from_slice(&crc.to_le_bytes());
            let err = SegmentHeader::decode(&bytes).unwrap_err();
            assert_eq!(err, FrameError::UnsupportedVersion(version));
            assert!(err.to_string().contains(hint), "{err}");
        }
    }

    #[test]
    fn record_round_trip_and_every_bit_flip_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, AT, 42, 3, b"payload bytes");
        assert_eq!(buf.len(), record_len(13));
        let (rec, len) = decode_record(&buf, AT).unwrap().unwrap();
        assert_eq!((rec.seq, rec.ty, rec.payload, len), (42, 3, &b"payload bytes"[..], buf.len()));
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_record(&bad, AT).is_err(), "flip of bit {bit} accepted");
        }
    }

    #[test]
    fn a_record_is_valid_only_where_it_was_written() {
        let mut buf = Vec::new();
        encode_record(&mut buf, AT, 42, 3, b"payload");
        for other in [
            Position { offset: AT.offset + 1, ..AT },
            Position { offset: AT.offset + 4096, ..AT },
            Position { salt: AT.salt ^ 1, ..AT },
            Position { salt: AT.salt ^ 0x8000_0000, ..AT },
        ] {
            assert_eq!(decode_record(&buf, other), Err(FrameError::BadRecordHeader), "{other:?}");
        }
    }

    #[test]
    fn zero_header_is_end_and_partial_is_truncated() {
        assert_eq!(decode_record(&[0u8; 40], AT), Ok(None));
        assert_eq!(decode_record(&[0u8; 5], AT), Ok(None));
        let mut buf = Vec::new();
        encode_record(&mut buf, AT, 1, 1, &[9u8; 100]);
        assert!(matches!(decode_record(&buf[..50], AT), Err(FrameError::Truncated { .. })));
        assert!(matches!(decode_record(&buf[..10], AT), Err(FrameError::Truncated { .. })));
        // A whole header with a short payload still says how long the record is.
        let h = decode_record_header(&buf[..50], AT).unwrap().unwrap();
        assert_eq!(h.record_len(), buf.len());
    }

    #[test]
    fn zero_type_is_rejected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, AT, 1, 0, b"x");
        assert_eq!(decode_record(&buf, AT), Err(FrameError::ZeroType));
    }
}
