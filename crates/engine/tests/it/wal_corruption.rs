//! Corruption matrix of the commit log on real files.
//!
//! A fixed workload (30 records of 300 bytes, 4 KiB segments: 12 + 12 + 6 records in three
//! segments) is written once. Then, for every region class (segment header, record header check,
//! length, type, sequence number, payload checksum and payload fields, the bytes after the data)
//! at the first,
//! middle and last record of every segment, every kind of damage (bit flips, zeroing, garbage,
//! truncation of the file, garbage after the data / past the end of the file) is applied to a fresh
//! copy, and the copy is opened in every [`RecoveryMode`].
//!
//! The expected outcome of each case comes from the table in [`expected`], which restates the
//! documented recovery semantics; the layout of the workload is computed from the documented byte
//! format (and checked against the files the log wrote). Every case also checks: no panic, no hang,
//! the records handed over are exactly a gap-free prefix of those written, a failed or `Strict`
//! open modifies nothing, a repair saves what it drops, and after a successful open the log takes
//! new appends and reopens clean.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use chainstore_engine::vfs::RealFs;
use chainstore_engine::wal::{Durability, RecoveryMode, RecoveryReport, WalError, WalOptions};

use crate::common::{Rec, open_collect};

const SEGMENT_SIZE: u64 = 4096;
const RECORDS: usize = 30;
const PAYLOAD_LEN: usize = 300;
/// From the documented format: a 56-byte segment header and a 21-byte record header.
const SEGMENT_HEADER_LEN: u64 = 56;
const RECORD_HEADER_LEN: u64 = 21;
const RECORD_LEN: u64 = RECORD_HEADER_LEN + PAYLOAD_LEN as u64;
const MODES: [RecoveryMode; 3] =
    [RecoveryMode::TolerateTornTail, RecoveryMode::Strict, RecoveryMode::RepairToLastGood];
/// Generous: a case takes about a millisecond; a hang is anything that takes this long.
const CASE_DEADLINE: Duration = Duration::from_secs(20);

/// Where the records of the workload are: per segment, the offsets of its records, computed from
/// the documented format (records are never split; a record that does not fit starts a new
/// segment).
#[derive(Debug)]
struct Layout {
    /// Per segment (index 0 = segment number 1): the offsets of its records.
    segments: Vec<Vec<u64>>,
}

impl Layout {
    fn of_workload() -> Self {
        let mut segments = vec![Vec::new()];
        let mut offset = SEGMENT_HEADER_LEN;
        for _ in 0..RECORDS {
            if offset + RECORD_LEN > SEGMENT_SIZE {
                segments.push(Vec::new());
                offset = SEGMENT_HEADER_LEN;
            }
            segments.last_mut().unwrap().push(offset);
            offset += RECORD_LEN;
        }
        Self { segments }
    }

    /// Records in the segments before `seg`.
    fn before(&self, seg: usize) -> usize {
        self.segments[..seg].iter().map(Vec::len).sum()
    }

    /// Records in `seg` and all segments before it.
    fn through(&self, seg: usize) -> usize {
        self.before(seg + 1)
    }

    /// The offset one past the last record of `seg`.
    fn data_end(&self, seg: usize) -> u64 {
        self.segments[seg].last().map_or(SEGMENT_HEADER_LEN, |o| o + RECORD_LEN)
    }

    fn is_last(&self, seg: usize) -> bool {
        seg + 1 == self.segments.len()
    }

    /// Index within its segment of the record at `pos`.
    fn index_in(&self, seg: usize, pos: Pos) -> usize {
        let n = self.segments[seg].len();
        match pos {
            Pos::First => 0,
            Pos::Middle => n / 2,
            Pos::Last => n - 1,
        }
    }
}

/// The workload's record `i` (0-based): sequence number `i + 1`, types 1..=3, non-zero payload.
fn workload_record(i: usize) -> Rec {
    let payload = (0..PAYLOAD_LEN).map(|j| 1 + ((i * 7 + j * 13) % 251) as u8).collect();
    (i as u64 + 1, 1 + (i % 3) as u8, payload)
}

/// The documented position key of a record: MurmurHash3's `fmix64` of the offset XOR the salt
/// (repeated in both halves) times the 64-bit golden ratio, truncated to 32 bits.
fn position_key(salt: u32, offset: u64) -> u32 {
    let salt = u64::from(salt);
    let mut x = offset ^ (salt << 32 | salt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for m in [0xff51_afd7_ed55_8ccd_u64, 0xc4ce_b9fe_1a85_ec53] {
        x ^= x >> 33;
        x = x.wrapping_mul(m);
    }
    (x ^ x >> 33) as u32
}

/// The documented encoding, written independently of the engine's encoder, for a segment whose
/// random salt is `salt`.
fn reference_segment(number: u64, salt: u32, records: &[Rec]) -> Vec<u8> {
    let first_seq = records.first().map_or(1, |r| r.0);
    let mut img = Vec::new();
    img.extend_from_slice(b"CSWALSEG");
    img.extend_from_slice(&2u32.to_le_bytes());
    img.extend_from_slice(&56u32.to_le_bytes());
    img.extend_from_slice(&number.to_le_bytes());
    img.extend_from_slice(&first_seq.to_le_bytes());
    img.extend_from_slice(&(first_seq - 1).to_le_bytes());
    img.extend_from_slice(&SEGMENT_SIZE.to_le_bytes());
    img.extend_from_slice(&salt.to_le_bytes());
    let crc = crc32c::crc32c(&img);
    img.extend_from_slice(&crc.to_le_bytes());
    for (seq, ty, payload) in records {
        let mut header = Vec::new();
        header.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        header.push(*ty);
        header.extend_from_slice(&seq.to_le_bytes());
        header.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        let check = crc32c::crc32c(&header) ^ position_key(salt, img.len() as u64);
        img.extend_from_slice(&check.to_le_bytes());
        img.extend_from_slice(&header);
        img.extend_from_slice(payload);
    }
    img.resize(SEGMENT_SIZE as usize, 0);
    img
}

/// File name → contents of every file in a directory.
type Snapshot = BTreeMap<String, Vec<u8>>;

fn snapshot(dir: &Path) -> Snapshot {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn segment_name(seg: usize) -> String {
    format!("{:020}.wal", seg + 1)
}

/// The segment index (0-based) a log file path names.
fn segment_of(path: &Path) -> usize {
    let name = path.file_name().unwrap().to_str().unwrap();
    let number: usize = name.strip_suffix(".wal").unwrap().parse().unwrap();
    number - 1
}

/// A scratch directory on a RAM-backed file system when there is one (the matrix runs thousands of
/// fsyncs), on the default temporary directory otherwise.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn opts(mode: RecoveryMode) -> WalOptions {
    WalOptions { segment_size: SEGMENT_SIZE, recovery: mode, ..WalOptions::default() }
}

/// Which record of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    First,
    Middle,
    Last,
}

/// A field of a record header, or its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Check,
    Length,
    Type,
    Seq,
    PayloadChecksum,
    Payload,
    /// The whole record, header and payload.
    Whole,
}

impl Field {
    fn range(self) -> Range<u64> {
        match self {
            Field::Check => 0..4,
            Field::Length => 4..8,
            Field::Type => 8..9,
            Field::Seq => 9..17,
            Field::PayloadChecksum => 17..21,
            Field::Payload => RECORD_HEADER_LEN..RECORD_LEN,
            Field::Whole => 0..RECORD_LEN,
        }
    }
}

/// Where after the data of a segment garbage goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Right where the next record would start (as a torn append leaves).
    DataEnd,
    /// After an intact end marker (21 zero bytes) in the preallocated zeros.
    EndMarker,
    /// Past the end of the file.
    FileEnd,
}

/// The bytes a case damages. Segments are 0-based indexes (segment number - 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Header {
        seg: usize,
    },
    Record {
        seg: usize,
        pos: Pos,
        field: Field,
    },
    AfterData {
        seg: usize,
        at: After,
    },
    /// The whole segment file.
    Segment {
        seg: usize,
    },
}

/// What is done to the target bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// Flip the lowest bit of the first byte.
    FlipLow,
    /// Flip the highest bit of the last byte.
    FlipHigh,
    /// Set every byte to zero.
    Zero,
    /// Change every byte to a different pseudo-random value.
    Garbage,
    /// Truncate the file at the first byte.
    Truncate,
    /// Write non-zero pseudo-random bytes (only for [`Target::AfterData`]).
    Append,
    /// Delete the file (only for [`Target::Segment`]).
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Case {
    target: Target,
    damage: Damage,
    mode: RecoveryMode,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} / {:?} / {:?}", self.target, self.damage, self.mode)
    }
}

/// Where the good data ends: segment index and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    seg: usize,
    offset: u64,
}

/// The observable outcome of opening a damaged log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Opened with nothing reported dropped.
    Clean { records_kept: usize },
    /// Opened after truncating a torn tail (reported with `torn_tail: true`).
    TornTail { records_kept: usize, at: At },
    /// Refused with [`WalError::Corruption`] naming where the good data ends.
    Corruption { at: At },
    /// Opened after a repair (reported with `torn_tail: false`).
    Repaired { records_kept: usize, at: At },
}

/// How the recovery semantics classify a damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Nothing on disk shows the damage (records lost at a record boundary at the end of the last
    /// segment look exactly like records never written).
    Undetectable,
    /// Bad bytes at the end of the last segment with no good record after them.
    TornTail,
    /// Anything else.
    Hard,
    /// The records the caller asks for (from sequence number 1) are not in the log at all, so
    /// there is no good prefix to keep: an error even for a repair.
    Unrecoverable,
}

/// The expectation table: what each damage is, by the documented semantics, and how many records
/// (a prefix of the workload) survive it. `at` is where the good data ends.
fn classify(layout: &Layout, target: Target, damage: Damage) -> (Class, usize, At) {
    use Class::*;
    match target {
        // A segment header is written whole before the segment is renamed into place, so a bad one
        // is never a torn write: hard, in any segment. What precedes the segment survives.
        Target::Header { seg } => (Hard, layout.before(seg), At { seg, offset: 0 }),
        Target::Record { seg, pos, field } => {
            let index = layout.index_in(seg, pos);
            let kept = layout.before(seg) + index;
            let offset = layout.segments[seg][index];
            let last_seg = layout.is_last(seg);
            let last_record = index + 1 == layout.segments[seg].len();
            // The segment's data now ends cleanly before this record: the whole last record of
            // the segment is zeroed, and zeros are the end marker.
            let ends_here = damage == Damage::Zero && field == Field::Whole && last_record;
            match (ends_here, damage, last_seg, last_record) {
                // A segment file is created at full length and never shrinks: a shorter file is
                // hard damage wherever it is cut, even at a record boundary.
                (_, Damage::Truncate, _, _) => (Hard, kept, At { seg, offset }),
                // In the last segment that looks exactly like records never written: nothing is
                // detectable.
                (true, _, true, _) => (Undetectable, kept, At::ZERO),
                // In an earlier segment, the next segment's header says records are missing.
                (true, _, false, _) => (Hard, kept, At { seg: seg + 1, offset: 0 }),
                // Any changed byte breaks the checksum (a zeroed record reads as the end marker
                // followed by non-zero bytes). The last record of the last segment is then
                // indistinguishable from a torn write; anywhere else, either a good record follows
                // in the same segment or the segment is not the last: hard.
                (false, _, true, true) => (TornTail, kept, At { seg, offset }),
                _ => (Hard, kept, At { seg, offset }),
            }
        }
        // Non-zero bytes after the data: a torn tail in the last segment (every record kept),
        // hard damage in an earlier one (whose records are kept by a repair, later ones not).
        // Bytes past the file's created length are hard damage anywhere.
        Target::AfterData { seg, at: after } => {
            let at = At { seg, offset: layout.data_end(seg) };
            let class =
                if layout.is_last(seg) && after != After::FileEnd { TornTail } else { Hard };
            (class, layout.through(seg), at)
        }
        // A missing segment. The last one: its records look never written. The first one: the
        // log starts after the records asked for. Any other: the next segment's number is not the
        // one expected.
        Target::Segment { seg } if layout.is_last(seg) => {
            (Undetectable, layout.before(seg), At::ZERO)
        }
        Target::Segment { seg: 0 } => (Unrecoverable, 0, At { seg: 1, offset: 0 }),
        Target::Segment { seg } => (Hard, layout.before(seg), At { seg: seg + 1, offset: 0 }),
    }
}

impl At {
    const ZERO: At = At { seg: 0, offset: 0 };
}

/// The outcome each mode must produce for a class of damage.
fn expected(layout: &Layout, case: Case) -> Outcome {
    let (class, records_kept, at) = classify(layout, case.target, case.damage);
    match (class, case.mode) {
        (Class::Undetectable, _) => Outcome::Clean { records_kept },
        (Class::Unrecoverable, _) => Outcome::Corruption { at },
        (Class::TornTail, RecoveryMode::TolerateTornTail) => Outcome::TornTail { records_kept, at },
        (_, RecoveryMode::RepairToLastGood) => Outcome::Repaired { records_kept, at },
        (_, _) => Outcome::Corruption { at },
    }
}

fn all_cases(layout: &Layout) -> Vec<Case> {
    let byte_damages =
        [Damage::FlipLow, Damage::FlipHigh, Damage::Zero, Damage::Garbage, Damage::Truncate];
    let fields = [
        Field::Check,
        Field::Length,
        Field::Type,
        Field::Seq,
        Field::PayloadChecksum,
        Field::Payload,
        Field::Whole,
    ];
    let mut targets = Vec::new();
    for seg in 0..layout.segments.len() {
        targets.extend(byte_damages.map(|d| (Target::Header { seg }, d)));
        for pos in [Pos::First, Pos::Middle, Pos::Last] {
            for field in fields {
                targets.extend(byte_damages.map(|d| (Target::Record { seg, pos, field }, d)));
            }
        }
        for at in [After::DataEnd, After::EndMarker, After::FileEnd] {
            targets.push((Target::AfterData { seg, at }, Damage::Append));
        }
        targets.push((Target::Segment { seg }, Damage::Delete));
    }
    targets
        .into_iter()
        .flat_map(|(target, damage)| MODES.map(|mode| Case { target, damage, mode }))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift), never zero.
struct Rng(u64);

impl Rng {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        1 + (self.0 % 255) as u8
    }
}

/// Applies the damage of `case` to a copy of the pristine files.
fn damage(layout: &Layout, pristine: &Snapshot, case: Case) -> Snapshot {
    let mut files = pristine.clone();
    let (seg, range) = match case.target {
        Target::Header { seg } => (seg, 0..SEGMENT_HEADER_LEN),
        Target::Record { seg, pos, field } => {
            let start = layout.segments[seg][layout.index_in(seg, pos)];
            let r = field.range();
            (seg, start + r.start..start + r.end)
        }
        Target::AfterData { seg, at } => {
            let end = layout.data_end(seg);
            let start = match at {
                After::DataEnd => end,
                After::EndMarker => end + RECORD_HEADER_LEN + 7,
                After::FileEnd => SEGMENT_SIZE,
            };
            (seg, start..start + 40)
        }
        Target::Segment { seg } => {
            files.remove(&segment_name(seg));
            return files;
        }
    };
    let file = files.get_mut(&segment_name(seg)).unwrap();
    let range = range.start as usize..range.end as usize;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (range.start as u64) << 8 ^ seg as u64);
    match case.damage {
        Damage::FlipLow => file[range.start] ^= 0x01,
        Damage::FlipHigh => file[range.end - 1] ^= 0x80,
        Damage::Zero => file[range].fill(0),
        Damage::Garbage => file[range].iter_mut().for_each(|b| *b ^= rng.byte()),
        Damage::Truncate => file.truncate(range.start),
        Damage::Delete => unreachable!("only for whole segments"),
        Damage::Append => {
            if file.len() < range.end {
                file.resize(range.end, 0);
            }
            file[range].iter_mut().for_each(|b| *b = rng.byte());
        }
    }
    assert_ne!(&files, pristine, "{case}: the damage changed nothing");
    files
}

fn write_snapshot(dir: &Path, files: &Snapshot) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Writes the workload through the log and checks the files against the documented format.
fn pristine_log(layout: &Layout) -> (Snapshot, Vec<Rec>) {
    let dir = scratch_dir();
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts(RecoveryMode::Strict), 1)
        .expect("open empty log");
    let written: Vec<Rec> = (0..RECORDS).map(workload_record).collect();
    for (seq, ty, payload) in &written {
        assert_eq!(wal.append(*ty, payload, Durability::Immediate).unwrap(), *seq);
    }
    drop(wal);
    let files = snapshot(dir.path());
    let mut next = 0;
    let reference: Snapshot = layout
        .segments
        .iter()
        .enumerate()
        .map(|(seg, offsets)| {
            let records = &written[next..next + offsets.len()];
            next += offsets.len();
            let name = segment_name(seg);
            let salt = u32::from_le_bytes(files[&name][48..52].try_into().unwrap());
            (name, reference_segment(seg as u64 + 1, salt, records))
        })
        .collect();
    assert_eq!(layout.segments.len(), 3, "the workload must span three segments");
    assert!(files == reference, "the log's files differ from the documented format");
    (files, written)
}

/// Runs one case in a fresh directory; returns a description of every failed check.
fn run_case(layout: &Layout, pristine: &Snapshot, written: &[Rec], case: Case) -> Vec<String> {
    let dir = scratch_dir();
    let damaged = damage(layout, pristine, case);
    write_snapshot(dir.path(), &damaged);
    let want = expected(layout, case);
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    let result = open_collect(Arc::new(RealFs), dir.path(), opts(case.mode), 1);
    let (got, seen, report) = match result {
        Ok((wal, report, seen)) => {
            drop(wal);
            (observed(&report, seen.len()), seen, Some(report))
        }
        Err(WalError::Corruption(c)) => (
            Outcome::Corruption { at: At { seg: segment_of(&c.segment), offset: c.offset } },
            Vec::new(),
            None,
        ),
        Err(e) => return vec![format!("unexpected error: {e}")],
    };
    check(got == want, format!("expected {want:?}, got {got:?}"));
    check(
        seen.iter().zip(written).all(|(s, w)| s == w) && seen.len() <= written.len(),
        "records handed over are not a prefix of those written".into(),
    );
    let after = snapshot(dir.path());
    if case.mode == RecoveryMode::Strict || report.is_none() {
        check(after == damaged, "the files were modified".into());
    }
    if let Some(report) = report {
        check(report.records == seen.len() as u64, "report.records != records replayed".into());
        if let Some(d) = &report.dropped {
            if d.torn_tail {
                check(d.bytes > 0, "a torn tail of 0 bytes was reported".into());
                check(d.records == 0, "a torn tail with good records after it".into());
                check(d.saved_to.is_empty(), "a torn tail was saved aside".into());
            } else {
                check_saved_aside(dir.path(), d, &after, written.len() - seen.len(), &mut check);
            }
        }
        check_appends_and_reopen(dir.path(), written, seen.len(), &mut check);
    }
    failures
}

fn observed(report: &RecoveryReport, records_kept: usize) -> Outcome {
    match &report.dropped {
        None => Outcome::Clean { records_kept },
        Some(d) => {
            let at = At { seg: segment_of(&d.segment), offset: d.offset };
            if d.torn_tail {
                Outcome::TornTail { records_kept, at }
            } else {
                Outcome::Repaired { records_kept, at }
            }
        }
    }
}

/// A repair must save every byte it drops into the files it names, and may report as dropped at
/// most the records that were not kept.
fn check_saved_aside(
    dir: &Path,
    d: &chainstore_engine::wal::Dropped,
    after: &Snapshot,
    not_kept: usize,
    check: &mut impl FnMut(bool, String),
) {
    let saved: Vec<&Vec<u8>> =
        d.saved_to.iter().filter_map(|p| after.get(p.file_name()?.to_str()?)).collect();
    check(saved.len() == d.saved_to.len(), format!("saved files missing: {:?}", d.saved_to));
    let names_ok = d
        .saved_to
        .iter()
        .all(|p| p.parent() == Some(dir) && p.to_string_lossy().contains(".dropped"));
    check(names_ok, format!("saved files not *.dropped in the log directory: {:?}", d.saved_to));
    let saved_bytes: u64 = saved.iter().map(|b| b.len() as u64).sum();
    check(
        saved_bytes == d.bytes,
        format!("{} bytes reported dropped, {saved_bytes} saved", d.bytes),
    );
    check(d.records as usize <= not_kept, format!("{} records reported dropped", d.records));
}

/// After a successful open: new records get the next sequence numbers, and the log reopens in
/// `Strict` mode with nothing to report and exactly the kept prefix plus the new records.
fn check_appends_and_reopen(
    dir: &Path,
    written: &[Rec],
    kept: usize,
    check: &mut impl FnMut(bool, String),
) {
    let mut expect: Vec<Rec> = written[..kept].to_vec();
    let reopened = open_collect(Arc::new(RealFs), dir, opts(RecoveryMode::Strict), 1);
    let Ok((wal, report, seen)) = reopened else {
        return check(false, format!("reopen after recovery failed: {:?}", reopened.err()));
    };
    check(report.dropped.is_none() && seen == expect, "reopen after recovery not clean".into());
    for i in 0..3 {
        let rec: Rec = (kept as u64 + 1 + i, 2, vec![0xa5; 100 * i as usize + 1]);
        match wal.append(rec.1, &rec.2, Durability::Immediate) {
            Ok(seq) => check(seq == rec.0, format!("append got seq {seq}, expected {}", rec.0)),
            Err(e) => check(false, format!("append after recovery failed: {e}")),
        }
        expect.push(rec);
    }
    drop(wal);
    match open_collect(Arc::new(RealFs), dir, opts(RecoveryMode::Strict), 1) {
        Ok((_, report, seen)) => check(
            report.dropped.is_none() && seen == expect,
            format!("reopen after appends: {:?}, {} records", report.dropped, seen.len()),
        ),
        Err(e) => check(false, format!("reopen after appends failed: {e}")),
    }
}

/// Runs a case on its own thread so that a panic or a hang is reported against the case.
fn run_guarded(
    layout: &Arc<Layout>,
    pristine: &Arc<Snapshot>,
    written: &Arc<Vec<Rec>>,
    case: Case,
) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let (layout, pristine, written) = (layout.clone(), pristine.clone(), written.clone());
    let handle = std::thread::spawn(move || {
        let _ = tx.send(run_case(&layout, &pristine, &written, case));
    });
    match rx.recv_timeout(CASE_DEADLINE) {
        Ok(failures) => {
            let _ = handle.join();
            failures
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => vec!["panicked".into()],
        Err(mpsc::RecvTimeoutError::Timeout) => vec![format!("no result after {CASE_DEADLINE:?}")],
    }
}

#[test]
fn corruption_matrix() {
    let layout = Arc::new(Layout::of_workload());
    let (pristine, written) = pristine_log(&layout);
    let (pristine, written) = (Arc::new(pristine), Arc::new(written));
    let cases = all_cases(&layout);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for &case in &cases {
        let name = match expected(&layout, case) {
            Outcome::Clean { .. } => "clean",
            Outcome::TornTail { .. } => "torn tail",
            Outcome::Corruption { .. } => "corruption",
            Outcome::Repaired { .. } => "repaired",
        };
        *counts.entry(name).or_default() += 1;
        for f in run_guarded(&layout, &pristine, &written, case) {
            failures.push(format!("{case}: {f}"));
        }
    }
    assert!(failures.is_empty(), "{} failed checks:\n{}", failures.len(), failures.join("\n"));
    // The matrix is not vacuous: every outcome occurs, as the table says.
    assert_eq!(cases.len(), 3 * (5 + 3 * 7 * 5 + 3 + 1) * 3);
    assert!(counts.values().all(|&n| n > 0) && counts.len() == 4, "{counts:?}");
}
