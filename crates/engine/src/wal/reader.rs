//! Reading a segment file for recovery: front to back, a piece at a time, through one small
//! reused buffer, checking each piece's records before the next piece is read, so that a
//! segment is never in memory at once and reading and checking overlap: the operating system is
//! told at the start that the whole rest of the segment will be read
//! ([`VfsFile::will_need`], `posix_fadvise(WILLNEED)`), and reads it while the pieces before are
//! checked. (Measured against the kernel's own read-ahead alone and against a reader thread
//! handing pieces over: `docs/benchmarks.md`.)

use std::path::Path;
use std::sync::Arc;

use super::error::{Result, WalError};
use super::format::SEGMENT_HEADER_LEN;
use super::scan::{RecordPos, Scanner, SegmentScan, zero_tail_start};
use crate::vfs::{OpenMode, Vfs, VfsFile, read_exact_at};

/// Receives the records a piece of a segment completed: the bytes they are in, the file offset
/// of those bytes, and the records.
pub(super) type OnRecords<'a> = dyn FnMut(&[u8], usize, &[RecordPos]) + 'a;

/// How much of a segment is read at a time.
const READ_CHUNK: usize = 1 << 20;

/// Reads land at page-aligned addresses: the kernel's copy into memory at some alignments (e.g.
/// 16 bytes past a page, where a large `Vec` starts) is several times slower on some CPUs.
const ALIGN: usize = 4096;

/// A segment file being read.
pub(super) struct SegmentReader<'a> {
    file: Arc<dyn VfsFile>,
    /// The file's length.
    pub(super) len: usize,
    path: &'a Path,
    /// How much is read at a time ([`READ_CHUNK`]; tests read in small pieces).
    piece: usize,
}

impl<'a> SegmentReader<'a> {
    pub(super) fn open(vfs: &dyn Vfs, path: &'a Path) -> Result<Self> {
        let file = vfs.open(path, OpenMode::Read).map_err(WalError::io(path))?;
        let len = file.len().map_err(WalError::io(path))?;
        let len = usize::try_from(len).map_err(|_| {
            WalError::io(path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "segment file larger than memory",
            ))
        })?;
        Ok(Self { file, len, path, piece: READ_CHUNK })
    }

    /// Reads the segment header (or the whole file, if it is shorter).
    pub(super) fn read_head<'b>(&self, buf: &'b mut ReadBuf) -> Result<&'b [u8]> {
        buf.clear(0);
        self.fill(buf, SEGMENT_HEADER_LEN)?;
        Ok(buf.bytes())
    }

    /// The file's bytes from `offset` to its end.
    pub(super) fn read_from(&self, offset: usize) -> Result<Vec<u8>> {
        let mut bytes = vec![0; self.len.saturating_sub(offset)];
        read_exact_at(&*self.file, &mut bytes, offset as u64).map_err(WalError::io(self.path))?;
        Ok(bytes)
    }

    /// Reads up to `n` more bytes into `buf` (fewer at the end of the file).
    fn fill(&self, buf: &mut ReadBuf, n: usize) -> Result<()> {
        let at = buf.end();
        let n = n.min(self.len.saturating_sub(at));
        read_exact_at(&*self.file, buf.room(n), at as u64).map_err(WalError::io(self.path))?;
        buf.filled(n);
        Ok(())
    }

    /// Reads the segment from where `scanner` stands, a piece at a time, handing the records
    /// of each piece to `on_records` (with the bytes they are in and the file offset of those
    /// bytes) once they are checked; then finishes the scan on what follows the good records.
    /// Returns the scan and, if it found damage, the file's bytes from the end of the good
    /// records on.
    pub(super) fn scan(
        &self,
        mut scanner: Scanner,
        buf: &mut ReadBuf,
        on_records: &mut OnRecords<'_>,
    ) -> Result<(SegmentScan, Vec<u8>)> {
        let from = scanner.offset().min(self.len);
        // Everything from here to the end of the file is read, the zeros after the data too.
        self.file.will_need(from as u64, (self.len - from) as u64);
        buf.clear(from);
        let mut delivered = 0;
        loop {
            buf.drop_before(scanner.offset());
            // One more piece on top of what is kept (a record larger than a piece grows the
            // buffer). At the end of the file the scanner has all it needs and stops.
            let before = buf.end();
            self.fill(buf, self.piece)?;
            let stopped = scanner.advance(buf.bytes(), buf.base());
            on_records(buf.bytes(), buf.base(), &scanner.records()[delivered..]);
            delivered = scanner.records().len();
            if stopped {
                break;
            }
            if buf.end() == before {
                // Nothing more to read and no decision: only a start past the segment's end
                // can do that, which the callers rule out. An error, never a loop.
                let offset = scanner.offset() as u64;
                let detail = format!("the scan cannot go on at offset {offset}: nothing to read");
                return Err(WalError::corruption(self.path.to_path_buf(), offset, None, detail));
            }
        }
        // What follows the good records is judged on all of it; it is almost always zeros (the
        // rest of a preallocated segment), which need not be kept.
        let end = scanner.offset();
        buf.drop_before(end);
        let kept = end.checked_sub(buf.base()).and_then(|i| buf.bytes().get(i..));
        let kept = kept.unwrap_or_default();
        let clean = zero_tail_start(kept) == 0 && self.zeros_after(buf)?;
        if clean {
            let scan = scanner.finish(&[], end);
            let tail = if scan.damage.is_some() { self.read_from(end)? } else { Vec::new() };
            Ok((scan, tail))
        } else {
            let tail = self.read_from(end)?;
            Ok((scanner.finish(&tail, end), tail))
        }
    }

    /// Whether the file holds only zeros after what `buf` holds (read through `buf`).
    fn zeros_after(&self, buf: &mut ReadBuf) -> Result<bool> {
        let mut at = buf.end();
        while at < self.len {
            buf.clear(at);
            // The window starts at the page `at` is in: read up to `at` and a piece past it.
            self.fill(buf, at - buf.base() + self.piece)?;
            if zero_tail_start(&buf.bytes()[at - buf.base()..]) != 0 {
                return Ok(false);
            }
            at = buf.end();
        }
        Ok(true)
    }
}

/// The bytes of a segment file from offset `base` on, as far as they have been read, in a
/// buffer reused from segment to segment. `base` is always a multiple of [`ALIGN`] and the
/// window starts at an aligned address, so every read of a page-aligned file offset lands at a
/// page-aligned address.
#[derive(Debug, Default)]
pub(super) struct ReadBuf {
    mem: Vec<u8>,
    /// Where the window starts in `mem` (an aligned address).
    start: usize,
    base: usize,
    len: usize,
}

impl ReadBuf {
    /// The bytes read, from file offset [`ReadBuf::base`] on.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }

    /// The file offset of the first byte.
    pub(super) fn base(&self) -> usize {
        self.base
    }

    /// The file offset one past the last byte.
    fn end(&self) -> usize {
        self.base + self.len
    }

    /// Empties the buffer; the next bytes read are those from file offset `offset` (rounded
    /// down to a page) on.
    fn clear(&mut self, offset: usize) {
        self.base = offset / ALIGN * ALIGN;
        self.len = 0;
    }

    /// Drops the bytes before file offset `offset` (rounded down to a page), keeping the rest.
    fn drop_before(&mut self, offset: usize) {
        let keep_from = offset / ALIGN * ALIGN;
        if keep_from >= self.end() {
            return self.clear(offset);
        }
        let keep_from = keep_from.max(self.base);
        if keep_from == self.base {
            return;
        }
        let (from, len) = (self.start + keep_from - self.base, self.end() - keep_from);
        self.mem.copy_within(from..from + len, self.start);
        (self.base, self.len) = (keep_from, len);
    }

    /// Room for `n` more bytes after the last, at file offset [`ReadBuf::end`].
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.mem.len() < self.start + self.len + n {
            // Growing may move the memory: the window moves to an aligned place in the new one.
            // At least doubling, so a record of many pieces is copied a bounded number of times.
            let mut mem = vec![0; (self.len + n).max(2 * self.mem.len()) + ALIGN];
            let start = mem.as_ptr().align_offset(ALIGN).min(ALIGN);
            mem[start..start + self.len].copy_from_slice(self.bytes());
            (self.mem, self.start) = (mem, start);
        }
        let at = self.start + self.len;
        &mut self.mem[at..at + n]
    }

    fn filled(&mut self, n: usize) {
        self.len += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{FaultFs, write_all_at};
    use crate::wal::format::{RECORD_HEADER_LEN, SegmentHeader};
    use crate::wal::scan::scan_segment;
    use crate::wal::scan::tests::{damaged_images, segment};

    /// Scans `image` as recovery does, through the reader in pieces of `piece` bytes; returns
    /// the scan, the damaged bytes it hands back, and the payloads delivered.
    fn read_in_pieces(image: &[u8], piece: usize) -> Result<(SegmentScan, Vec<u8>, Vec<Vec<u8>>)> {
        let fs = FaultFs::new();
        let path = Path::new("/d/1.wal");
        fs.create_dir_all(Path::new("/d")).unwrap();
        write_all_at(&*fs.open(path, OpenMode::CreateNew).unwrap(), image, 0).unwrap();
        let reader = SegmentReader { piece, ..SegmentReader::open(&fs, path)? };
        let mut buf = ReadBuf::default();
        let head = reader.read_head(&mut buf)?;
        let Ok(scanner) = Scanner::start(head, reader.len, 1, None) else {
            return Ok((scan_segment(image, 1, None), Vec::new(), Vec::new()));
        };
        let mut payloads = Vec::new();
        let (scan, tail) = reader.scan(scanner, &mut buf, &mut |bytes, base, records| {
            for pos in records {
                let record = pos.record(bytes, base).expect("a delivered record is in its bytes");
                payloads.push(record.payload.to_vec());
            }
        })?;
        Ok((scan, tail, payloads))
    }

    /// The reader's piecewise scan (pieces from 1 byte to 1 MiB, records spanning many of
    /// them) decides as the scan of the whole image, delivers every good record whole, and
    /// hands back the file's bytes from the damage on.
    #[test]
    fn reading_in_pieces_gives_the_whole_scan() {
        let big: Vec<Vec<u8>> = [10_000usize, 3, 20_000, 5_000]
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        let records: Vec<(u64, &[u8])> =
            big.iter().enumerate().map(|(i, p)| (i as u64 + 1, p.as_slice())).collect();
        let clean = segment(&records, 64 << 10);
        let header = SegmentHeader::decode(&clean).unwrap();
        let last = scan_segment(&clean, 1, None).records[3];
        let mut images = damaged_images();
        images.push(clean.clone());
        // The last record torn at offsets inside and at the edges of pieces; garbage after it.
        for cut in [1, RECORD_HEADER_LEN, 4095, 4096, 4097, last.len - 1] {
            let mut torn = clean.clone();
            torn[last.offset + cut..last.offset + last.len].fill(0);
            images.push(torn);
        }
        let mut garbage = clean.clone();
        garbage[60_000] = 9;
        images.push(garbage);
        assert_eq!(header.segment_len, 64 << 10);
        for (i, image) in images.iter().enumerate() {
            let whole = scan_segment(image, 1, None);
            let good: Vec<Vec<u8>> = whole
                .records
                .iter()
                .map(|p| whole.record(image, p).unwrap().payload.to_vec())
                .collect();
            for piece in [1, 7, 100, 4095, 4096, 5000, 1 << 20] {
                let (scan, tail, payloads) = read_in_pieces(image, piece).unwrap();
                let what = format!("image {i}, pieces of {piece}");
                assert_eq!(scan, whole, "{what}");
                assert_eq!(payloads, good, "{what}");
                if scan.damage.is_some() && scan.header.is_some() {
                    assert_eq!(tail, image[scan.end..], "{what}: the damaged bytes");
                }
            }
        }
    }

    #[test]
    fn the_window_holds_the_file_bytes_at_aligned_addresses() {
        let fs = FaultFs::new();
        let path = Path::new("/d/f");
        fs.create_dir_all(Path::new("/d")).unwrap();
        let data: Vec<u8> =
            (0..5_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        write_all_at(&*fs.open(path, OpenMode::CreateNew).unwrap(), &data, 0).unwrap();
        let reader = SegmentReader::open(&fs, path).unwrap();
        let mut buf = ReadBuf::default();
        buf.clear(1000);
        // Drop at odd offsets, grow past a piece (as a large record does), read to the end.
        for (drop_at, piece) in
            [(1000, 56), (5000, READ_CHUNK), (5001, 3 * READ_CHUNK), (4_000_003, READ_CHUNK)]
        {
            buf.drop_before(drop_at);
            reader.fill(&mut buf, piece).unwrap();
            assert!(buf.base() <= drop_at && buf.base() % ALIGN == 0);
            assert_eq!(buf.bytes(), &data[buf.base()..buf.end()]);
            assert_eq!(buf.bytes().as_ptr().align_offset(ALIGN), 0);
        }
        assert_eq!(buf.end(), data.len());
    }
}
