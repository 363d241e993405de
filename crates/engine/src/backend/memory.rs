//! An in-memory backend for tests: copy-on-write tables, O(1) snapshots.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Backend, BackendError, BackendIter, BackendSnapshot, Checkpoint, KeyRange, Op};
use crate::wal::LogPosition;

type Table = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone, Default)]
struct Image {
    tables: BTreeMap<String, Arc<Table>>,
    checkpoint: Checkpoint,
}

/// An in-memory backend. Cloning shares the data, so a test can "reopen" a database on it.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    image: Arc<Mutex<Arc<Image>>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn current(&self) -> Arc<Image> {
        self.image.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Backend for MemoryBackend {
    fn snapshot(&self) -> Result<Arc<dyn BackendSnapshot>, BackendError> {
        Ok(Arc::new(MemorySnapshot(self.current())))
    }

    fn apply(&self, ops: &[Op], checkpoint: Checkpoint) -> Result<(), BackendError> {
        let mut guard = self.image.lock().unwrap_or_else(|e| e.into_inner());
        let mut image = Image::clone(&guard);
        for (table, key, value) in ops {
            let t = Arc::make_mut(image.tables.entry(table.to_string()).or_default());
            match value {
                Some(v) => t.insert(key.to_vec(), v.to_vec()),
                None => t.remove(&**key),
            };
        }
        image.checkpoint = checkpoint;
        *guard = Arc::new(image);
        Ok(())
    }

    fn disk_bytes(&self) -> u64 {
        let image = self.current();
        image.tables.values().flat_map(|t| t.iter()).map(|(k, v)| (k.len() + v.len()) as u64).sum()
    }

    fn compact(&self) -> Result<bool, BackendError> {
        Ok(false)
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[derive(Debug)]
struct MemorySnapshot(Arc<Image>);

impl BackendSnapshot for MemorySnapshot {
    fn checkpoint(&self) -> u64 {
        self.0.checkpoint.seq
    }

    fn log_position(&self) -> Result<Option<LogPosition>, BackendError> {
        Ok(self.0.checkpoint.position)
    }

    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.0.tables.get(table).and_then(|t| t.get(key)).cloned())
    }

    fn range(
        &self,
        table: &str,
        range: &KeyRange,
        reverse: bool,
    ) -> Result<BackendIter, BackendError> {
        let Some(t) = self.0.tables.get(table) else { return Ok(Box::new(std::iter::empty())) };
        if range.is_empty() {
            return Ok(Box::new(std::iter::empty()));
        }
        let bounds = range.as_slices();
        let mut items: Vec<_> =
            t.range::<[u8], _>(bounds).map(|(k, v)| Ok((k.clone(), v.clone()))).collect();
        if reverse {
            items.reverse();
        }
        Ok(Box::new(items.into_iter()))
    }

    fn tables(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.0.tables.iter().filter(|(_, t)| !t.is_empty()).map(|(n, _)| n.clone()).collect())
    }
}
