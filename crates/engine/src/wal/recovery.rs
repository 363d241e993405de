//! Opening a log directory: find the segments, check every record, deal with damage according to
//! the [`RecoveryMode`], and hand the good records to the caller.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::error::{Result, WalError};
use super::format::{
    RECORD_HEADER_LEN, Record, SEGMENT_HEADER_LEN, SegmentHeader, decode_record_header,
};
use super::position::{LogPosition, Marks};
use super::reader::{ReadBuf, SegmentReader};
use super::scan::{DamageKind, RecordPos, Scanner, SegmentScan, scan_segment};
use crate::vfs::{OpenMode, Vfs, read_all, read_exact_at, write_all_at, write_zeros};

/// What to do with damage found when opening the log. See `docs/recovery.md`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Default. A torn tail (bad bytes at the end of the last segment with no good record after
    /// them, as an interrupted write leaves) is truncated and reported; any other damage is a
    /// [`WalError::Corruption`].
    #[default]
    TolerateTornTail,
    /// Any damage, a torn tail included, is a [`WalError::Corruption`]; nothing is modified.
    Strict,
    /// Explicit repair: keeps the longest good prefix of the log and moves everything after the
    /// first damage aside (into `*.dropped` files), reporting the records and bytes dropped.
    RepairToLastGood,
}

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments opened.
    pub segments: usize,
    /// Good records in the log.
    pub records: u64,
    /// Records handed to the replay callback (those at or after the requested sequence number).
    pub replayed: u64,
    /// Bytes of good records.
    pub record_bytes: u64,
    /// First and last sequence number of the good records.
    pub seq_range: Option<(u64, u64)>,
    /// Leftover temporary files (from a crash while creating a segment) that were removed.
    pub removed_temp_files: usize,
    /// What was truncated or moved aside, if anything.
    pub dropped: Option<Dropped>,
}

/// Data removed from the log by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// `true` for a torn tail (an interrupted write, `TolerateTornTail`), `false` for a repair.
    pub torn_tail: bool,
    /// The segment where the good data ends.
    pub segment: PathBuf,
    /// The offset in that segment.
    pub offset: u64,
    /// What was wrong there.
    pub detail: String,
    /// Bytes dropped (in that segment and in whole later segments).
    pub bytes: u64,
    /// Good-looking records among the dropped bytes.
    pub records: u64,
    /// Files the dropped bytes were saved to (repair only).
    pub saved_to: Vec<PathBuf>,
}

/// The state of the log after recovery, from which the writer starts.
#[derive(Debug)]
pub(super) struct Recovered {
    pub(super) report: RecoveryReport,
    /// Live segments: (number, first_seq, prev_last_seq, bytes used), oldest first.
    pub(super) segments: Vec<SegmentInfo>,
    /// Offset one past the last record of the last segment.
    pub(super) end: u64,
    /// Sequence number of the last record in the log (or the last one before an empty log).
    pub(super) last_seq: Option<u64>,
    /// Where the records found start (some of them), for the writer.
    pub(super) marks: Marks,
}

/// A live segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SegmentInfo {
    pub(super) number: u64,
    pub(super) prev_last_seq: u64,
    pub(super) bytes: u64,
    /// The salt of the segment's header (keys its records' header checks).
    pub(super) salt: u32,
}

pub(super) const SEGMENT_SUFFIX: &str = ".wal";
pub(super) const TEMP_SUFFIX: &str = ".wal.tmp";

pub(super) fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}{SEGMENT_SUFFIX}"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Scans the log in `dir`. With `modify` false nothing is changed on disk (for inspection and
/// read-only opens). With a `hint`, the position of a record at or before `from_seq`, the scan
/// starts there if a record with that sequence number passes its header check there, and
/// nothing before it is read; otherwise it starts at the first segment.
pub(super) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    mode: RecoveryMode,
    from_seq: u64,
    modify: bool,
    hint: Option<LogPosition>,
    on_record: &mut dyn FnMut(Record<'_>),
) -> Result<Recovered> {
    let mut report = RecoveryReport::default();
    let numbers = segment_numbers(vfs, dir, modify, &mut report)?;
    let mut buf = ReadBuf::default();
    let start = match hint.filter(|h| h.seq <= from_seq) {
        Some(h) => check_hint(vfs, dir, &numbers, h)?,
        None => None,
    };
    let first = start.map_or(0, |(i, _)| i);
    let mut resume = start.map(|(_, header)| header);
    let mut delivery =
        Delivery { from_seq, report, on_record, marks: Marks::default(), missed: None };
    let mut segments: Vec<SegmentInfo> = Vec::new();
    let mut prev_last: Option<u64> = None;
    let mut end = 0u64;
    for (i, &number) in numbers.iter().enumerate().skip(first) {
        let path = segment_path(dir, number);
        let is_last = i + 1 == numbers.len();
        if let Some(prev) = segments.last()
            && prev.number + 1 != number
        {
            let detail = format!("segment {} is missing", prev.number + 1);
            let damage = Damage {
                offset: 0,
                seq: prev_last.and_then(|p| p.checked_add(1)),
                detail,
                dirty_end: 0,
                later: 0,
                segment_len: None,
            };
            let report = &mut delivery.report;
            handle_hard(vfs, dir, mode, modify, &path, &numbers[i..], damage, None, report)?;
            break;
        }
        let reader = SegmentReader::open(vfs, &path)?;
        let mut deliver = |bytes: &[u8], base: usize, records: &[RecordPos]| {
            delivery.deliver(bytes, base, number, records);
        };
        let (scan, tail) = match resume.take().zip(hint) {
            Some((header, h)) => {
                let scanner = Scanner::resume(header, reader.len, h.offset as usize, h.seq);
                reader.scan(scanner, &mut buf, &mut deliver)?
            }
            None => {
                let head = reader.read_head(&mut buf)?;
                match Scanner::start(head, reader.len, number, prev_last) {
                    Ok(scanner) => {
                        if i == 0 {
                            check_needed(&path, scanner.header(), from_seq)?;
                        }
                        reader.scan(scanner, &mut buf, &mut deliver)?
                    }
                    Err(_) => {
                        let image = reader.read_from(0)?;
                        (scan_segment(&image, number, prev_last), image)
                    }
                }
            }
        };
        if let Some((offset, seq)) = delivery.missed.take() {
            let detail = "a checked record was not in the bytes handed over (a bug)".to_string();
            return Err(WalError::corruption(path, offset, Some(seq), detail));
        }
        let Some(d) = &scan.damage else {
            end = scan.end as u64;
            prev_last = scan.last_seq();
            segments.push(info(number, &scan));
            continue;
        };
        let damage = Damage {
            offset: d.offset as u64,
            seq: d.seq,
            detail: d.detail.clone(),
            dirty_end: d.dirty_end as u64,
            later: d.later_records,
            segment_len: scan.header.map(|h| h.segment_len),
        };
        let report = &mut delivery.report;
        if d.kind == DamageKind::Tail && is_last && mode != RecoveryMode::Strict {
            truncate_tail(vfs, &path, modify, &damage, mode, &tail, report)?;
            end = scan.end as u64;
            prev_last = scan.last_seq();
            if scan.header.is_some() {
                segments.push(info(number, &scan));
            }
            break;
        }
        let kept = scan.header.map(|_| info(number, &scan));
        handle_hard(vfs, dir, mode, modify, &path, &numbers[i..], damage, Some(&tail), report)?;
        if let Some(k) = kept {
            segments.push(k);
            end = scan.end as u64;
            prev_last = scan.last_seq();
        }
        break;
    }
    let Delivery { mut report, marks, .. } = delivery;
    if let Some(d) = &report.dropped {
        // Without `modify` nothing was dropped on disk: the damage is left for the next writer.
        let what = if modify { "log recovery dropped data" } else { "log recovery found damage" };
        warn!(target: "chainstore::wal", torn_tail = d.torn_tail, segment = %d.segment.display(),
              offset = d.offset, bytes = d.bytes, records = d.records, detail = %d.detail, "{what}");
    }
    info!(target: "chainstore::wal", segments = segments.len(), records = report.records,
          replayed = report.replayed, from_hint = start.is_some(), "log recovered");
    report.segments = segments.len();
    if segments.is_empty() {
        end = 0;
    }
    Ok(Recovered { report, segments, end, last_seq: prev_last, marks })
}

/// The numbers of the segment files in `dir`, sorted; leftover temporary files are removed
/// (counted in the report) when `modify` is set.
fn segment_numbers(
    vfs: &dyn Vfs,
    dir: &Path,
    modify: bool,
    report: &mut RecoveryReport,
) -> Result<Vec<u64>> {
    let names = vfs.list(dir).map_err(WalError::io(dir))?;
    let mut numbers = Vec::new();
    for name in &names {
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TEMP_SUFFIX) && modify {
            vfs.remove(&dir.join(name)).map_err(WalError::io(dir.join(name)))?;
            report.removed_temp_files += 1;
        } else if let Some(n) = parse_segment_name(name) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Whether `hint` can be trusted: its segment exists, has a good header (as the scan checks it,
/// less the link to the previous segment, which is not read), and a record with the hint's
/// sequence number passes its header check (keyed by the segment's salt and the offset) at the
/// hint's offset. Then the index of its segment and the segment's header.
fn check_hint(
    vfs: &dyn Vfs,
    dir: &Path,
    numbers: &[u64],
    hint: LogPosition,
) -> Result<Option<(usize, SegmentHeader)>> {
    let Some(i) = numbers.iter().position(|&n| n == hint.segment) else { return Ok(None) };
    let path = segment_path(dir, hint.segment);
    let file = vfs.open(&path, OpenMode::Read).map_err(WalError::io(&path))?;
    let len = file.len().map_err(WalError::io(&path))?;
    let mut head = [0u8; SEGMENT_HEADER_LEN];
    let mut record = [0u8; RECORD_HEADER_LEN];
    let fits = hint.offset >= SEGMENT_HEADER_LEN as u64
        && hint.offset.checked_add(RECORD_HEADER_LEN as u64).is_some_and(|e| e <= len);
    if !fits {
        return Ok(None);
    }
    read_exact_at(&*file, &mut head, 0).map_err(WalError::io(&path))?;
    read_exact_at(&*file, &mut record, hint.offset).map_err(WalError::io(&path))?;
    let Ok(len) = usize::try_from(len) else { return Ok(None) };
    let Ok(scanner) = Scanner::start(&head, len, hint.segment, None) else { return Ok(None) };
    let header = scanner.header();
    // The record's header lies within the segment as its header sizes it (the file may be
    // longer after damage; the scan never reads past that size).
    let within = hint.offset + RECORD_HEADER_LEN as u64 <= header.segment_len.min(len as u64);
    let holds = within
        && matches!(decode_record_header(&record, header.at(hint.offset)),
                    Ok(Some(h)) if h.seq == hint.seq);
    Ok(holds.then_some((i, header)))
}

/// Refuses a log whose first segment starts after records the caller needs.
fn check_needed(path: &Path, header: SegmentHeader, from_seq: u64) -> Result<()> {
    if from_seq > 0 && header.prev_last_seq >= from_seq {
        return Err(WalError::corruption(
            path.to_path_buf(),
            0,
            Some(from_seq),
            format!(
                "records from {from_seq} on are needed but the log starts after record {}",
                header.prev_last_seq
            ),
        ));
    }
    Ok(())
}

struct Damage {
    offset: u64,
    seq: Option<u64>,
    detail: String,
    dirty_end: u64,
    later: u64,
    /// The length the segment was created with (from its header), if the header is good.
    segment_len: Option<u64>,
}

fn info(number: u64, scan: &SegmentScan) -> SegmentInfo {
    let (prev_last_seq, salt) = scan.header.map_or((0, 0), |h| (h.prev_last_seq, h.salt));
    SegmentInfo { number, prev_last_seq, bytes: scan.end as u64, salt }
}

/// Hands the good records to the caller as they are found, counts them, and remembers where
/// some of them start (for the writer's [`Marks`]).
struct Delivery<'a> {
    from_seq: u64,
    report: RecoveryReport,
    on_record: &'a mut dyn FnMut(Record<'_>),
    marks: Marks,
    /// The offset and sequence number of a record to replay that was not in the bytes it was
    /// delivered with: never, unless the reader has a bug; recovery then fails rather than
    /// skip it.
    missed: Option<(u64, u64)>,
}

impl Delivery<'_> {
    /// Delivers `records`, found in `bytes`, the segment's bytes from offset `base` on.
    fn deliver(&mut self, bytes: &[u8], base: usize, segment: u64, records: &[RecordPos]) {
        let report = &mut self.report;
        for pos in records {
            report.records += 1;
            report.record_bytes += pos.len as u64;
            let first = report.seq_range.map_or(pos.seq, |r| r.0);
            report.seq_range = Some((first, pos.seq));
            self.marks.note(LogPosition { segment, offset: pos.offset as u64, seq: pos.seq });
            if pos.seq < self.from_seq {
                continue;
            }
            match pos.record(bytes, base) {
                Some(rec) => {
                    report.replayed += 1;
                    (self.on_record)(rec);
                }
                None => drop(self.missed.get_or_insert((pos.offset as u64, pos.seq))),
            }
        }
    }
}

/// Zeroes a torn tail (or, when repairing, saves it aside first) so later appends start clean.
/// `tail` holds the segment file's bytes from the damage on.
fn truncate_tail(
    vfs: &dyn Vfs,
    path: &Path,
    modify: bool,
    d: &Damage,
    mode: RecoveryMode,
    tail: &[u8],
    report: &mut RecoveryReport,
) -> Result<()> {
    let repair = mode == RecoveryMode::RepairToLastGood;
    let mut saved_to = Vec::new();
    let file_len = d.offset + tail.len() as u64;
    let segment_len = d.segment_len.unwrap_or(file_len);
    // Bytes past the segment's length (appended garbage) are dropped too.
    let end = d.dirty_end.max(if file_len > segment_len { file_len } else { 0 });
    if modify && (end > d.offset || file_len != segment_len) {
        if repair && end > d.offset {
            let bytes = &tail[..(end - d.offset) as usize];
            saved_to.push(save_aside(vfs, path, d.offset, bytes)?);
        }
        let file = vfs.open(path, OpenMode::ReadWrite).map_err(WalError::io(path))?;
        let zero_end = d.dirty_end.min(segment_len);
        if zero_end > d.offset {
            let zeros = vec![0u8; (zero_end - d.offset) as usize];
            write_all_at(&*file, &zeros, d.offset).map_err(WalError::io(path))?;
        }
        if file_len > segment_len {
            file.set_len(segment_len).map_err(WalError::io(path))?;
        } else if file_len < segment_len {
            write_zeros(&*file, file_len, segment_len).map_err(WalError::io(path))?;
        }
        file.sync_data().map_err(WalError::io(path))?;
    }
    let dirty_end = end;
    report.dropped = Some(Dropped {
        torn_tail: !repair,
        segment: path.to_path_buf(),
        offset: d.offset,
        detail: d.detail.clone(),
        bytes: dirty_end.saturating_sub(d.offset),
        records: d.later,
        saved_to,
    });
    Ok(())
}

/// Hard damage: an error, unless repairing, in which case the damaged tail of `path` (`tail`:
/// its bytes from the damage on, if its header is good) and all later segments are moved aside.
#[allow(clippy::too_many_arguments)]
fn handle_hard(
    vfs: &dyn Vfs,
    dir: &Path,
    mode: RecoveryMode,
    modify: bool,
    path: &Path,
    rest: &[u64],
    d: Damage,
    tail: Option<&[u8]>,
    report: &mut RecoveryReport,
) -> Result<()> {
    if mode != RecoveryMode::RepairToLastGood {
        return Err(WalError::corruption(path.to_path_buf(), d.offset, d.seq, d.detail));
    }
    let header_ok = tail.is_some() && d.offset > 0;
    if header_ok {
        truncate_tail(vfs, path, modify, &d, mode, tail.unwrap_or_default(), report)?;
    }
    let mut dropped = report.dropped.take().unwrap_or(Dropped {
        torn_tail: false,
        segment: path.to_path_buf(),
        offset: d.offset,
        detail: d.detail.clone(),
        bytes: 0,
        records: 0,
        saved_to: Vec::new(),
    });
    let whole = if header_ok { &rest[1..] } else { rest };
    for &number in whole {
        let seg = segment_path(dir, number);
        let file = vfs.open(&seg, OpenMode::Read).map_err(WalError::io(&seg))?;
        let image = read_all(&*file).map_err(WalError::io(&seg))?;
        dropped.bytes += image.len() as u64;
        dropped.records += scan_segment(&image, number, None).records.len() as u64;
        if modify {
            let aside = dropped_path(&seg);
            vfs.rename(&seg, &aside).map_err(WalError::io(&seg))?;
            dropped.saved_to.push(aside);
        }
    }
    if modify {
        vfs.sync_dir(dir).map_err(WalError::io(dir))?;
    }
    report.dropped = Some(dropped);
    Ok(())
}

fn dropped_path(path: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{stamp}.dropped"));
    PathBuf::from(name)
}

fn save_aside(vfs: &dyn Vfs, path: &Path, offset: u64, bytes: &[u8]) -> Result<PathBuf> {
    let mut name = dropped_path(path).into_os_string();
    name.push(format!("-at-{offset}"));
    let aside = PathBuf::from(name);
    let file = vfs.open(&aside, OpenMode::CreateNew).map_err(WalError::io(&aside))?;
    write_all_at(&*file, bytes, 0).map_err(WalError::io(&aside))?;
    file.sync_data().map_err(WalError::io(&aside))?;
    Ok(aside)
}
