//! The narrow file interface the commit log (and later snapshots and backups) goes through.
//!
//! Two implementations: [`RealFs`] over the operating system, and [`FaultFs`], an in-memory
//! file system for tests that models what survives a power loss (per file a durable image plus
//! unsynced writes, directory entries that only become durable with [`Vfs::sync_dir`]) and injects
//! errors (EIO on a chosen sync, ENOSPC past a byte budget, short writes).
//!
//! The interface is deliberately small so that the fault-injecting implementation stays honest:
//! every operation the log performs is one that `FaultFs` can reorder, drop or fail.

mod fault;
mod real;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use fault::{CrashFate, FaultFs};
pub use real::RealFs;

/// How [`Vfs::open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, read only.
    Read,
    /// An existing file, read and write.
    ReadWrite,
    /// A new file (fails with `AlreadyExists` if the name is taken), read and write, mode 0600.
    CreateNew,
}

/// A file system: the directory operations chainstore needs.
pub trait Vfs: Send + Sync + fmt::Debug + 'static {
    /// Opens or creates the file at `path`.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>>;
    /// Renames `from` to `to`, replacing `to` if it exists. Durable after [`Vfs::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file at `path`. Durable after [`Vfs::sync_dir`].
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of directory `dir` (files only), in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Creates `dir` and its missing parents with mode 0700.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on the file at `path` (created with mode 0600 if missing) for as
    /// long as the returned guard lives, and records `owner` (e.g. the process id) in it.
    /// Fails with `WouldBlock` if someone else holds it; [`lock_owner`] then reads who.
    fn lock(&self, path: &Path, owner: &str) -> io::Result<Box<dyn LockGuard>>;
}

/// Holds a lock taken with [`Vfs::lock`]; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// Reads the owner recorded in a lock file (what [`Vfs::lock`] wrote), if any.
pub fn lock_owner(vfs: &dyn Vfs, path: &Path) -> Option<String> {
    let file = vfs.open(path, OpenMode::Read).ok()?;
    let bytes = read_all(&*file).ok()?;
    let owner = String::from_utf8(bytes).ok()?.trim().to_string();
    (!owner.is_empty()).then_some(owner)
}

/// An open file. Positional reads and writes only: there is no shared cursor.
#[allow(
    clippy::len_without_is_empty,
    reason = "a file length is an I/O call, not a collection size"
)]
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `offset`; returns how many were written, which may be
    /// fewer (a short write): use [`write_all_at`] to write everything.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Hints that `[offset, offset + len)` will be read soon, front to back, so that the
    /// operating system may start reading it now. Only a hint: it changes nothing and returns
    /// nothing; by default it does nothing.
    fn will_need(&self, _offset: u64, _len: u64) {}
    /// Hints that the file is read at random offsets a page at a time (a B-tree's pages), so
    /// that the operating system reads no more than asked. Only a hint; by default it does
    /// nothing.
    fn advise_random(&self) {}
}

/// Writes all of `buf` at `offset`, looping over short writes.
pub fn write_all_at(file: &dyn VfsFile, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0 bytes"));
            }
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `offset`; `UnexpectedEof` if the file is shorter.
pub fn read_exact_at(file: &dyn VfsFile, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file ended early"));
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads the whole file into memory.
pub fn read_all(file: &dyn VfsFile) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_all_into(file, &mut buf)?;
    Ok(buf)
}

/// Reads the whole file into `buf`, reusing its allocation (no page faults for a warm buffer).
pub fn read_all_into(file: &dyn VfsFile, buf: &mut Vec<u8>) -> io::Result<()> {
    let len = usize::try_from(file.len()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file larger than memory"))?;
    buf.resize(len, 0);
    read_exact_at(file, buf, 0)
}

/// Writes zeros over `[from, to)`, allocating the blocks for real.
///
/// Unlike `set_len` (a sparse hole) or `fallocate` (unwritten extents), blocks that hold written
/// zeros need no metadata change when they are overwritten later, so an `fdatasync` after an
/// append into them flushes data only. This is how log segments are preallocated.
pub fn write_zeros(file: &dyn VfsFile, from: u64, to: u64) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = CHUNK.min(to - at);
        write_all_at(file, &zeros[..n as usize], at)?;
        at += n;
    }
    Ok(())
}

/// Whether an I/O error means the disk (or a quota) is full: the write can succeed later.
pub fn is_out_of_space(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
        || matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}
