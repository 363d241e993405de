//! The invariants of the log's decoders, checked on arbitrary bytes: the entry point of the
//! `wal_decode` fuzz target (`fuzz/fuzz_targets/wal_decode.rs` includes this file) and of the
//! stable corpus test (`wal_fuzz_corpus`).
//!
//! Only the public `chainstore_engine::wal::{format, scan}` API is used, so the file compiles in
//! both places. A broken invariant panics, which is what a fuzzer reports.

use chainstore_engine::wal::format::{
    FrameError, Position, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader, decode_record,
    encode_record, seal_header,
};
use chainstore_engine::wal::scan::{DamageKind, scan_segment};

/// Checks every decoder on `data` as given, and on `data` with its checksums fixed up (so that
/// random inputs also reach the code behind the checksum checks: sequence numbers, types,
/// segment numbers, the end marker, damage classification).
pub(crate) fn check(data: &[u8]) {
    check_bytes(data);
    let fixed = fix_checksums(data);
    if fixed != data {
        check_bytes(&fixed);
    }
    check_encode_round_trip(data);
}

fn check_bytes(data: &[u8]) {
    check_header(data);
    let salt = le_u32(data, 48).unwrap_or(0);
    check_record(data, Position { salt, offset: 0 });
    if data.len() > SEGMENT_HEADER_LEN {
        let at = Position { salt, offset: SEGMENT_HEADER_LEN as u64 };
        check_record(&data[SEGMENT_HEADER_LEN..], at);
    }
    let number = le_u64(data, 16).unwrap_or(1);
    let prev = le_u64(data, 32);
    check_scan(data, number, None);
    check_scan(data, number, prev);
    check_scan(data, number.wrapping_add(1), prev.map(|p| p.wrapping_sub(1)));
}

fn check_header(data: &[u8]) {
    match SegmentHeader::decode(data) {
        Ok(h) => {
            assert!(data.len() >= SEGMENT_HEADER_LEN);
            let encoded = h.encode();
            assert_eq!(encoded[..], data[..SEGMENT_HEADER_LEN], "header decode/encode differ");
            assert_eq!(SegmentHeader::decode(&encoded), Ok(h), "header round trip");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn check_record(data: &[u8], at: Position) {
    match decode_record(data, at) {
        Ok(None) => {
            let head = &data[..data.len().min(RECORD_HEADER_LEN)];
            assert!(head.iter().all(|&b| b == 0), "end marker with non-zero bytes");
        }
        Ok(Some((rec, len))) => {
            assert!(len <= data.len(), "record longer than its input");
            assert_eq!(len, RECORD_HEADER_LEN + rec.payload.len());
            assert_ne!(rec.ty, 0, "record of type 0 accepted");
            let mut again = Vec::new();
            encode_record(&mut again, at, rec.seq, rec.ty, rec.payload);
            assert_eq!(again, data[..len], "record decode/encode differ");
            let elsewhere = Position { offset: at.offset + 1, ..at };
            assert!(decode_record(data, elsewhere).is_err(), "record valid at another offset");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn check_scan(data: &[u8], number: u64, prev_last: Option<u64>) {
    let scan = scan_segment(data, number, prev_last);
    let _ = scan.last_seq();
    assert!(scan.end <= data.len(), "end {} past the image ({} bytes)", scan.end, data.len());
    let Some(header) = scan.header else {
        assert!(scan.records.is_empty() && scan.end == 0, "records without a header");
        let damage = scan.damage.expect("a segment without a header must be damaged");
        assert_eq!((damage.offset, damage.kind), (0, DamageKind::Hard));
        return;
    };
    assert_eq!(SegmentHeader::decode(data), Ok(header), "scan header differs from decode");
    assert_eq!(header.number, number, "header of another segment accepted");
    if let Some(p) = prev_last {
        assert_eq!(header.prev_last_seq, p, "header does not continue the previous segment");
    }
    let mut offset = SEGMENT_HEADER_LEN;
    let mut seq = header.first_seq;
    for pos in &scan.records {
        assert_eq!((pos.offset, pos.seq), (offset, seq), "records not consecutive");
        let rec = scan.record(data, pos).expect("a scanned record must decode");
        assert_eq!(rec.seq, pos.seq);
        assert_eq!(pos.len, RECORD_HEADER_LEN + rec.payload.len());
        offset += pos.len;
        seq = seq.wrapping_add(1);
    }
    assert_eq!(scan.end, offset, "end is not one past the last record");
    match &scan.damage {
        None => assert!(data[scan.end..].iter().all(|&b| b == 0), "undetected non-zero tail"),
        Some(d) => {
            assert_eq!(d.offset, scan.end, "damage not where the good data ends");
            assert!(d.dirty_end >= d.offset && d.dirty_end <= data.len().max(d.offset));
            if d.kind == DamageKind::Tail {
                assert_eq!(d.later_records, 0, "tail damage with good records after it");
            }
        }
    }
}

/// Encodes a record made of the input (sequence number, type and payload) and decodes it back,
/// where it was written and (failing) somewhere else.
fn check_encode_round_trip(data: &[u8]) {
    let seq = le_u64(data, 0).unwrap_or(data.len() as u64);
    let ty = data.get(8).copied().unwrap_or(1).max(1);
    let salt = le_u32(data, 9).unwrap_or(7);
    let payload = data.get(13..).unwrap_or_default();
    let at = Position { salt, offset: data.len() as u64 };
    let mut buf = Vec::new();
    encode_record(&mut buf, at, seq, ty, payload);
    let (rec, len) = decode_record(&buf, at).expect("encoded record must decode").expect("not end");
    assert_eq!((rec.seq, rec.ty, rec.payload, len), (seq, ty, payload, buf.len()));
    let other_salt = Position { salt: salt ^ 1, ..at };
    assert_eq!(decode_record(&buf, other_salt), Err(FrameError::BadRecordHeader));
}

/// `data` with the segment header checksum and the checks of the records that follow it
/// recomputed (payload checksums, and header checks for their position under the header's salt),
/// walking the records by their length fields as a scan would.
pub(crate) fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if out.len() < SEGMENT_HEADER_LEN {
        return out;
    }
    let crc = crc32c::crc32c(&out[..52]);
    out[52..56].copy_from_slice(&crc.to_le_bytes());
    let salt = le_u32(&out, 48).unwrap_or(0);
    let mut at = SEGMENT_HEADER_LEN;
    while at + RECORD_HEADER_LEN <= out.len() {
        let Some(len) = le_u32(&out, at + 4) else { break };
        let Some(end) = (at + RECORD_HEADER_LEN).checked_add(len as usize) else { break };
        if end > out.len() || out[at..at + RECORD_HEADER_LEN].iter().all(|&b| b == 0) {
            break;
        }
        let crc = crc32c::crc32c(&out[at + RECORD_HEADER_LEN..end]);
        out[at + 17..at + RECORD_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        seal_header(&mut out[at..at + RECORD_HEADER_LEN], Position { salt, offset: at as u64 });
        at = end;
    }
    out
}

fn le_u64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

fn le_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}
