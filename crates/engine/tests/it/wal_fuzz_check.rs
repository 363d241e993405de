//! The invariants of the log's decoders, checked on arbitrary bytes: the entry point of the
//! `wal_decode` fuzz target (`fuzz/fuzz_targets/wal_decode.rs` includes this file) and of the
//! stable corpus test (`wal_fuzz_corpus`).
//!
//! Only the public `chainstore_engine::wal::{format, scan}` API is used, so the file compiles in
//! both places. A broken invariant panics, which is what a fuzzer reports.

use chainstore_engine::wal::format::{
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader, decode_record, encode_record,
};
use chainstore_engine::wal::scan::{DamageKind, SegmentScan, scan_segment};

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
    check_record(data);
    if data.len() > SEGMENT_HEADER_LEN {
        check_record(&data[SEGMENT_HEADER_LEN..]);
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
            // Everything but the reserved bytes (and so the checksum) is what was decoded.
            assert_eq!(encoded[..40], data[..40], "header decode/encode differ");
            assert_eq!(SegmentHeader::decode(&encoded), Ok(h), "header round trip");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn check_record(data: &[u8]) {
    match decode_record(data) {
        Ok(None) => {
            let head = &data[..data.len().min(RECORD_HEADER_LEN)];
            assert!(head.iter().all(|&b| b == 0), "end marker with non-zero bytes");
        }
        Ok(Some((rec, len))) => {
            assert!(len <= data.len(), "record longer than its input");
            assert_eq!(len, RECORD_HEADER_LEN + rec.payload.len());
            assert_ne!(rec.ty, 0, "record of type 0 accepted");
            let mut again = Vec::new();
            encode_record(&mut again, rec.seq, rec.ty, rec.payload);
            assert_eq!(again, data[..len], "record decode/encode differ");
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
        let rec = SegmentScan::record(data, pos).expect("a scanned record must decode");
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

/// Encodes a record made of the input (sequence number, type and payload) and decodes it back.
fn check_encode_round_trip(data: &[u8]) {
    let seq = le_u64(data, 0).unwrap_or(data.len() as u64);
    let ty = data.get(8).copied().unwrap_or(1).max(1);
    let payload = data.get(9..).unwrap_or_default();
    let mut buf = Vec::new();
    encode_record(&mut buf, seq, ty, payload);
    let (rec, len) = decode_record(&buf).expect("encoded record must decode").expect("not end");
    assert_eq!((rec.seq, rec.ty, rec.payload, len), (seq, ty, payload, buf.len()));
}

/// `data` with the segment header checksum and the checksums of the records that follow it
/// recomputed, walking the records by their length fields as a scan would.
pub(crate) fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if out.len() < SEGMENT_HEADER_LEN {
        return out;
    }
    let crc = crc32c::crc32c(&out[..44]);
    out[44..48].copy_from_slice(&crc.to_le_bytes());
    let mut at = SEGMENT_HEADER_LEN;
    while at + RECORD_HEADER_LEN <= out.len() {
        let Some(len) = le_u32(&out, at + 4) else { break };
        let Some(end) = (at + RECORD_HEADER_LEN).checked_add(len as usize) else { break };
        if end > out.len() || out[at..at + RECORD_HEADER_LEN].iter().all(|&b| b == 0) {
            break;
        }
        let crc = crc32c::crc32c(&out[at + 4..end]);
        out[at..at + 4].copy_from_slice(&crc.to_le_bytes());
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
