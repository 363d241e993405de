//! Opening a log directory: find the segments, check every record, deal with damage according to
//! the [`RecoveryMode`], and hand the good records to the caller.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::error::{Result, WalError};
use super::format::Record;
use super::scan::{DamageKind, SegmentScan, scan_segment};
use crate::vfs::{OpenMode, Vfs, read_all, read_all_into, write_all_at, write_zeros};

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

/// Scans the log in `dir`. With `modify` false nothing is changed on disk (for inspection).
pub(super) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    mode: RecoveryMode,
    from_seq: u64,
    modify: bool,
    on_record: &mut dyn FnMut(Record<'_>),
) -> Result<Recovered> {
    let mut report = RecoveryReport::default();
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
    let mut segments: Vec<SegmentInfo> = Vec::new();
    let mut prev_last: Option<u64> = None;
    let mut end = 0u64;
    let mut image = Vec::new();
    for (i, &number) in numbers.iter().enumerate() {
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
            handle_hard(vfs, dir, mode, modify, &path, &numbers[i..], damage, None, &mut report)?;
            break;
        }
        let file = vfs.open(&path, OpenMode::Read).map_err(WalError::io(&path))?;
        read_all_into(&*file, &mut image).map_err(WalError::io(&path))?;
        let scan = scan_segment(&image, number, prev_last);
        if i == 0
            && let Some(h) = scan.header
            && from_seq > 0
            && h.prev_last_seq >= from_seq
        {
            return Err(WalError::corruption(
                path,
                0,
                Some(from_seq),
                format!(
                    "records from {from_seq} on are needed but the log starts after record {}",
                    h.prev_last_seq
                ),
            ));
        }
        deliver(&image, &scan, from_seq, &mut report, on_record);
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
        if d.kind == DamageKind::Tail && is_last && mode != RecoveryMode::Strict {
            truncate_tail(vfs, &path, modify, &damage, mode, &image, &mut report)?;
            end = scan.end as u64;
            prev_last = scan.last_seq();
            if scan.header.is_some() {
                segments.push(info(number, &scan));
            }
            break;
        }
        let kept = scan.header.map(|_| info(number, &scan));
        handle_hard(
            vfs,
            dir,
            mode,
            modify,
            &path,
            &numbers[i..],
            damage,
            Some(&image),
            &mut report,
        )?;
        if let Some(k) = kept {
            segments.push(k);
            end = scan.end as u64;
            prev_last = scan.last_seq();
        }
        break;
    }
    if let Some(d) = &report.dropped {
        warn!(target: "chainstore::wal", torn_tail = d.torn_tail, segment = %d.segment.display(),
              offset = d.offset, bytes = d.bytes, records = d.records, detail = %d.detail,
              "log recovery dropped data");
    }
    info!(target: "chainstore::wal", segments = segments.len(), records = report.records,
          replayed = report.replayed, "log recovered");
    report.segments = segments.len();
    if segments.is_empty() {
        end = 0;
    }
    Ok(Recovered { report, segments, end, last_seq: prev_last })
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

fn deliver(
    image: &[u8],
    scan: &SegmentScan,
    from_seq: u64,
    report: &mut RecoveryReport,
    on_record: &mut dyn FnMut(Record<'_>),
) {
    for pos in &scan.records {
        report.records += 1;
        report.record_bytes += pos.len as u64;
        let first = report.seq_range.map_or(pos.seq, |r| r.0);
        report.seq_range = Some((first, pos.seq));
        if pos.seq >= from_seq
            && let Some(rec) = scan.record(image, pos)
        {
            report.replayed += 1;
            on_record(rec);
        }
    }
}

/// Zeroes a torn tail (or, when repairing, saves it aside first) so later appends start clean.
fn truncate_tail(
    vfs: &dyn Vfs,
    path: &Path,
    modify: bool,
    d: &Damage,
    mode: RecoveryMode,
    image: &[u8],
    report: &mut RecoveryReport,
) -> Result<()> {
    let repair = mode == RecoveryMode::RepairToLastGood;
    let mut saved_to = Vec::new();
    let file_len = image.len() as u64;
    let segment_len = d.segment_len.unwrap_or(file_len);
    // Bytes past the segment's length (appended garbage) are dropped too.
    let end = d.dirty_end.max(if file_len > segment_len { file_len } else { 0 });
    if modify && (end > d.offset || file_len != segment_len) {
        if repair && end > d.offset {
            saved_to.push(save_aside(
                vfs,
                path,
                d.offset,
                &image[d.offset as usize..end as usize],
            )?);
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

/// Hard damage: an error, unless repairing, in which case the damaged tail of `path` and all
/// later segments are moved aside.
#[allow(clippy::too_many_arguments)]
fn handle_hard(
    vfs: &dyn Vfs,
    dir: &Path,
    mode: RecoveryMode,
    modify: bool,
    path: &Path,
    rest: &[u64],
    d: Damage,
    image: Option<&[u8]>,
    report: &mut RecoveryReport,
) -> Result<()> {
    if mode != RecoveryMode::RepairToLastGood {
        return Err(WalError::corruption(path.to_path_buf(), d.offset, d.seq, d.detail));
    }
    let header_ok = image.is_some() && d.offset > 0;
    if header_ok {
        truncate_tail(vfs, path, modify, &d, mode, image.unwrap_or_default(), report)?;
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
