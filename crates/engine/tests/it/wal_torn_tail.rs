//! A torn last record never stops the log from opening, whatever its payload holds.
//!
//! Random sequences of records are appended through the log; the last record's payload is built
//! to look like the log itself: record headers claiming the expected sequence number and long
//! extents, whole records sealed for other offsets or another salt, copies of the log's own earlier
//! records, block-list-like runs of small numbers. Then the last record is torn every way an
//! interrupted write can tear it: cut at every byte (what a killed process leaves: a prefix of the
//! write, preallocated zeros after it), and split into 512-byte and 4 KiB sectors of which any
//! subset reached the disk, the rest left as zeros or as garbage (what a power loss can leave).
//!
//! After each tear the default recovery must open the log with exactly the records before the
//! torn one (all of it when the tear kept every byte), return nothing after the cut, and take new
//! appends. Damage to an earlier record, followed by good records, must still be refused as
//! corruption naming its offset.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chainstore_engine::vfs::{FaultFs, OpenMode, Vfs, read_all, write_all_at};
use chainstore_engine::wal::format::{
    Position, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader, encode_record,
};
use chainstore_engine::wal::{Durability, RecoveryMode, WalError, WalOptions};
use proptest::prelude::*;

use crate::common::{Rec, noise, open_collect};

const SEGMENT_SIZE: u64 = 24 << 10;
/// The last record's payload is cut to this, so it fits a segment and the cuts stay few enough.
const MAX_LAST_PAYLOAD: usize = 6 << 10;

fn opts() -> WalOptions {
    WalOptions { segment_size: SEGMENT_SIZE, ..WalOptions::default() }
}

/// How the last record's payload is made.
#[derive(Debug, Clone)]
enum Piece {
    /// Random bytes.
    Noise(Vec<u8>),
    /// A record header claiming the next sequence number and an extent to the end of the segment
    /// (what made the old scan give up), with a checksum computed without the salt.
    ClaimingHeader,
    /// A whole record sealed for the offset it lands at, but with another salt.
    OtherSalt(u32, Vec<u8>),
    /// A whole record sealed with the segment's own salt for another offset.
    OtherOffset(u64, Vec<u8>),
    /// A copy of one of the log's earlier records (valid where it was written).
    CopyOfEarlier(usize),
    /// Little-endian block numbers and 0/1 markers, as history block lists are.
    SmallNumbers(Vec<u16>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..200);
    prop_oneof![
        bytes().prop_map(Piece::Noise),
        Just(Piece::ClaimingHeader),
        (any::<u32>(), bytes()).prop_map(|(s, p)| Piece::OtherSalt(s, p)),
        (1u64..64, bytes()).prop_map(|(d, p)| Piece::OtherOffset(d, p)),
        any::<usize>().prop_map(Piece::CopyOfEarlier),
        proptest::collection::vec(0u16..300, 0..100).prop_map(Piece::SmallNumbers),
    ]
}

/// Builds the adversarial payload of the record that will be written at `offset` of a segment
/// salted `salt`, with sequence number `seq`, after the records `earlier` (their encoded bytes).
fn adversarial_payload(
    pieces: &[Piece],
    salt: u32,
    offset: u64,
    seq: u64,
    earlier: &[Vec<u8>],
) -> Vec<u8> {
    let mut payload = Vec::new();
    for p in pieces {
        // Where the next byte of the payload lands in the segment file.
        let here = offset + (RECORD_HEADER_LEN + payload.len()) as u64;
        match p {
            Piece::Noise(b) => payload.extend_from_slice(b),
            Piece::ClaimingHeader => {
                let claim = SEGMENT_SIZE.saturating_sub(here + RECORD_HEADER_LEN as u64) as u32;
                payload.extend_from_slice(&0xfeed_f00d_u32.to_le_bytes());
                payload.extend_from_slice(&claim.to_le_bytes());
                payload.push(1);
                payload.extend_from_slice(&(seq + 1).to_le_bytes());
                payload.extend_from_slice(&[0; 4]);
            }
            Piece::OtherSalt(s, inner) => {
                let s = if *s == salt { s ^ 1 } else { *s };
                encode_record(&mut payload, Position { salt: s, offset: here }, seq + 1, 1, inner);
            }
            Piece::OtherOffset(d, inner) => {
                let at = Position { salt, offset: here + d };
                encode_record(&mut payload, at, seq + 1, 1, inner);
            }
            Piece::CopyOfEarlier(i) if !earlier.is_empty() => {
                payload.extend_from_slice(&earlier[i % earlier.len()]);
            }
            Piece::CopyOfEarlier(_) => {}
            Piece::SmallNumbers(ns) => {
                for n in ns {
                    payload.extend_from_slice(&u64::from(*n).to_le_bytes());
                    payload.push(u8::from(n % 2 == 0));
                }
            }
        }
    }
    payload.truncate(MAX_LAST_PAYLOAD);
    payload
}

/// A log written through the writer, and where its last record is.
struct Written {
    fs: FaultFs,
    dir: PathBuf,
    records: Vec<Rec>,
    /// The last segment's path, and the offset and length of the last record in it.
    last_segment: PathBuf,
    last_offset: u64,
    last_len: usize,
}

fn read_file(fs: &FaultFs, path: &Path) -> Vec<u8> {
    read_all(&*fs.open(path, OpenMode::Read).unwrap()).unwrap()
}

fn segments(fs: &FaultFs, dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<_> = fs.list(dir).unwrap().into_iter().map(|n| dir.join(n)).collect();
    names.sort();
    names
}

/// Appends `lens.len()` plain records and one adversarial last record.
fn write_log(lens: &[usize], pieces: &[Piece]) -> Written {
    let fs = FaultFs::new();
    let dir = PathBuf::from("/log");
    let (wal, _, _) = open_collect(Arc::new(fs.clone()), &dir, opts(), 1).unwrap();
    let mut records = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let payload: Vec<u8> = (0..len).map(|j| (i * 7 + j * 13) as u8).collect();
        let seq = wal.append(1 + (i % 3) as u8, &payload, Durability::Immediate).unwrap();
        records.push((seq, 1 + (i % 3) as u8, payload));
    }
    // Where the last record will go: the end of the active segment, or a new one if it does not
    // fit (the payload's length is known before it is built: build it twice).
    let seq = wal.next_seq();
    let active = segments(&fs, &dir).pop().unwrap();
    let image = read_file(&fs, &active);
    let header = SegmentHeader::decode(&image).unwrap();
    let end = SEGMENT_HEADER_LEN as u64 + records_in(&image, &header);
    let earlier = encoded_records(&image, &header);
    let probe = adversarial_payload(pieces, header.salt, end, seq, &earlier);
    let fits = end + (RECORD_HEADER_LEN + probe.len()) as u64 <= SEGMENT_SIZE;
    let payload = if fits {
        probe
    } else {
        // It starts a new segment, whose salt is not known yet: craft it for the active one.
        let offset = SEGMENT_HEADER_LEN as u64;
        adversarial_payload(pieces, header.salt, offset, seq, &earlier)
    };
    assert_eq!(wal.append(3, &payload, Durability::Immediate).unwrap(), seq);
    records.push((seq, 3, payload.clone()));
    drop(wal);
    let last_segment = segments(&fs, &dir).pop().unwrap();
    let image = read_file(&fs, &last_segment);
    let header = SegmentHeader::decode(&image).unwrap();
    let last_len = RECORD_HEADER_LEN + payload.len();
    let last_offset = SEGMENT_HEADER_LEN as u64 + records_in(&image, &header) - last_len as u64;
    Written { fs, dir, records, last_segment, last_offset, last_len }
}

/// Bytes of the good records of a segment image.
fn records_in(image: &[u8], header: &SegmentHeader) -> u64 {
    let scan = chainstore_engine::wal::scan::scan_segment(image, header.number, None);
    assert!(scan.damage.is_none());
    (scan.end - SEGMENT_HEADER_LEN) as u64
}

/// The encoded bytes of each good record of a segment image.
fn encoded_records(image: &[u8], header: &SegmentHeader) -> Vec<Vec<u8>> {
    let scan = chainstore_engine::wal::scan::scan_segment(image, header.number, None);
    scan.records.iter().map(|r| image[r.offset..r.offset + r.len].to_vec()).collect()
}

/// Replaces the last record's bytes with `torn` (same length) in a copy of the file system and
/// opens it with the default recovery; checks the outcome.
fn check_tear(w: &Written, torn: &[u8], whole: bool, what: &str) {
    let fs = w.fs.fork();
    let file = fs.open(&w.last_segment, OpenMode::ReadWrite).unwrap();
    write_all_at(&*file, torn, w.last_offset).unwrap();
    file.sync_data().unwrap();
    drop(file);
    let opened = open_collect(Arc::new(fs.clone()), &w.dir, opts(), 1);
    let (wal, report, seen) = match opened {
        Ok(o) => o,
        Err(e) => panic!("{what}: the log did not open: {e}"),
    };
    let kept = if whole { w.records.len() } else { w.records.len() - 1 };
    assert!(
        seen == w.records[..kept],
        "{what}: records {:?} handed over, want the first {kept}",
        seen.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    if !whole && torn.iter().any(|&b| b != 0) {
        let dropped = report.dropped.as_ref().unwrap_or_else(|| panic!("{what}: nothing dropped"));
        assert!(dropped.torn_tail, "{what}: {dropped:?}");
        assert_eq!(dropped.offset, w.last_offset, "{what}");
    }
    // The log goes on: a new record gets the next number and survives a reopen.
    let next = wal.append(2, b"after the tear", Durability::Immediate).unwrap();
    assert_eq!(next, kept as u64 + 1, "{what}");
    drop(wal);
    let (_, _, again) = open_collect(Arc::new(fs), &w.dir, opts(), 1).unwrap();
    assert_eq!(again.len(), kept + 1, "{what}: after reopening");
}

/// The sector tears of the last record: for each subset of its `sector`-byte sectors (every
/// subset up to 8 sectors, else `samples` random ones), the record's bytes in kept sectors and
/// zeros (or garbage) in the others.
fn sector_tears(
    w: &Written,
    bytes: &[u8],
    sector: u64,
    samples: u64,
    seed: u64,
) -> Vec<(Vec<u8>, bool, String)> {
    let start = w.last_offset;
    let end = start + w.last_len as u64;
    let first = start / sector;
    let count = (end - 1) / sector - first + 1;
    let masks: Vec<u64> = if count <= 8 {
        (0..(1u64 << count) - 1).collect()
    } else {
        (0..samples)
            .map(|i| noise(seed ^ i, 8).iter().fold(0u64, |a, &b| a << 8 | u64::from(b)))
            .collect()
    };
    let mut tears = Vec::new();
    for mask in masks {
        for lost_as_garbage in [false, true] {
            let mut torn = bytes.to_vec();
            let mut whole = true;
            for s in 0..count {
                if count <= 64 && mask >> s & 1 == 1 {
                    continue;
                }
                let lo = ((first + s) * sector).max(start) - start;
                let hi = ((first + s + 1) * sector).min(end) - start;
                let range = lo as usize..hi as usize;
                let fill = if lost_as_garbage {
                    noise(seed ^ mask ^ s, range.len())
                } else {
                    vec![0; range.len()]
                };
                whole &= torn[range.clone()] == fill[..];
                torn[range.clone()].copy_from_slice(&fill);
            }
            let what =
                format!("{sector}-byte sectors, kept mask {mask:#x}, garbage {lost_as_garbage}");
            tears.push((torn, whole, what));
        }
    }
    tears
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_torn_last_record_never_stops_the_log_from_opening(
        lens in proptest::collection::vec(0usize..3000, 0..12),
        pieces in proptest::collection::vec(piece(), 1..40),
        seed in any::<u64>(),
    ) {
        let w = write_log(&lens, &pieces);
        let bytes = w.records.last().map(|_| {
            let image = read_file(&w.fs, &w.last_segment);
            image[w.last_offset as usize..w.last_offset as usize + w.last_len].to_vec()
        }).unwrap();
        // Cut at every byte: the first `cut` bytes of the record reached the file.
        for cut in 0..w.last_len {
            let mut torn = bytes.clone();
            torn[cut..].fill(0);
            let whole = torn == bytes;
            check_tear(&w, &torn, whole, &format!("cut after {cut} of {} bytes", w.last_len));
        }
        for sector in [512, 4096] {
            for (torn, whole, what) in sector_tears(&w, &bytes, sector, 48, seed) {
                check_tear(&w, &torn, whole, &what);
            }
        }
    }

    #[test]
    fn damage_before_a_good_record_is_still_corruption(
        lens in proptest::collection::vec(1usize..600, 2..10),
        victim in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let w = write_log(&lens, &[Piece::Noise(vec![1, 2, 3])]);
        // A record of the last segment that has a good record after it.
        let image = read_file(&w.fs, &w.last_segment);
        let header = SegmentHeader::decode(&image).unwrap();
        let scan = chainstore_engine::wal::scan::scan_segment(&image, header.number, None);
        prop_assume!(scan.records.len() >= 2);
        let r = scan.records[victim.index(scan.records.len() - 1)];
        let at = r.offset + byte.index(r.len);
        let fs = w.fs.fork();
        let file = fs.open(&w.last_segment, OpenMode::ReadWrite).unwrap();
        write_all_at(&*file, &[image[at] ^ flip], at as u64).unwrap();
        file.sync_data().unwrap();
        drop(file);
        match open_collect(Arc::new(fs), &w.dir, opts(), 1) {
            Err(WalError::Corruption(c)) => {
                prop_assert_eq!(c.offset, r.offset as u64);
                prop_assert_eq!(&c.segment, &w.last_segment);
            }
            Ok(_) => prop_assert!(false, "damage at byte {} of record {} accepted", at, r.seq),
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        let strict = WalOptions { recovery: RecoveryMode::Strict, ..opts() };
        prop_assert!(open_collect(Arc::new(w.fs.fork()), &w.dir, strict, 1).is_ok());
    }
}
