//! `wal::read_from`, the read-only read of the log from a remembered position: with a hint that
//! checks out it reads only from there, with any other hint it reads the whole log, and either
//! way it hands over exactly the records a writer's open would, changing nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chainstore_engine::vfs::{FaultFs, Vfs};
use chainstore_engine::wal::{self, Durability, LogPosition, RecoveryMode, RecoveryReport, Result};

use crate::common::{Rec, open_collect, payload, small_opts};

const SEGMENT_SIZE: u64 = 2048;
const RECORDS: u64 = 60;

/// A log of `RECORDS` records of 0 to 300 bytes in 2 KiB segments (many of them), and the
/// position the writer remembers for each record.
fn setup() -> (FaultFs, PathBuf, Vec<Rec>, Vec<LogPosition>) {
    let fs = FaultFs::new();
    let dir = PathBuf::from("/log");
    let (wal, _, _) =
        open_collect(Arc::new(fs.clone()), &dir, small_opts(SEGMENT_SIZE), 1).unwrap();
    let mut written = Vec::new();
    let mut positions = Vec::new();
    for i in 0..RECORDS {
        let p = payload(i, 300);
        let seq = wal.append(1, &p, Durability::Immediate).unwrap();
        written.push((seq, 1, p));
        // The newest record is always remembered exactly.
        positions.push(wal.position_at_or_before(seq).unwrap());
        assert_eq!(positions.last().unwrap().seq, seq);
    }
    drop(wal);
    (fs, dir, written, positions)
}

fn read(
    fs: &FaultFs,
    dir: &Path,
    from: u64,
    hint: Option<LogPosition>,
) -> Result<(RecoveryReport, Vec<Rec>)> {
    let mut seen = Vec::new();
    let report = wal::read_from(fs, dir, RecoveryMode::TolerateTornTail, from, hint, &mut |r| {
        seen.push((r.seq, r.ty, r.payload.to_vec()))
    })?;
    Ok((report, seen))
}

/// Every file of the log with its contents.
fn files(fs: &FaultFs, dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut names = fs.list(dir).unwrap();
    names.sort();
    names.into_iter().map(|n| (n.clone(), fs.contents(&dir.join(n)).unwrap())).collect()
}

#[test]
fn a_good_hint_reads_from_there_and_any_other_reads_everything() {
    let (fs, dir, written, positions) = setup();
    let before = files(&fs, &dir);
    assert!(before.len() >= 5, "only {} segments", before.len());
    for from in 1..=RECORDS + 1 {
        let expected: Vec<Rec> = written.iter().filter(|r| r.0 >= from).cloned().collect();
        let (full, seen) = read(&fs, &dir, from, None).unwrap();
        assert_eq!(seen, expected, "from {from} without a hint");
        assert_eq!(full.records, RECORDS);
        for p in positions.iter().filter(|p| p.seq <= from) {
            let (report, seen) = read(&fs, &dir, from, Some(*p)).unwrap();
            assert_eq!(seen, expected, "from {from}, hint {p:?}");
            // Only the records from the hint on were read.
            assert_eq!(report.records, RECORDS - p.seq + 1, "from {from}, hint {p:?}");
            assert_eq!(report.seq_range.unwrap().1, RECORDS);
        }
        let Some(near) = positions.iter().rev().find(|p| p.seq <= from).copied() else { continue };
        let wrong = [
            LogPosition { offset: near.offset + 1, ..near },
            LogPosition { offset: near.offset - 1, ..near },
            LogPosition { offset: SEGMENT_SIZE - 5, ..near },
            LogPosition { offset: u64::MAX - 3, ..near },
            LogPosition { offset: 0, ..near },
            LogPosition { seq: near.seq - 1, ..near },
            LogPosition { segment: near.segment + 1, ..near },
            LogPosition { segment: 10_000, ..near },
            // A position past `from` would skip records: never used.
            LogPosition { seq: from + 1, ..near },
        ];
        for hint in wrong {
            let (report, seen) = read(&fs, &dir, from, Some(hint)).unwrap();
            assert_eq!(seen, expected, "from {from}, wrong hint {hint:?}");
            let used = hint.seq == near.seq && hint.offset == near.offset;
            assert!(used || report.records == RECORDS, "from {from}: {hint:?} was trusted");
        }
    }
    assert_eq!(files(&fs, &dir), before, "reading changed the log");
}

#[test]
fn a_torn_tail_is_reported_and_left_alone() {
    let (fs, dir, written, positions) = setup();
    // Tear the last record: keep its header, cut its payload.
    let last = *positions.last().unwrap();
    let path = dir.join(format!("{:020}.wal", last.segment));
    let mut image = fs.contents(&path).unwrap();
    let end = last.offset as usize + 21 + written.last().unwrap().2.len();
    assert!(end - last.offset as usize > 22, "the last record has a payload");
    image[end - 1] ^= 0xff;
    fs.set_contents(&path, image).unwrap();
    let before = files(&fs, &dir);
    let expected: Vec<Rec> = written[..written.len() - 1].iter().skip(40).cloned().collect();
    for hint in [None, Some(positions[30]), Some(positions[40]), Some(last)] {
        let (report, seen) = read(&fs, &dir, 41, hint).unwrap();
        assert_eq!(seen, expected, "hint {hint:?}");
        let dropped = report.dropped.unwrap();
        assert!(dropped.torn_tail, "{dropped:?}");
        assert_eq!(dropped.offset, last.offset);
    }
    assert_eq!(files(&fs, &dir), before, "reading changed the log");
    // A writer's open then sees the same records, and zeroes the tail.
    let (_, report, seen) =
        open_collect(Arc::new(fs.clone()), &dir, small_opts(SEGMENT_SIZE), 41).unwrap();
    assert_eq!(seen, expected);
    assert!(report.dropped.unwrap().torn_tail);
}

/// Damage before the position is not read, so it does not stop a read from there (a writer's
/// open, which reads everything, refuses the log).
#[test]
fn damage_before_the_hint_is_not_read() {
    let (fs, dir, written, positions) = setup();
    let early = positions[2];
    let path = dir.join(format!("{:020}.wal", early.segment));
    let mut image = fs.contents(&path).unwrap();
    image[early.offset as usize + 21] ^= 0x01; // a payload byte of record 3
    fs.set_contents(&path, image).unwrap();
    let (_, seen) = read(&fs, &dir, 51, Some(positions[49])).unwrap();
    assert_eq!(seen, written[50..].to_vec());
    assert!(read(&fs, &dir, 51, None).is_err(), "a whole read finds the damage");
    assert!(open_collect(Arc::new(fs.clone()), &dir, small_opts(SEGMENT_SIZE), 51).is_err());
}

#[test]
fn a_missing_log_directory_is_an_empty_log() {
    let fs = FaultFs::new();
    let (report, seen) = read(&fs, Path::new("/nowhere"), 1, None).unwrap();
    assert_eq!((report.records, seen.len()), (0, 0));
}

/// The positions the writer remembers after a reopen (from recovery) and after truncation.
#[test]
fn positions_survive_reopen_and_truncation() {
    let (fs, dir, written, _) = setup();
    let (wal, _, _) =
        open_collect(Arc::new(fs.clone()), &dir, small_opts(SEGMENT_SIZE), 1).unwrap();
    for seq in [1, 17, RECORDS] {
        let p = wal.position_at_or_before(seq).unwrap();
        assert!(p.seq <= seq);
        let (_, seen) = read(&fs, &dir, seq, Some(p)).unwrap();
        assert_eq!(seen, written[seq as usize - 1..].to_vec());
    }
    wal.truncate_through(40).unwrap();
    let p = wal.position_at_or_before(45).unwrap();
    assert!(p.seq <= 45 && p.seq > 30, "{p:?}");
    assert_eq!(wal.position_at_or_before(5), None, "positions in removed segments are gone");
    let (report, seen) = read(&fs, &dir, 46, Some(p)).unwrap();
    assert_eq!(seen, written[45..].to_vec());
    assert_eq!(report.records, RECORDS - p.seq + 1);
}
