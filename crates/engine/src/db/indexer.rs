//! The background indexer: moves committed writes from the memtable into the backend in large
//! batches, each committed together with its checkpoint, then frees the memtable and truncates
//! the commit log.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, error};

use super::error::Result;
use super::{IndexerFailure, Inner};
use crate::backend::{BackendSnapshot, Checkpoint};

pub(super) fn spawn(inner: Arc<Inner>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("chainstore-indexer".into()).spawn(move || run(&inner))
}

/// Records, even if the indexer panics, that it is gone, so `flush` reports it instead of
/// waiting forever.
struct Exit<'a>(&'a Inner);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        let mut ix = self.0.lock_indexer();
        if std::thread::panicking() {
            let message = "the indexer thread panicked; reopen the database".into();
            ix.error = Some(IndexerFailure::Other(message));
        }
        ix.stopped = true;
        drop(ix);
        self.0.indexed.notify_all();
    }
}

fn run(inner: &Inner) {
    let _exit = Exit(inner);
    let mut backoff = Duration::from_millis(10);
    loop {
        let shutdown = wait_for_work(inner);
        match index_once(inner) {
            Ok(()) => {
                backoff = Duration::from_millis(10);
                let mut ix = inner.lock_indexer();
                ix.error = None;
                ix.attempts += 1;
            }
            Err(e) => {
                error!(target: "chainstore::indexer", error = %e, "indexing failed; retrying");
                metrics::counter!("chainstore_indexer_errors_total").increment(1);
                refresh_snapshot(inner);
                let mut ix = inner.lock_indexer();
                ix.error.get_or_insert_with(|| IndexerFailure::of(&e));
                ix.attempts += 1;
                // The batch is still to do: it is due again after the interval.
                ix.oldest_unindexed.get_or_insert_with(Instant::now);
                drop(ix);
                inner.indexed.notify_all();
                if shutdown {
                    inner.indexed.notify_all();
                    return;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        inner.indexed.notify_all();
        let caught_up = {
            let view = inner.lock_view();
            view.visible <= view.backend.checkpoint()
        };
        if shutdown && caught_up {
            return;
        }
    }
}

/// Sleeps until there is enough to index, the interval has passed, a flush is wanted, or the
/// database is closing (returns true then).
fn wait_for_work(inner: &Inner) -> bool {
    let interval = inner.opts.index_interval;
    let mut ix = inner.lock_indexer();
    loop {
        let pending = {
            let view = inner.lock_view();
            view.visible > view.backend.checkpoint()
        };
        let full = inner.mem_bytes.load(Ordering::Relaxed) >= inner.opts.index_batch_bytes as u64;
        let due = ix.oldest_unindexed.is_some_and(|t| t.elapsed() >= interval);
        if ix.shutdown {
            return true;
        }
        if ix.flush_wanted || (pending && (full || due)) {
            ix.flush_wanted = false;
            return false;
        }
        let gc_due = ix.last_gc.is_none_or(|t| t.elapsed() >= interval / 4);
        if full && gc_due {
            // Memory is held only by versions pinned by old snapshots: retry garbage collection,
            // but not in a busy loop (it takes the memtable's write lock).
            return false;
        }
        ix = inner.indexer_wake.wait_timeout(ix, interval / 4).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// Writes the oldest visible commits not yet indexed into the backend — at most about
/// `4 × index_batch_bytes` of them, so that each batch frees memory soon instead of one batch
/// holding everything — then frees what no reader needs.
fn index_once(inner: &Inner) -> Result<()> {
    let (from, target) = {
        let view = inner.lock_view();
        let max_bytes = (inner.opts.index_batch_bytes as u64).saturating_mul(4);
        (view.backend.checkpoint(), batch_target(&view, max_bytes))
    };
    if target > from {
        inner.lock_indexer().oldest_unindexed = None;
        let ops = inner.memtable.read().unwrap_or_else(|e| e.into_inner()).unindexed(
            from,
            target,
            &inner.lock_tables(),
        );
        let started = Instant::now();
        let position = inner.wal()?.position_at_or_before(target);
        inner.backend.apply(&ops, Checkpoint { seq: target, position })?;
        metrics::histogram!("chainstore_indexer_backend_commit_seconds").record(started.elapsed());
        metrics::histogram!("chainstore_indexer_batch_ops").record(ops.len() as f64);
        let snapshot = inner.backend.snapshot()?;
        let mut view = inner.lock_view();
        install(&mut view, snapshot);
        let lag = view.visible - target;
        drop(view);
        metrics::gauge!("chainstore_indexer_lag_seqs").set(lag as f64);
        metrics::gauge!("chainstore_indexer_checkpoint").set(target as f64);
        debug!(target: "chainstore::indexer", from, to = target, ops = ops.len(), "indexed");
        if lag > 0 {
            inner.lock_indexer().oldest_unindexed.get_or_insert_with(Instant::now);
        }
    }
    collect_garbage(inner);
    let checkpoint = inner.lock_view().backend.checkpoint();
    inner.wal()?.truncate_through(checkpoint)?;
    Ok(())
}

/// Makes `snapshot` the one readers see below the memtable, and forgets the unindexed commits
/// it holds.
fn install(view: &mut super::View, snapshot: Arc<dyn BackendSnapshot>) {
    let checkpoint = snapshot.checkpoint();
    view.backend = snapshot;
    while view.unindexed.front().is_some_and(|(seq, _)| *seq <= checkpoint) {
        view.unindexed.pop_front();
    }
}

/// After a failed batch the backend may have a new handle (redb reopens its file after an I/O
/// error, and reads through the old handle's snapshots then fail): readers get a snapshot of
/// it, if one can be taken and it is not behind the one they have.
fn refresh_snapshot(inner: &Inner) {
    let Ok(snapshot) = inner.backend.snapshot() else { return };
    let mut view = inner.lock_view();
    if snapshot.checkpoint() >= view.backend.checkpoint() {
        install(&mut view, snapshot);
    }
}

/// The sequence number through which the next batch indexes: the longest prefix of the
/// unindexed commits within `max_bytes` (at least one commit).
fn batch_target(view: &super::View, max_bytes: u64) -> u64 {
    if view.unindexed.is_empty() {
        // Nothing is accounted (cannot happen while commits are visible and unindexed, but
        // never stall on it): index everything visible.
        return view.visible;
    }
    let mut total = 0u64;
    let mut target = view.backend.checkpoint();
    for &(seq, bytes) in &view.unindexed {
        if total > 0 && total.saturating_add(bytes) > max_bytes {
            break;
        }
        total = total.saturating_add(bytes);
        target = seq;
    }
    target.max(view.backend.checkpoint())
}

fn collect_garbage(inner: &Inner) {
    inner.lock_indexer().last_gc = Some(Instant::now());
    let bound = {
        let view = inner.lock_view();
        let checkpoint = view.backend.checkpoint();
        view.pins.keys().next().map_or(checkpoint, |&oldest| oldest.min(checkpoint))
    };
    let bytes = {
        let mut memtable = inner.memtable.write().unwrap_or_else(|e| e.into_inner());
        memtable.collect_garbage(bound);
        memtable.bytes() as u64
    };
    inner.mem_bytes.store(bytes, Ordering::Relaxed);
    metrics::gauge!("chainstore_db_memtable_bytes").set(bytes as f64);
    metrics::gauge!("chainstore_wal_live_bytes").set(inner.log.live_bytes() as f64);
    let _guard = inner.room_lock.lock().unwrap_or_else(|e| e.into_inner());
    inner.room.notify_all();
}
