//! The appending side of the log: sequence numbers, group commit, segment rotation, rollback
//! after a full disk, poisoning after a failed fsync, and truncation of indexed segments.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::{debug, error, warn};

use super::error::{Result, WalError};
use super::format::{
    Position, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader, fill_header, fresh_salt,
    record_len, seal_header, set_header_seq,
};
use super::position::{LogPosition, Marks};
use super::recovery::{self, RecoveryReport, SegmentInfo, TEMP_SUFFIX, segment_path};
use super::{Durability, Record, WalOptions};
use crate::vfs::{OpenMode, Vfs, VfsFile, is_out_of_space, write_all_at, write_zeros};

/// The commit log. Shared between threads by reference (`&Wal` or `Arc<Wal>`).
#[derive(Debug)]
pub struct Wal {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    opts: WalOptions,
    state: Mutex<State>,
    io: Mutex<Io>,
    segments: Mutex<VecDeque<SegmentInfo>>,
    /// Where some of the records start, for [`Wal::position_at_or_before`].
    marks: Mutex<Marks>,
    /// Record buffers the leader has written out, for [`Wal::prepare_with`] to fill again:
    /// a fresh multi-megabyte buffer per commit costs more in page faults and zeroing than the
    /// copy into it.
    spare: Mutex<Vec<Vec<u8>>>,
}

/// At most this many bytes of record buffers are kept for reuse.
const SPARE_BYTES: usize = 32 << 20;

/// Queue and progress, guarded by `Wal::state`.
#[derive(Debug)]
struct State {
    next_seq: u64,
    pending: Vec<Pending>,
    written_seq: u64,
    synced_seq: u64,
    sync_wanted: u64,
    leader: bool,
    poisoned: Option<String>,
    epoch: u64,
    cuts: Vec<Cut>,
    used_bytes: u64,
    /// Threads parked in [`Wal::wait`] while another leads a group commit.
    waiters: Vec<Waiter>,
}

/// A thread waiting for its record to be written or synced.
#[derive(Debug)]
struct Waiter {
    seq: u64,
    durability: Durability,
    thread: std::thread::Thread,
}

/// A record encoded and waiting for the leader.
#[derive(Debug)]
struct Pending {
    seq: u64,
    bytes: Vec<u8>,
}

/// Records after `cut_seq` submitted in `epoch` were rolled back.
#[derive(Debug)]
struct Cut {
    epoch: u64,
    cut_seq: u64,
    cause: String,
    out_of_space: bool,
}

/// A record encoded by [`Wal::prepare`], waiting for its sequence number (set when it is
/// queued) and its header check (set when its place in a segment is known).
#[derive(Debug)]
pub struct Prepared {
    bytes: Vec<u8>,
}

impl Prepared {
    /// The encoded size of the record.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a record has at least a header.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A submitted record: wait on it with [`Wal::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The record's sequence number.
    pub seq: u64,
    epoch: u64,
}

/// The active segment, guarded by `Wal::io` (held by the group-commit leader while it writes).
#[derive(Debug)]
struct Io {
    number: u64,
    /// The active segment's salt, which keys the header checks of its records.
    salt: u32,
    file: Arc<dyn VfsFile>,
    end: u64,
    capacity: u64,
    /// Reused for gathering a group commit's records into one write.
    buf: Vec<u8>,
}

/// A contiguous run of a batch that goes into one segment.
struct Chunk {
    new: Option<SegmentHeader>,
    offset: u64,
    /// The batch's records that go into this chunk.
    records: std::ops::Range<usize>,
    len: u64,
}

/// How a group commit failed.
enum Failure {
    /// Nothing of the batch is in the log: its records, and all queued behind them, fail.
    RolledBack { cause: String, out_of_space: bool },
    /// The state of the files is unknown: the log refuses everything until reopened.
    Poison(String),
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`, recovering it according to
    /// `opts.recovery`. Every good record with a sequence number at or after `from_seq` is
    /// passed to `on_record`, in order. New records get sequence numbers after every record in
    /// the log and no smaller than `from_seq`.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        opts: WalOptions,
        from_seq: u64,
        on_record: &mut dyn FnMut(Record<'_>),
    ) -> Result<(Wal, RecoveryReport)> {
        let min_size = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 1) as u64;
        if opts.segment_size < min_size {
            return Err(WalError::InvalidOptions(format!(
                "segment_size {} is below the minimum of {min_size} bytes",
                opts.segment_size
            )));
        }
        vfs.create_dir_all(dir).map_err(WalError::io(dir))?;
        let rec = recovery::recover(&*vfs, dir, opts.recovery, from_seq, true, None, on_record)?;
        let after_last = match rec.last_seq {
            None => 1,
            Some(l) => l.checked_add(1).ok_or_else(|| {
                WalError::corruption(
                    dir.to_path_buf(),
                    0,
                    None,
                    "sequence numbers exhausted".into(),
                )
            })?,
        };
        let next_seq = after_last.max(from_seq).max(1);
        let mut segments: VecDeque<SegmentInfo> = rec.segments.iter().copied().collect();
        let used_bytes = segments.iter().map(|s| s.bytes).sum();
        let prev_last = rec.last_seq.unwrap_or(next_seq - 1);
        let io = match segments.back() {
            Some(last) if next_seq == prev_last + 1 => {
                let path = segment_path(dir, last.number);
                let file = vfs.open(&path, OpenMode::ReadWrite).map_err(WalError::io(&path))?;
                // Records recovered from the page cache after a process crash may not be on disk
                // yet: make them durable before anything is acknowledged on top of them.
                file.sync_data().map_err(WalError::io(&path))?;
                let capacity = file.len().map_err(WalError::io(&path))?;
                let salt = last.salt;
                Io { number: last.number, salt, file, end: rec.end, capacity, buf: Vec::new() }
            }
            last => {
                let number = last.map_or(1, |s| s.number + 1);
                let header = SegmentHeader {
                    number,
                    first_seq: next_seq,
                    prev_last_seq: prev_last,
                    segment_len: segment_len(&opts, 0, 0),
                    salt: fresh_salt(),
                };
                let file = create_segment(&*vfs, dir, header, header.segment_len)
                    .map_err(WalError::io(segment_path(dir, number)))?;
                vfs.sync_dir(dir).map_err(WalError::io(dir))?;
                segments.push_back(SegmentInfo {
                    number,
                    prev_last_seq: prev_last,
                    bytes: SEGMENT_HEADER_LEN as u64,
                    salt: header.salt,
                });
                Io {
                    number,
                    salt: header.salt,
                    file,
                    end: SEGMENT_HEADER_LEN as u64,
                    capacity: header.segment_len,
                    buf: Vec::new(),
                }
            }
        };
        let state = State {
            next_seq,
            pending: Vec::new(),
            written_seq: next_seq - 1,
            synced_seq: next_seq - 1,
            sync_wanted: 0,
            leader: false,
            poisoned: None,
            epoch: 0,
            cuts: Vec::new(),
            used_bytes,
            waiters: Vec::new(),
        };
        let wal = Wal {
            vfs,
            dir: dir.to_path_buf(),
            opts,
            state: Mutex::new(state),
            io: Mutex::new(io),
            segments: Mutex::new(segments),
            marks: Mutex::new(rec.marks),
            spare: Mutex::new(Vec::new()),
        };
        wal.publish_gauges();
        Ok((wal, rec.report))
    }

    /// Appends a record and returns its sequence number once it is as durable as `durability`
    /// says. Concurrent callers share writes and syncs.
    pub fn append(&self, ty: u8, payload: &[u8], durability: Durability) -> Result<u64> {
        let started = Instant::now();
        let ticket = self.submit(ty, payload)?;
        self.wait(ticket, durability)?;
        metrics::histogram!("chainstore_wal_append_seconds").record(started.elapsed());
        Ok(ticket.seq)
    }

    /// Queues a record and assigns its sequence number without waiting; [`Wal::wait`] for it.
    /// Records are written in the order of their sequence numbers.
    pub fn submit(&self, ty: u8, payload: &[u8]) -> Result<Ticket> {
        self.submit_prepared(self.prepare(ty, payload)?)
    }

    /// Encodes and checksums a record without taking any lock, for [`Wal::submit_prepared`]
    /// (so callers that serialize submissions do the expensive part outside their own lock).
    pub fn prepare(&self, ty: u8, payload: &[u8]) -> Result<Prepared> {
        self.prepare_with(ty, payload.len(), |out| out.extend_from_slice(payload))
    }

    /// Like [`Wal::prepare`], with the payload written by `encode` straight into the record (no
    /// copy of it); `size_hint` is the payload's expected length.
    pub fn prepare_with(
        &self,
        ty: u8,
        size_hint: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Prepared> {
        if ty == 0 {
            return Err(WalError::ZeroType);
        }
        // The sequence number is filled in by `submit_prepared` and the header check by the
        // group-commit leader; the payload is written and checksummed exactly once, here,
        // outside any lock.
        let mut bytes =
            self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        bytes.clear();
        bytes.reserve(RECORD_HEADER_LEN + size_hint);
        bytes.resize(RECORD_HEADER_LEN, 0);
        encode(&mut bytes);
        let payload_len = bytes.len() - RECORD_HEADER_LEN;
        let len = record_len(payload_len) as u64;
        let max = self.opts.segment_size - SEGMENT_HEADER_LEN as u64;
        if len > max || u32::try_from(payload_len).is_err() {
            self.recycle([bytes]);
            return Err(WalError::RecordTooLarge { len, max });
        }
        let (header, payload) = bytes.split_at_mut(RECORD_HEADER_LEN);
        fill_header(header, payload, ty, 0);
        Ok(Prepared { bytes })
    }

    /// Keeps written record buffers for reuse, up to [`SPARE_BYTES`] in all.
    fn recycle(&self, buffers: impl IntoIterator<Item = Vec<u8>>) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        let mut kept: usize = spare.iter().map(Vec::capacity).sum();
        for buf in buffers {
            if kept + buf.capacity() <= SPARE_BYTES {
                kept += buf.capacity();
                spare.push(buf);
            }
        }
    }

    /// Queues a prepared record and assigns its sequence number.
    pub fn submit_prepared(&self, prepared: Prepared) -> Result<Ticket> {
        let Prepared { mut bytes } = prepared;
        let len = bytes.len() as u64;
        let mut st = self.lock_state();
        if let Some(cause) = &st.poisoned {
            return Err(WalError::Poisoned { cause: cause.clone() });
        }
        if let Some(limit) = self.opts.max_bytes
            && st.used_bytes + len > limit
        {
            metrics::counter!("chainstore_wal_quota_rejections_total").increment(1);
            return Err(WalError::QuotaExceeded { needed: len, used: st.used_bytes, limit });
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.used_bytes += len;
        set_header_seq(&mut bytes[..RECORD_HEADER_LEN], seq);
        st.pending.push(Pending { seq, bytes });
        Ok(Ticket { seq, epoch: st.epoch })
    }

    /// Waits until the record of `ticket` is as durable as `durability` says, leading a group
    /// commit if no other thread is.
    pub fn wait(&self, ticket: Ticket, durability: Durability) -> Result<()> {
        let mut st = self.lock_state();
        loop {
            if let Some(err) = self.rolled_back(&st, ticket) {
                return Err(err);
            }
            let done = match durability {
                Durability::Immediate => st.synced_seq >= ticket.seq,
                Durability::Buffered => st.written_seq >= ticket.seq,
            };
            if done {
                return Ok(());
            }
            if let Some(cause) = &st.poisoned {
                return Err(WalError::Poisoned { cause: cause.clone() });
            }
            if durability == Durability::Immediate {
                st.sync_wanted = st.sync_wanted.max(ticket.seq);
            }
            if st.leader {
                let thread = std::thread::current();
                st.waiters.push(Waiter { seq: ticket.seq, durability, thread });
                drop(st);
                // Woken by the leader (`wake`); a spurious return only checks again.
                std::thread::park();
                st = self.lock_state();
                continue;
            }
            st = self.lead(st);
        }
    }

    /// Makes every record appended so far durable.
    pub fn sync(&self) -> Result<()> {
        let ticket = {
            let st = self.lock_state();
            Ticket { seq: st.next_seq - 1, epoch: st.epoch }
        };
        self.wait(ticket, Durability::Immediate)
    }

    /// Removes the segments whose records all have sequence numbers at or below `seq` (never the
    /// segment being written). Returns how many were removed.
    pub fn truncate_through(&self, seq: u64) -> Result<usize> {
        let mut segments = self.segments.lock().unwrap_or_else(|e| e.into_inner());
        let mut freed = 0;
        let mut removed = 0;
        let mut result = Ok(());
        while segments.len() > 1 && segments[1].prev_last_seq <= seq {
            let path = segment_path(&self.dir, segments[0].number);
            if let Err(e) = self.vfs.remove(&path) {
                result = Err(WalError::Io { path, source: e });
                break;
            }
            freed += segments[0].bytes;
            removed += 1;
            segments.pop_front();
        }
        if removed > 0 {
            if let Some(first) = segments.front() {
                self.lock_marks().forget_before(first.number);
            }
            self.lock_state().used_bytes -= freed;
            debug!(target: "chainstore::wal", removed, through = seq, "truncated log segments");
            self.vfs.sync_dir(&self.dir).map_err(WalError::io(&self.dir))?;
        }
        drop(segments);
        self.publish_gauges();
        result.map(|()| removed)
    }

    /// Where a record with a sequence number at or below `seq` starts: the newest such record
    /// whose position the log remembers (it remembers the newest record and one per MiB of log).
    /// The owner of the log stores it with its checkpoint, so that a read-only open can start
    /// reading there instead of at the first segment (see [`super::read_from`]).
    pub fn position_at_or_before(&self, seq: u64) -> Option<LogPosition> {
        self.lock_marks().at_or_before(seq)
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.lock_state().next_seq
    }

    /// The highest sequence number known to be durable.
    pub fn synced_seq(&self) -> u64 {
        self.lock_state().synced_seq
    }

    /// Bytes of live log data (segment headers and records not yet truncated, plus queued ones).
    pub fn live_bytes(&self) -> u64 {
        self.lock_state().used_bytes
    }

    /// Number of live segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_marks(&self) -> MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rolled_back(&self, st: &State, ticket: Ticket) -> Option<WalError> {
        if ticket.epoch == st.epoch {
            return None;
        }
        let cut = st.cuts.iter().find(|c| c.epoch == ticket.epoch)?;
        if ticket.seq <= cut.cut_seq {
            return None;
        }
        Some(if cut.out_of_space {
            WalError::OutOfSpace {
                dir: self.dir.clone(),
                source: std::io::Error::new(std::io::ErrorKind::StorageFull, cut.cause.clone()),
            }
        } else {
            WalError::GroupFailed { cause: cut.cause.clone() }
        })
    }

    /// Leads one group commit: writes everything queued, syncs if anyone needs it.
    fn lead<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        st.leader = true;
        let mut batch = std::mem::take(&mut st.pending);
        let sync = st.sync_wanted > st.synced_seq;
        let last = batch.last().map_or(st.written_seq, |p| p.seq);
        drop(st);
        let result = self.write_batch(&mut batch, sync);
        let mut st = self.lock_state();
        st.leader = false;
        let failed = result.is_err();
        match result {
            Ok(()) => {
                st.written_seq = last;
                if sync {
                    st.synced_seq = last;
                }
            }
            Err(Failure::RolledBack { cause, out_of_space }) => {
                let cut_seq = st.written_seq;
                let dropped: u64 =
                    batch.iter().chain(&st.pending).map(|p| p.bytes.len() as u64).sum();
                warn!(target: "chainstore::wal", %cause, from = cut_seq + 1, "group commit rolled back");
                st.used_bytes -= dropped;
                st.pending.clear();
                st.next_seq = cut_seq + 1;
                let epoch = st.epoch;
                st.cuts.push(Cut { epoch, cut_seq, cause, out_of_space });
                st.epoch += 1;
            }
            Err(Failure::Poison(cause)) => {
                error!(target: "chainstore::wal", %cause, "commit log poisoned");
                metrics::counter!("chainstore_wal_poisoned_total").increment(1);
                st.poisoned = Some(cause);
            }
        }
        self.recycle(batch.into_iter().map(|p| p.bytes));
        wake(&mut st, failed);
        st
    }

    fn write_batch(&self, batch: &mut [Pending], sync: bool) -> Result<(), Failure> {
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        let chunks = self.plan(&io, batch);
        let mut current = io.file.clone();
        let mut files: Vec<Arc<dyn VfsFile>> = Vec::with_capacity(chunks.len());
        let mut created = 0;
        for chunk in &chunks {
            if let Some(header) = chunk.new {
                // The previous segment is complete on disk before the next one exists, so a
                // segment header vouches for every record before it and damage can only ever
                // be at the end of the last segment.
                self.sync_file(&*current)?;
                current = match self.create_segment(header) {
                    Ok(file) => file,
                    Err(e) => return Err(self.roll_back(&io, &chunks, created, e)),
                };
                created += 1;
            }
            files.push(current.clone());
            let records = &mut batch[chunk.records.clone()];
            let salt = chunk.new.map_or(io.salt, |h| h.salt);
            let mut offset = chunk.offset;
            for p in records.iter_mut() {
                seal_header(&mut p.bytes[..RECORD_HEADER_LEN], Position { salt, offset });
                offset += p.bytes.len() as u64;
            }
            let written = if let [one] = records {
                write_all_at(&*current, &one.bytes, chunk.offset)
            } else {
                // One write per segment: gather the records into the leader's reusable buffer.
                io.buf.clear();
                records.iter().for_each(|p| io.buf.extend_from_slice(&p.bytes));
                write_all_at(&*current, &io.buf, chunk.offset)
            };
            if let Err(e) = written {
                return Err(self.roll_back(&io, &chunks, created, e));
            }
        }
        if sync {
            self.sync_file(&*current)?;
        }
        let bytes: u64 = chunks.iter().map(|c| c.len).sum();
        metrics::counter!("chainstore_wal_written_bytes_total").increment(bytes);
        metrics::histogram!("chainstore_wal_group_commit_records").record(batch.len() as f64);
        self.advance(&mut io, &chunks, batch, files);
        Ok(())
    }

    /// Creates a new segment and makes its directory entry durable.
    fn create_segment(&self, header: SegmentHeader) -> std::io::Result<Arc<dyn VfsFile>> {
        let file = create_segment(&*self.vfs, &self.dir, header, header.segment_len)?;
        self.lock_state().used_bytes += SEGMENT_HEADER_LEN as u64;
        match self.vfs.sync_dir(&self.dir) {
            Ok(()) => Ok(file),
            Err(e) => {
                // Undone by the caller's roll_back, which removes every created segment.
                let _ = self.vfs.remove(&segment_path(&self.dir, header.number));
                self.lock_state().used_bytes -= SEGMENT_HEADER_LEN as u64;
                Err(e)
            }
        }
    }

    /// Splits a batch into per-segment chunks, starting new segments where the active one is full.
    fn plan(&self, io: &Io, batch: &[Pending]) -> Vec<Chunk> {
        let mut chunks: Vec<Chunk> = Vec::new();
        let (mut number, mut offset, mut capacity) = (io.number, io.end, io.capacity);
        for (i, p) in batch.iter().enumerate() {
            let len = p.bytes.len() as u64;
            if offset + len > capacity {
                number += 1;
                offset = SEGMENT_HEADER_LEN as u64;
                capacity = segment_len(&self.opts, capacity, len);
                let header = SegmentHeader {
                    number,
                    first_seq: p.seq,
                    prev_last_seq: p.seq - 1,
                    segment_len: capacity,
                    salt: fresh_salt(),
                };
                chunks.push(Chunk { new: Some(header), offset, records: i..i, len: 0 });
            } else if chunks.is_empty() {
                chunks.push(Chunk { new: None, offset, records: i..i, len: 0 });
            }
            if let Some(c) = chunks.last_mut() {
                c.records.end = i + 1;
                c.len += len;
            }
            offset += len;
        }
        chunks
    }

    /// Undoes a failed batch: zeroes what went (or may have gone) into the active segment and
    /// removes the `created` segments made for it so far.
    fn roll_back(&self, io: &Io, chunks: &[Chunk], created: usize, err: std::io::Error) -> Failure {
        let into_active = chunks.first().filter(|c| c.new.is_none()).map_or(0, |c| c.len as usize);
        let zeros = vec![0u8; into_active];
        let undo = write_all_at(&*io.file, &zeros, io.end).and_then(|()| io.file.sync_data());
        if let Err(e) = undo {
            return Failure::Poison(format!(
                "write failed ({err}) and could not be rolled back ({e})"
            ));
        }
        let numbers: Vec<u64> =
            chunks.iter().filter_map(|c| c.new.map(|h| h.number)).take(created).collect();
        if let Err(f) = self.remove_segments(&numbers) {
            return f;
        }
        self.lock_state().used_bytes -= (numbers.len() * SEGMENT_HEADER_LEN) as u64;
        failure(&self.dir, err)
    }

    fn remove_segments(&self, numbers: &[u64]) -> Result<(), Failure> {
        for &n in numbers.iter().rev() {
            let path = segment_path(&self.dir, n);
            self.vfs.remove(&path).map_err(|e| {
                Failure::Poison(format!("could not remove {}: {e}", path.display()))
            })?;
        }
        if !numbers.is_empty() {
            self.vfs
                .sync_dir(&self.dir)
                .map_err(|e| Failure::Poison(format!("sync of log directory failed: {e}")))?;
        }
        Ok(())
    }

    fn sync_file(&self, file: &dyn VfsFile) -> Result<(), Failure> {
        let started = Instant::now();
        file.sync_data()
            .map_err(|e| Failure::Poison(format!("fdatasync of the log failed: {e}")))?;
        metrics::histogram!("chainstore_wal_fsync_seconds").record(started.elapsed());
        Ok(())
    }

    /// Moves the write position past a written batch and records new segments and the
    /// positions of the batch's records.
    fn advance(
        &self,
        io: &mut Io,
        chunks: &[Chunk],
        batch: &[Pending],
        files: Vec<Arc<dyn VfsFile>>,
    ) {
        let mut segments = self.segments.lock().unwrap_or_else(|e| e.into_inner());
        let mut marks = self.lock_marks();
        for (chunk, file) in chunks.iter().zip(files) {
            if let Some(h) = chunk.new {
                io.number = h.number;
                io.salt = h.salt;
                io.file = file;
                io.capacity = h.segment_len;
                segments.push_back(SegmentInfo {
                    number: h.number,
                    prev_last_seq: h.prev_last_seq,
                    bytes: SEGMENT_HEADER_LEN as u64,
                    salt: h.salt,
                });
            }
            let mut offset = chunk.offset;
            for p in &batch[chunk.records.clone()] {
                marks.note(LogPosition { segment: io.number, offset, seq: p.seq });
                offset += p.bytes.len() as u64;
            }
            io.end = chunk.offset + chunk.len;
            if let Some(last) = segments.back_mut() {
                last.bytes = io.end;
            }
        }
        drop(marks);
        drop(segments);
        self.publish_gauges();
    }

    fn publish_gauges(&self) {
        let segments = self.segment_count();
        metrics::gauge!("chainstore_wal_segments").set(segments as f64);
        metrics::gauge!("chainstore_wal_live_bytes").set(self.live_bytes() as f64);
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let poisoned = self.lock_state().poisoned.is_some();
        if !poisoned && let Err(e) = self.sync() {
            warn!(target: "chainstore::wal", error = %e, "final sync of the commit log failed");
        }
    }
}

/// Wakes the waiters whose records a group commit has settled (every waiter after a failure, to
/// see it), then the waiter with the oldest record still waiting, to lead the next group or wait
/// again. Waking every waiter per group (one condition variable) cost, with 16 appenders on 2
/// cores, about as much as the `fdatasync` they shared.
fn wake(st: &mut State, failed: bool) {
    let (written, synced) = (st.written_seq, st.synced_seq);
    st.waiters.retain(|w| {
        let settled = failed
            || match w.durability {
                Durability::Immediate => w.seq <= synced,
                Durability::Buffered => w.seq <= written,
            };
        if settled {
            w.thread.unpark();
        }
        !settled
    });
    if let Some(i) = (0..st.waiters.len()).min_by_key(|&i| st.waiters[i].seq) {
        st.waiters.swap_remove(i).thread.unpark();
    }
}

fn failure(dir: &Path, err: std::io::Error) -> Failure {
    if is_out_of_space(&err) {
        Failure::RolledBack { cause: format!("{err} (in {})", dir.display()), out_of_space: true }
    } else {
        Failure::Poison(format!("write to the log failed: {err}"))
    }
}

/// The length of a new segment: double the one before (`previous`, 0 for the first segment a
/// log creates when it opens, which gets `initial_segment_size`), at least the header and the
/// `record` bytes that start it, at most `segment_size` (which every record fits).
fn segment_len(opts: &WalOptions, previous: u64, record: u64) -> u64 {
    let min = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 1) as u64;
    let grown = if previous == 0 { opts.initial_segment_size } else { previous.saturating_mul(2) };
    grown.max(SEGMENT_HEADER_LEN as u64 + record).max(min).min(opts.segment_size)
}

/// Creates a segment atomically: a temporary file gets the header and zeros up to `size` and is
/// synced, then renamed into place. The caller syncs the directory.
fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    header: SegmentHeader,
    size: u64,
) -> std::io::Result<Arc<dyn VfsFile>> {
    let path = segment_path(dir, header.number);
    let tmp = dir.join(format!("{:020}{TEMP_SUFFIX}", header.number));
    let build = || -> std::io::Result<Arc<dyn VfsFile>> {
        let file = vfs.open(&tmp, OpenMode::CreateNew)?;
        write_all_at(&*file, &header.encode(), 0)?;
        write_zeros(&*file, SEGMENT_HEADER_LEN as u64, size)?;
        file.sync_data()?;
        vfs.rename(&tmp, &path)?;
        Ok(file)
    };
    build().inspect_err(|_| {
        let _ = vfs.remove(&tmp);
    })
}
