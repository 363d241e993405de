//! State snapshots: the state (accounts, storage, code) as of one block in a portable file, and
//! an import of such a file into an empty store that accepts it only if the state hashes to the
//! root its header names. Format byte by byte in `docs/snapshot.md`.
//!
//! A file is a header, chunks and a trailer. Each chunk is a zstd-compressed run of entries in
//! key order (each account, then its slots), numbered and checksummed, so a damaged, missing or
//! reordered chunk is found and named before anything is written. Export streams the state in
//! constant memory (plus the set of code hashes already written) from one read snapshot;
//! import is [`ChainStore::import_state`] fed from the chunks, so it builds the tries in one
//! sorted pass and resumes after a stop.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use alloy_primitives::{B256, Bytes, KECCAK256_EMPTY, U256};
use chainstore_trie::{Account, HashedCursor, HashedCursorFactory};

use crate::at::{AtView, check_retained};
use crate::cursors::View;
use crate::error::{ChainError, Result};
use crate::import::{ImportBlock, ImportProgress, StateEntry};
use crate::schema::{CODE, HEADERS};
use crate::store::head_in;
use crate::{ChainStore, CommitInfo};

/// The first bytes of every snapshot file.
pub(crate) const MAGIC: [u8; 8] = *b"CSSNAPv1";
/// The format version this code writes and reads.
pub(crate) const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 32 + 32 + 8 + 32 + 4;
const CHUNK_TAG: u8 = b'C';
const TRAILER_TAG: u8 = b'E';
const CHUNK_HEADER_LEN: usize = 1 + 4 + 4 + 4 + 4 + 4;
const TRAILER_LEN: usize = 1 + 4 + 8 + 8 + 8 + 4;
/// Uncompressed bytes per chunk the exporter aims at.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
const CHUNK_TARGET: usize = SNAPSHOT_CHUNK_BYTES;
/// The largest uncompressed chunk an import accepts (a larger length is damage).
const CHUNK_MAX: usize = 64 << 20;
const ACCOUNT_TAG: u8 = 1;
const SLOT_TAG: u8 = 2;
/// zstd level: fast, and most of a state is hashes that do not compress anyway.
const ZSTD_LEVEL: i32 = 3;

/// What a snapshot holds: its block and its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// The block whose state it holds.
    pub number: u64,
    /// That block's hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
    /// Its timestamp.
    pub timestamp: u64,
    /// The state root the state must hash to.
    pub state_root: B256,
    /// Chunks in the file.
    pub chunks: u32,
    /// Accounts.
    pub accounts: u64,
    /// Storage slots (non-zero).
    pub slots: u64,
    /// Distinct contract codes.
    pub codes: u64,
    /// Bytes of the file.
    pub file_bytes: u64,
}

/// How far an export got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportProgress {
    /// Accounts written so far.
    pub accounts: u64,
    /// Slots written so far.
    pub slots: u64,
    /// Chunks written so far.
    pub chunks: u32,
}

fn damaged(path: &Path, detail: impl Into<String>) -> ChainError {
    ChainError::Snapshot { path: path.to_path_buf(), detail: detail.into() }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ChainError + '_ {
    move |source| ChainError::SnapshotIo { path: path.to_path_buf(), source }
}

impl ChainStore {
    /// Writes the state as of block `number` (the head if `None`; any block whose state is
    /// retained) to a new snapshot file at `path`. The file appears only when it is complete
    /// and durable (it is written beside `path` and renamed); an existing `path` is refused.
    pub fn export_snapshot(
        &self,
        path: &Path,
        number: Option<u64>,
        progress: &mut dyn FnMut(&ExportProgress),
    ) -> Result<SnapshotSummary> {
        self.export_snapshot_in_chunks(path, number, CHUNK_TARGET, progress)
    }

    /// [`export_snapshot`](Self::export_snapshot) with chunks of about `chunk_bytes`
    /// uncompressed bytes ([`SNAPSHOT_CHUNK_BYTES`] is a good size; at most 32 MiB).
    pub fn export_snapshot_in_chunks(
        &self,
        path: &Path,
        number: Option<u64>,
        chunk_bytes: usize,
        progress: &mut dyn FnMut(&ExportProgress),
    ) -> Result<SnapshotSummary> {
        if path.exists() {
            return Err(damaged(path, "the file exists; choose a new path"));
        }
        let r = self.db.begin_read();
        let head = head_in(&r)?.ok_or(ChainError::Empty)?;
        let number = number.unwrap_or(head.number);
        if number > head.number {
            return Err(damaged(
                path,
                format!("block {number} is above the head (block {})", head.number),
            ));
        }
        if number < head.number {
            check_retained(&r, number)?;
        }
        let header = r.get_as(&HEADERS, &number)?.ok_or(ChainError::Empty)?;
        let tmp = tmp_path(path);
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut out = Writer::new(BufWriter::new(file), &tmp, chunk_bytes.clamp(1, CHUNK_MAX / 2))?;
        out.header(&header)?;
        let written = if number == head.number {
            export_from(&View(&r), &r, &mut out, progress)
        } else {
            export_from(&AtView { reader: &r, n: number }, &r, &mut out, progress)
        };
        let finished = written.and_then(|()| out.finish());
        let summary = match finished {
            Ok(summary) => summary,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, path).map_err(io(path))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
        }
        Ok(summary)
    }

    /// Imports the snapshot at `path` into this store, which must be empty (or hold a stopped
    /// import of the same snapshot, which this call resumes, or hold exactly that snapshot's block
    /// as its head, an import that completed: then this call does nothing). The whole file is checked first
    /// (every chunk's checksum, order and count), so a damaged file is refused, naming the
    /// chunk, before anything is written; the state is accepted only if it hashes to the
    /// header's root, and otherwise everything the import wrote is removed.
    pub fn import_snapshot(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<CommitInfo> {
        let summary = inspect_snapshot(path)?;
        if let Some(head) =
            self.head()?.filter(|h| h.number == summary.number && h.hash == summary.hash)
        {
            // Imported already (the command that did it may have been stopped before it said
            // so): the store holds what was asked.
            if head.state_root == summary.state_root {
                return Ok(CommitInfo {
                    number: head.number,
                    hash: head.hash,
                    state_root: head.state_root,
                    timings: Default::default(),
                });
            }
        }
        let file = File::open(path).map_err(io(path))?;
        let mut entries = Entries::new(BufReader::new(file), path)?;
        let block = ImportBlock {
            number: summary.number,
            hash: summary.hash,
            parent_hash: summary.parent_hash,
            timestamp: summary.timestamp,
            state_root: Some(summary.state_root),
        };
        let imported = self.import_state(&block, &mut entries, progress);
        if imported.is_err() && entries.failed {
            // The file changed after it was checked: leave nothing of it behind.
            self.remove_import()?;
        }
        imported
    }
}

/// Reads the whole snapshot at `path`, checking its header, every chunk's checksum, number and
/// entry count, and the trailer, without decompressing; returns what it holds. The error of a
/// damaged file names the chunk.
pub fn inspect_snapshot(path: &Path) -> Result<SnapshotSummary> {
    let file = File::open(path).map_err(io(path))?;
    let file_bytes = file.metadata().map_err(io(path))?.len();
    let mut r = BufReader::new(file);
    let mut summary = read_header(&mut r, path)?;
    summary.file_bytes = file_bytes;
    let mut entries = 0u64;
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut r, path, summary.chunks, &mut buf)? {
            Frame::Chunk { entries: n, .. } => {
                entries += u64::from(n);
                summary.chunks += 1;
            }
            Frame::Trailer(t) => {
                if t.chunks != summary.chunks {
                    return Err(damaged(
                        path,
                        format!(
                            "the trailer counts {} chunks, the file has {}: chunk {} is missing",
                            t.chunks, summary.chunks, summary.chunks
                        ),
                    ));
                }
                if t.accounts + t.slots != entries {
                    return Err(damaged(
                        path,
                        format!(
                            "the chunks hold {entries} entries, the trailer counts {}",
                            t.accounts + t.slots
                        ),
                    ));
                }
                (summary.accounts, summary.slots, summary.codes) = (t.accounts, t.slots, t.codes);
                break;
            }
        }
    }
    let mut rest = [0u8; 1];
    if r.read(&mut rest).map_err(io(path))? != 0 {
        return Err(damaged(path, "bytes after the trailer"));
    }
    Ok(summary)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".partial");
    PathBuf::from(name)
}

fn export_from<F: HashedCursorFactory>(
    state: &F,
    r: &chainstore_engine::db::ReadTxn,
    out: &mut Writer<'_>,
    progress: &mut dyn FnMut(&ExportProgress),
) -> Result<()> {
    let mut codes_written = HashSet::new();
    let mut accounts = state.hashed_account_cursor()?;
    let mut next = accounts.seek(B256::ZERO)?;
    while let Some((hashed, account)) = next {
        let code = if account.code_hash != KECCAK256_EMPTY
            && codes_written.insert(account.code_hash)
        {
            let code = r.get_as(&CODE, &account.code_hash.0)?.ok_or_else(|| {
                crate::error::corrupt(CODE.name(), account.code_hash, "code of an account missing")
            })?;
            Some(code)
        } else {
            None
        };
        out.account(hashed, &account, code.as_deref())?;
        let mut slots = state.hashed_storage_cursor(hashed)?;
        let mut slot = slots.seek(B256::ZERO)?;
        while let Some((key, value)) = slot {
            out.slot(key, value)?;
            slot = slots.next()?;
        }
        if out.flush_if_full()? {
            metrics::gauge!("chainstore_snapshot_export_accounts")
                .set(out.progress.accounts as f64);
            metrics::gauge!("chainstore_snapshot_export_chunks")
                .set(f64::from(out.progress.chunks));
            progress(&out.progress);
        }
        next = accounts.next()?;
    }
    Ok(())
}

/// Writes a snapshot: the header, chunks as entries fill them, the trailer.
struct Writer<'p> {
    out: BufWriter<File>,
    path: &'p Path,
    raw: Vec<u8>,
    /// One compression context and output buffer for every chunk: a new context per chunk
    /// zeroes megabytes of fresh tables, which showed as page faults in the export's profile.
    compressor: zstd::bulk::Compressor<'static>,
    compressed: Vec<u8>,
    chunk_bytes: usize,
    entries: u32,
    progress: ExportProgress,
    codes: u64,
    summary: Option<SnapshotSummary>,
}

impl<'p> Writer<'p> {
    fn new(out: BufWriter<File>, path: &'p Path, chunk_bytes: usize) -> Result<Self> {
        Ok(Self {
            out,
            path,
            raw: Vec::with_capacity(chunk_bytes + 4096),
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(io(path))?,
            compressed: Vec::new(),
            chunk_bytes,
            entries: 0,
            progress: ExportProgress::default(),
            codes: 0,
            summary: None,
        })
    }

    fn header(&mut self, h: &crate::Header) -> Result<()> {
        let mut b = Vec::with_capacity(HEADER_LEN);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&h.number.to_le_bytes());
        b.extend_from_slice(h.hash.as_slice());
        b.extend_from_slice(h.parent_hash.as_slice());
        b.extend_from_slice(&h.timestamp.to_le_bytes());
        b.extend_from_slice(h.state_root.as_slice());
        b.extend_from_slice(&crc32c::crc32c(&b).to_le_bytes());
        debug_assert_eq!(b.len(), HEADER_LEN);
        self.summary = Some(SnapshotSummary {
            number: h.number,
            hash: h.hash,
            parent_hash: h.parent_hash,
            timestamp: h.timestamp,
            state_root: h.state_root,
            chunks: 0,
            accounts: 0,
            slots: 0,
            codes: 0,
            file_bytes: 0,
        });
        self.out.write_all(&b).map_err(io(self.path))
    }

    fn account(&mut self, hashed: B256, account: &Account, code: Option<&[u8]>) -> Result<()> {
        self.raw.push(ACCOUNT_TAG);
        self.raw.extend_from_slice(hashed.as_slice());
        self.raw.extend_from_slice(&account.nonce.to_le_bytes());
        self.raw.extend_from_slice(&account.balance.to_be_bytes::<32>());
        self.raw.extend_from_slice(account.code_hash.as_slice());
        let code = code.unwrap_or_default();
        self.raw.extend_from_slice(&(code.len() as u32).to_le_bytes());
        self.raw.extend_from_slice(code);
        self.codes += u64::from(!code.is_empty());
        self.entries += 1;
        self.progress.accounts += 1;
        Ok(())
    }

    fn slot(&mut self, key: B256, value: U256) -> Result<()> {
        self.raw.push(SLOT_TAG);
        self.raw.extend_from_slice(key.as_slice());
        self.raw.extend_from_slice(&value.to_be_bytes::<32>());
        self.entries += 1;
        self.progress.slots += 1;
        if self.raw.len() >= CHUNK_MAX / 2 {
            // One account with a huge storage: do not wait for its end.
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the chunk if it reached its target size; returns whether it did.
    fn flush_if_full(&mut self) -> Result<bool> {
        if self.raw.len() < self.chunk_bytes {
            return Ok(false);
        }
        self.flush()?;
        Ok(true)
    }

    fn flush(&mut self) -> Result<()> {
        if self.entries == 0 {
            return Ok(());
        }
        self.compressed.clear();
        self.compressed.reserve(zstd::zstd_safe::compress_bound(self.raw.len()));
        self.compressor
            .compress_to_buffer(&self.raw, &mut self.compressed)
            .map_err(io(self.path))?;
        let compressed = &self.compressed;
        let mut head = Vec::with_capacity(CHUNK_HEADER_LEN);
        head.push(CHUNK_TAG);
        head.extend_from_slice(&self.progress.chunks.to_le_bytes());
        head.extend_from_slice(&self.entries.to_le_bytes());
        head.extend_from_slice(&(self.raw.len() as u32).to_le_bytes());
        head.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head), compressed);
        head.extend_from_slice(&crc.to_le_bytes());
        self.out.write_all(&head).map_err(io(self.path))?;
        self.out.write_all(compressed).map_err(io(self.path))?;
        self.raw.clear();
        self.entries = 0;
        self.progress.chunks += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<SnapshotSummary> {
        self.flush()?;
        let p = self.progress;
        let mut t = Vec::with_capacity(TRAILER_LEN);
        t.push(TRAILER_TAG);
        t.extend_from_slice(&p.chunks.to_le_bytes());
        t.extend_from_slice(&p.accounts.to_le_bytes());
        t.extend_from_slice(&p.slots.to_le_bytes());
        t.extend_from_slice(&self.codes.to_le_bytes());
        t.extend_from_slice(&crc32c::crc32c(&t).to_le_bytes());
        self.out.write_all(&t).map_err(io(self.path))?;
        let file = self.out.into_inner().map_err(|e| io(self.path)(e.into_error()))?;
        file.sync_all().map_err(io(self.path))?;
        let file_bytes = file.metadata().map_err(io(self.path))?.len();
        let summary = self.summary.ok_or_else(|| damaged(self.path, "no header written"))?;
        Ok(SnapshotSummary {
            chunks: p.chunks,
            accounts: p.accounts,
            slots: p.slots,
            codes: self.codes,
            file_bytes,
            ..summary
        })
    }
}

fn read_header(r: &mut impl Read, path: &Path) -> Result<SnapshotSummary> {
    let mut b = [0u8; HEADER_LEN];
    read_exact(r, &mut b, path, "the header")?;
    if b[..8] != MAGIC {
        return Err(damaged(path, "not a chainstore snapshot (wrong magic bytes)"));
    }
    let version = u32_at(&b, 8);
    if version != VERSION {
        return Err(damaged(path, format!("format version {version}; this build reads {VERSION}")));
    }
    if crc32c::crc32c(&b[..HEADER_LEN - 4]) != u32_at(&b, HEADER_LEN - 4) {
        return Err(damaged(path, "the header's checksum does not match (the file is damaged)"));
    }
    Ok(SnapshotSummary {
        number: u64_at(&b, 16),
        hash: B256::from_slice(&b[24..56]),
        parent_hash: B256::from_slice(&b[56..88]),
        timestamp: u64_at(&b, 88),
        state_root: B256::from_slice(&b[96..128]),
        chunks: 0,
        accounts: 0,
        slots: 0,
        codes: 0,
        file_bytes: 0,
    })
}

struct Trailer {
    chunks: u32,
    accounts: u64,
    slots: u64,
    codes: u64,
}

enum Frame {
    /// A chunk whose compressed bytes are in the caller's buffer.
    Chunk {
        entries: u32,
        raw_len: usize,
    },
    Trailer(Trailer),
}

/// Reads the next frame, which must be chunk `index` or the trailer, checking its checksum.
fn read_frame(r: &mut impl Read, path: &Path, index: u32, buf: &mut Vec<u8>) -> Result<Frame> {
    let mut tag = [0u8; 1];
    read_exact(r, &mut tag, path, &format!("chunk {index} or the trailer"))?;
    match tag[0] {
        CHUNK_TAG => {
            let mut h = [0u8; CHUNK_HEADER_LEN];
            h[0] = CHUNK_TAG;
            read_exact(r, &mut h[1..], path, &format!("chunk {index}"))?;
            let (got, entries) = (u32_at(&h, 1), u32_at(&h, 5));
            let (raw_len, zlen) = (u32_at(&h, 9) as usize, u32_at(&h, 13) as usize);
            if raw_len > CHUNK_MAX || zlen > zstd::zstd_safe::compress_bound(CHUNK_MAX) {
                return Err(damaged(path, format!("chunk {index}: impossible length")));
            }
            buf.resize(zlen, 0);
            read_exact(r, buf, path, &format!("chunk {index}"))?;
            let crc = crc32c::crc32c_append(crc32c::crc32c(&h[..CHUNK_HEADER_LEN - 4]), buf);
            if crc != u32_at(&h, CHUNK_HEADER_LEN - 4) {
                return Err(damaged(
                    path,
                    format!("chunk {index}: checksum mismatch (the file is damaged)"),
                ));
            }
            if got != index {
                return Err(damaged(
                    path,
                    format!(
                        "chunk {index}: found chunk {got} in its place (chunks are missing or out \
                         of order)"
                    ),
                ));
            }
            Ok(Frame::Chunk { entries, raw_len })
        }
        TRAILER_TAG => {
            let mut t = [0u8; TRAILER_LEN];
            t[0] = TRAILER_TAG;
            read_exact(r, &mut t[1..], path, "the trailer")?;
            if crc32c::crc32c(&t[..TRAILER_LEN - 4]) != u32_at(&t, TRAILER_LEN - 4) {
                return Err(damaged(path, "the trailer's checksum does not match"));
            }
            Ok(Frame::Trailer(Trailer {
                chunks: u32_at(&t, 1),
                accounts: u64_at(&t, 5),
                slots: u64_at(&t, 13),
                codes: u64_at(&t, 21),
            }))
        }
        other => Err(damaged(
            path,
            format!("chunk {index}: unknown frame tag {other:#04x} (the file is damaged)"),
        )),
    }
}

/// The entries of a snapshot file, chunk by chunk, each chunk checked again as it is read.
struct Entries<'p, R> {
    r: R,
    path: &'p Path,
    index: u32,
    compressed: Vec<u8>,
    /// One decompression context and buffer for every chunk.
    decompressor: zstd::bulk::Decompressor<'static>,
    raw: Vec<u8>,
    at: usize,
    left: u32,
    done: bool,
    /// The file failed a check while streaming (it changed since it was inspected).
    failed: bool,
}

impl<'p, R: Read + Seek> Entries<'p, R> {
    fn new(mut r: R, path: &'p Path) -> Result<Self> {
        r.seek(SeekFrom::Start(HEADER_LEN as u64)).map_err(io(path))?;
        Ok(Self {
            r,
            path,
            index: 0,
            compressed: Vec::new(),
            decompressor: zstd::bulk::Decompressor::new().map_err(io(path))?,
            raw: Vec::new(),
            at: 0,
            left: 0,
            done: false,
            failed: false,
        })
    }

    fn next_chunk(&mut self) -> Result<bool> {
        match read_frame(&mut self.r, self.path, self.index, &mut self.compressed)? {
            Frame::Trailer(_) => Ok(false),
            Frame::Chunk { entries, raw_len } => {
                self.raw.clear();
                self.raw.reserve(raw_len);
                self.decompressor.decompress_to_buffer(&self.compressed, &mut self.raw).map_err(
                    |e| {
                        damaged(
                            self.path,
                            format!("chunk {}: does not decompress: {e}", self.index),
                        )
                    },
                )?;
                if self.raw.len() != raw_len {
                    return Err(damaged(self.path, format!("chunk {}: wrong length", self.index)));
                }
                (self.at, self.left) = (0, entries);
                self.index += 1;
                Ok(true)
            }
        }
    }

    fn entry(&mut self) -> Result<Option<StateEntry>> {
        while self.left == 0 {
            if self.at != self.raw.len() {
                return Err(self.bad("bytes after the chunk's last entry"));
            }
            if !self.next_chunk()? {
                return Ok(None);
            }
        }
        self.left -= 1;
        let tag = self.take(1)?[0];
        match tag {
            ACCOUNT_TAG => {
                let b = self.take(32 + 8 + 32 + 32 + 4)?;
                let hashed_address = B256::from_slice(&b[..32]);
                let account = Account {
                    nonce: u64_at(b, 32),
                    balance: U256::from_be_slice(&b[40..72]),
                    code_hash: B256::from_slice(&b[72..104]),
                };
                let len = u32_at(b, 104) as usize;
                let code = match len {
                    0 => None,
                    n => Some(Bytes::copy_from_slice(self.take(n)?)),
                };
                Ok(Some(StateEntry::Account { hashed_address, account, code }))
            }
            SLOT_TAG => {
                let b = self.take(64)?;
                let hashed_slot = B256::from_slice(&b[..32]);
                let value = U256::from_be_slice(&b[32..]);
                Ok(Some(StateEntry::Slot { hashed_slot, value }))
            }
            other => Err(self.bad(&format!("unknown entry tag {other:#04x}"))),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let Some(end) = self.at.checked_add(n).filter(|e| *e <= self.raw.len()) else {
            return Err(self.bad("an entry runs past the chunk's end"));
        };
        let b = &self.raw[self.at..end];
        self.at = end;
        Ok(b)
    }

    fn bad(&self, what: &str) -> ChainError {
        damaged(self.path, format!("chunk {}: {what}", self.index.saturating_sub(1)))
    }
}

impl<R: Read + Seek> Iterator for Entries<'_, R> {
    type Item = Result<StateEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                (self.done, self.failed) = (true, true);
                Some(Err(e))
            }
        }
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            damaged(path, format!("the file ends inside {what} (it is truncated)"))
        }
        _ => io(path)(e),
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
