//! [`FaultFs`]: an in-memory file system that models power loss and injects I/O errors.
//!
//! Every file has a durable image and a list of writes made since its last `sync_data`; every
//! directory has a durable and a current set of entries, made equal by `sync_dir`. A crash
//! ([`FaultFs::crash`]) keeps the durable state plus whatever part of the unsynced writes its
//! [`CrashFate`] says, so a test can stop a workload at any write or sync point and check what
//! recovery makes of each possible outcome.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{LockGuard, OpenMode, Vfs, VfsFile, write_all_at};

/// What survives of the unsynced writes when [`FaultFs::crash`] simulates a power loss.
///
/// Unsynced writes are ordered globally (across files) in the order they were made; the fates
/// keep a prefix of that order. Unsynced directory changes survive only with `KeepUnsynced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashFate {
    /// Every unsynced write is lost.
    DropUnsynced,
    /// Every write survives (a process crash: the page cache outlives the process).
    KeepUnsynced,
    /// The first `ops` unsynced writes survive, the rest are lost.
    KeepPrefix {
        /// How many unsynced writes survive.
        ops: usize,
    },
    /// The first `ops` unsynced writes survive and the next one is torn: only its first
    /// `keep_bytes` bytes reach the disk.
    Tear {
        /// How many unsynced writes survive whole.
        ops: usize,
        /// How many bytes of the next write survive.
        keep_bytes: usize,
    },
    /// The first `ops` unsynced writes survive and the next one lands as garbage (derived from
    /// `seed`) in the 512-byte sectors that held only zeros (fresh space: preallocated log
    /// segments, new pages). Sectors that already held data keep their old content: rewrites are
    /// sector-atomic on current disks, which redb (like SQLite) relies on for its header.
    Garbage {
        /// How many unsynced writes survive whole.
        ops: usize,
        /// Seed of the garbage bytes.
        seed: u64,
    },
}

/// An in-memory file system with power-loss simulation and error injection. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct FaultFs {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    generation: u64,
    next_inode: u64,
    inodes: HashMap<u64, Inode>,
    dirs: BTreeMap<PathBuf, Dir>,
    next_order: u64,
    mutations: u64,
    dead_after: Option<u64>,
    syncs: u64,
    fail_sync: Option<u64>,
    space_limit: Option<u64>,
    short_writes: bool,
    locks: std::collections::HashSet<PathBuf>,
}

#[derive(Debug, Default, Clone)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<Pending>,
}

#[derive(Debug, Clone)]
struct Pending {
    order: u64,
    op: DataOp,
}

#[derive(Debug, Clone)]
enum DataOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default, Clone)]
struct Dir {
    durable: BTreeMap<OsString, u64>,
    current: BTreeMap<OsString, u64>,
}

impl FaultFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many mutating operations (write, set_len, sync, create, rename, remove, sync_dir)
    /// have been performed so far.
    pub fn mutations(&self) -> u64 {
        self.lock().mutations
    }

    /// After `n` more mutating operations the machine "dies": every later operation fails until
    /// [`FaultFs::crash`] is called.
    pub fn die_after(&self, n: u64) {
        let mut inner = self.lock();
        inner.dead_after = Some(inner.mutations + n);
    }

    /// The `k`-th sync from now (1-based, counting `sync_data` and `sync_dir`) fails with EIO and
    /// makes nothing durable.
    pub fn fail_sync_at(&self, k: u64) {
        let mut inner = self.lock();
        inner.fail_sync = Some(inner.syncs + k);
    }

    /// Limits the total size of all files to `bytes`: writes beyond it fail with ENOSPC (after
    /// a short write of whatever fits). `None` removes the limit.
    pub fn set_space_limit(&self, bytes: Option<u64>) {
        self.lock().space_limit = bytes;
    }

    /// When on, every write stores at most half of its buffer (callers must loop).
    pub fn set_short_writes(&self, on: bool) {
        self.lock().short_writes = on;
    }

    /// An independent copy of this file system in its current state (durable images, unsynced
    /// writes, injected faults), so one workload can be crashed with several fates.
    pub fn fork(&self) -> FaultFs {
        FaultFs { inner: Arc::new(Mutex::new(self.lock().clone())) }
    }

    /// How many writes are not yet durable (across all files).
    pub fn unsynced_writes(&self) -> usize {
        self.lock().inodes.values().map(|i| i.pending.len()).sum()
    }

    /// Total bytes of all files currently linked in a directory.
    pub fn used_bytes(&self) -> u64 {
        self.lock().used_bytes()
    }

    /// Simulates a power loss: keeps the durable state plus what `fate` says of the unsynced
    /// writes, invalidates every open handle, and clears `die_after`.
    pub fn crash(&self, fate: CrashFate) {
        let mut inner = self.lock();
        inner.apply_fate(fate);
        inner.locks.clear();
        inner.generation += 1;
        inner.dead_after = None;
    }

    /// The current content of the file at `path` (for tests that inspect or damage files).
    pub fn contents(&self, path: &Path) -> io::Result<Vec<u8>> {
        let inner = self.lock();
        let id = inner.lookup(path)?;
        Ok(inner.inodes[&id].current.clone())
    }

    /// Replaces the content of the file at `path`, durably (simulates damage at rest).
    pub fn set_contents(&self, path: &Path, data: Vec<u8>) -> io::Result<()> {
        let mut inner = self.lock();
        let id = inner.lookup(path)?;
        let inode = inner.inodes.get_mut(&id).ok_or_else(not_found)?;
        inode.durable = data.clone();
        inode.current = data;
        inode.pending.clear();
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the model usable: recover the guard.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn check_alive(&self) -> io::Result<()> {
        match self.dead_after {
            Some(limit) if self.mutations >= limit => {
                Err(io::Error::other("FaultFs: the machine lost power"))
            }
            _ => Ok(()),
        }
    }

    /// Counts one mutating operation; fails if the machine is dead.
    fn mutate(&mut self) -> io::Result<()> {
        self.check_alive()?;
        self.mutations += 1;
        Ok(())
    }

    fn split(path: &Path) -> io::Result<(PathBuf, OsString)> {
        match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => Ok((dir.to_path_buf(), name.to_os_string())),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "path has no file name")),
        }
    }

    fn dir(&self, dir: &Path) -> io::Result<&Dir> {
        self.dirs.get(dir).ok_or_else(not_found)
    }

    fn dir_mut(&mut self, dir: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(dir).ok_or_else(not_found)
    }

    fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (dir, name) = Self::split(path)?;
        self.dir(&dir)?.current.get(&name).copied().ok_or_else(not_found)
    }

    fn used_bytes(&self) -> u64 {
        let mut linked: Vec<u64> =
            self.dirs.values().flat_map(|d| d.current.values()).copied().collect();
        linked.sort_unstable();
        linked.dedup();
        linked.iter().filter_map(|id| self.inodes.get(id)).map(|i| i.current.len() as u64).sum()
    }

    /// How many bytes the file `id` may grow by before the space limit.
    fn growth_allowed(&self) -> u64 {
        match self.space_limit {
            Some(limit) => limit.saturating_sub(self.used_bytes()),
            None => u64::MAX,
        }
    }

    fn record(&mut self, id: u64, op: DataOp) {
        let order = self.next_order;
        self.next_order += 1;
        if let Some(inode) = self.inodes.get_mut(&id) {
            apply(&mut inode.current, &op);
            inode.pending.push(Pending { order, op });
        }
    }

    fn apply_fate(&mut self, fate: CrashFate) {
        let mut all: Vec<(u64, u64, DataOp)> = Vec::new();
        for (id, inode) in &mut self.inodes {
            for p in inode.pending.drain(..) {
                all.push((p.order, *id, p.op));
            }
        }
        all.sort_by_key(|(order, _, _)| *order);
        let all_data: Vec<Option<Vec<u8>>> = all
            .iter()
            .map(|(_, _, op)| match op {
                DataOp::Write { data, .. } => Some(data.clone()),
                DataOp::SetLen(_) => None,
            })
            .collect();
        let (keep, partial) = match fate {
            CrashFate::DropUnsynced => (0, None),
            CrashFate::KeepUnsynced => (all.len(), None),
            CrashFate::KeepPrefix { ops } => (ops, None),
            CrashFate::Tear { ops, keep_bytes } => (ops, Some(Partial::Tear(keep_bytes))),
            CrashFate::Garbage { ops, seed } => (ops, Some(Partial::Garbage(seed))),
        };
        for (i, (_, id, op)) in all.into_iter().enumerate() {
            let op = match (i.cmp(&keep), partial) {
                (std::cmp::Ordering::Less, _) => Some(op),
                (std::cmp::Ordering::Equal, Some(p)) => p.damage(op),
                _ => None,
            };
            if let (Some(op), Some(inode)) = (op, self.inodes.get_mut(&id)) {
                let op = match (partial, i == keep) {
                    (Some(Partial::Garbage(_)), true) => {
                        keep_unchanged(&inode.durable, op, &all_data[i])
                    }
                    _ => op,
                };
                apply(&mut inode.durable, &op);
            }
        }
        let keep_dirs = fate == CrashFate::KeepUnsynced;
        for dir in self.dirs.values_mut() {
            if keep_dirs {
                dir.durable = dir.current.clone();
            } else {
                dir.current = dir.durable.clone();
            }
        }
        let linked: std::collections::HashSet<u64> =
            self.dirs.values().flat_map(|d| d.current.values()).copied().collect();
        self.inodes.retain(|id, _| linked.contains(id));
        for inode in self.inodes.values_mut() {
            inode.current = inode.durable.clone();
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        self.mutate()?;
        self.syncs += 1;
        if self.fail_sync == Some(self.syncs) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Partial {
    Tear(usize),
    Garbage(u64),
}

impl Partial {
    fn damage(self, op: DataOp) -> Option<DataOp> {
        match (self, op) {
            (Partial::Tear(keep), DataOp::Write { offset, mut data }) => {
                data.truncate(keep);
                Some(DataOp::Write { offset, data })
            }
            (Partial::Garbage(seed), DataOp::Write { offset, data }) => {
                let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
                let garbage = data.iter().map(|_| splitmix(&mut state) as u8).collect();
                Some(DataOp::Write { offset, data: garbage })
            }
            (_, DataOp::SetLen(_)) => None,
        }
    }
}

/// Confines a garbage write to fresh sectors: where the durable sector held data, the old
/// content stays; where the write would not change a byte, the byte stays.
fn keep_unchanged(durable: &[u8], garbage: DataOp, intended: &Option<Vec<u8>>) -> DataOp {
    const SECTOR: usize = 512;
    let fresh = |sector: usize| {
        let start = (sector * SECTOR).min(durable.len());
        let end = ((sector + 1) * SECTOR).min(durable.len());
        durable[start..end].iter().all(|&b| b == 0)
    };
    match (garbage, intended) {
        (DataOp::Write { offset, mut data }, Some(intended)) => {
            for (i, b) in data.iter_mut().enumerate() {
                let at = offset as usize + i;
                let old = durable.get(at).copied().unwrap_or(0);
                if !fresh(at / SECTOR) {
                    *b = old;
                } else if old == intended[i] {
                    *b = intended[i];
                }
            }
            DataOp::Write { offset, data }
        }
        (op, _) => op,
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn apply(image: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write { offset, data } => {
            let start = *offset as usize;
            let end = start + data.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[start..end].copy_from_slice(data);
        }
        DataOp::SetLen(len) => image.resize(*len as usize, 0),
    }
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "FaultFs: no such file or directory")
}

impl Vfs for FaultFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        let mut inner = self.lock();
        inner.check_alive()?;
        let id = match mode {
            OpenMode::Read | OpenMode::ReadWrite => inner.lookup(path)?,
            OpenMode::CreateNew => {
                let (dir, name) = Inner::split(path)?;
                if inner.dir(&dir)?.current.contains_key(&name) {
                    return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
                }
                inner.mutate()?;
                let id = inner.next_inode;
                inner.next_inode += 1;
                inner.inodes.insert(id, Inode::default());
                inner.dir_mut(&dir)?.current.insert(name, id);
                id
            }
        };
        Ok(Arc::new(FaultFile {
            fs: self.clone(),
            id,
            generation: inner.generation,
            writable: mode != OpenMode::Read,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let (from_dir, from_name) = Inner::split(from)?;
        let (to_dir, to_name) = Inner::split(to)?;
        inner.dir(&to_dir)?;
        let id = inner.lookup(from)?;
        inner.mutate()?;
        inner.dir_mut(&from_dir)?.current.remove(&from_name);
        inner.dir_mut(&to_dir)?.current.insert(to_name, id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let (dir, name) = Inner::split(path)?;
        inner.lookup(path)?;
        inner.mutate()?;
        inner.dir_mut(&dir)?.current.remove(&name);
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let inner = self.lock();
        inner.check_alive()?;
        Ok(inner.dir(dir)?.current.keys().cloned().collect())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        inner.check_alive()?;
        // Directories themselves are durable at once: the log never creates them on a hot path.
        for ancestor in dir.ancestors() {
            inner.dirs.entry(ancestor.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        inner.dir(dir)?;
        inner.sync()?;
        let d = inner.dir_mut(dir)?;
        d.durable = d.current.clone();
        Ok(())
    }

    fn lock(&self, path: &Path, owner: &str) -> io::Result<Box<dyn LockGuard>> {
        if !self.lock().locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked by another holder"));
        }
        let generation = self.lock().generation;
        let guard = FaultLock { fs: self.clone(), path: path.to_path_buf(), generation };
        let file = match self.open(path, OpenMode::ReadWrite) {
            Ok(f) => f,
            Err(_) => self.open(path, OpenMode::CreateNew)?,
        };
        file.set_len(0)?;
        write_all_at(&*file, owner.as_bytes(), 0)?;
        Ok(Box::new(guard))
    }
}

/// A lock held in a [`FaultFs`] (locks model processes, so a crash releases them all).
#[derive(Debug)]
struct FaultLock {
    fs: FaultFs,
    path: PathBuf,
    generation: u64,
}

impl LockGuard for FaultLock {}

impl Drop for FaultLock {
    fn drop(&mut self) {
        let mut inner = self.fs.lock();
        // A guard from before a crash belongs to a dead process: its lock is already gone.
        if inner.generation == self.generation {
            inner.locks.remove(&self.path);
        }
    }
}

#[derive(Debug)]
struct FaultFile {
    fs: FaultFs,
    id: u64,
    generation: u64,
    writable: bool,
}

impl FaultFile {
    fn inner(&self) -> io::Result<MutexGuard<'_, Inner>> {
        let inner = self.fs.lock();
        if inner.generation != self.generation {
            return Err(io::Error::other("FaultFs: handle from before a crash"));
        }
        inner.check_alive()?;
        Ok(inner)
    }

    fn writable_inner(&self) -> io::Result<MutexGuard<'_, Inner>> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "file opened read-only"));
        }
        self.inner()
    }
}

impl VfsFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let inner = self.inner()?;
        let data = &inner.inodes.get(&self.id).ok_or_else(not_found)?.current;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let mut inner = self.writable_inner()?;
        let len = inner.inodes.get(&self.id).ok_or_else(not_found)?.current.len() as u64;
        let mut n = buf.len() as u64;
        if inner.short_writes && n > 1 {
            n /= 2;
        }
        let end = (offset + n).max(len);
        if end > len {
            let room = len.saturating_add(inner.growth_allowed()).saturating_sub(offset);
            n = n.min(room);
        }
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        inner.mutate()?;
        let data = buf[..n as usize].to_vec();
        inner.record(self.id, DataOp::Write { offset, data });
        Ok(n as usize)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut inner = self.inner()?;
        inner.sync()?;
        let inode = inner.inodes.get_mut(&self.id).ok_or_else(not_found)?;
        inode.durable = inode.current.clone();
        inode.pending.clear();
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut inner = self.writable_inner()?;
        let current = inner.inodes.get(&self.id).ok_or_else(not_found)?.current.len() as u64;
        if len > current && len - current > inner.growth_allowed() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        inner.mutate()?;
        inner.record(self.id, DataOp::SetLen(len));
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let inner = self.inner()?;
        Ok(inner.inodes.get(&self.id).ok_or_else(not_found)?.current.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{read_all, write_all_at};

    fn setup() -> (FaultFs, Arc<dyn VfsFile>) {
        let fs = FaultFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/f"), OpenMode::CreateNew).unwrap();
        (fs, f)
    }

    #[test]
    fn unsynced_writes_and_entries_are_lost_on_power_loss() {
        let (fs, f) = setup();
        write_all_at(&*f, b"hello", 0).unwrap();
        f.sync_data().unwrap();
        fs.crash(CrashFate::DropUnsynced);
        // The file's data was synced but its directory entry was not.
        assert!(fs.open(Path::new("/d/f"), OpenMode::Read).is_err());
    }

    #[test]
    fn synced_data_and_directory_survive() {
        let (fs, f) = setup();
        write_all_at(&*f, b"hello", 0).unwrap();
        f.sync_data().unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        write_all_at(&*f, b"world", 5).unwrap();
        fs.crash(CrashFate::DropUnsynced);
        let f = fs.open(Path::new("/d/f"), OpenMode::Read).unwrap();
        assert_eq!(read_all(&*f).unwrap(), b"hello");
    }

    #[test]
    fn fates_keep_prefix_tear_and_garble() {
        for (fate, expect) in [
            (CrashFate::KeepPrefix { ops: 1 }, b"aaaa".to_vec()),
            (CrashFate::Tear { ops: 1, keep_bytes: 2 }, b"aaaabb".to_vec()),
            (CrashFate::KeepUnsynced, b"aaaabbbbcccc".to_vec()),
        ] {
            let (fs, f) = setup();
            fs.sync_dir(Path::new("/d")).unwrap();
            for (i, chunk) in [b"aaaa", b"bbbb", b"cccc"].iter().enumerate() {
                write_all_at(&*f, *chunk, i as u64 * 4).unwrap();
            }
            fs.crash(fate);
            assert!(f.len().is_err(), "old handles are invalid after a crash");
            let f = fs.open(Path::new("/d/f"), OpenMode::Read).unwrap();
            assert_eq!(read_all(&*f).unwrap(), expect, "{fate:?}");
        }
        let (fs, f) = setup();
        fs.sync_dir(Path::new("/d")).unwrap();
        write_all_at(&*f, b"aaaa", 0).unwrap();
        fs.crash(CrashFate::Garbage { ops: 0, seed: 7 });
        let got = read_all(&*fs.open(Path::new("/d/f"), OpenMode::Read).unwrap()).unwrap();
        assert_eq!(got.len(), 4);
        assert_ne!(got, b"aaaa");
    }

    #[test]
    fn injected_sync_failure_and_space_limit() {
        let (fs, f) = setup();
        fs.fail_sync_at(2);
        f.sync_data().unwrap();
        assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(libc::EIO));
        f.sync_data().unwrap();

        fs.set_space_limit(Some(6));
        assert_eq!(f.write_at(b"12345678", 0).unwrap(), 6, "short write up to the limit");
        let err = write_all_at(&*f, b"12345678", 0).unwrap_err();
        assert!(crate::vfs::is_out_of_space(&err));
        // Overwriting allocated bytes needs no space.
        write_all_at(&*f, b"abcdef", 0).unwrap();
        fs.set_space_limit(None);
        write_all_at(&*f, b"12345678", 0).unwrap();
    }

    #[test]
    fn short_writes_are_looped_and_death_stops_everything() {
        let (fs, f) = setup();
        fs.set_short_writes(true);
        write_all_at(&*f, &[7u8; 100], 0).unwrap();
        assert_eq!(f.len().unwrap(), 100);
        fs.die_after(1);
        f.sync_data().unwrap();
        assert!(f.write_at(b"x", 0).is_err());
        assert!(f.read_at(&mut [0u8; 1], 0).is_err());
    }
}
