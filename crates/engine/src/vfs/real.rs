//! [`RealFs`]: the operating system's file system.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use super::{LockGuard, OpenMode, Vfs, VfsFile};

/// The operating system's file system. Files are created with mode 0600, directories with 0700.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl Vfs for RealFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        let mut options = OpenOptions::new();
        options.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::ReadWrite => {
                options.write(true);
            }
            OpenMode::CreateNew => {
                options.write(true).create_new(true).mode(0o600);
            }
        }
        Ok(Arc::new(RealFile(options.open(path)?)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name());
            }
        }
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path, owner: &str) -> io::Result<Box<dyn LockGuard>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked by another process"));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        file.write_all_at(owner.as_bytes(), 0)?;
        Ok(Box::new(RealLock(file)))
    }
}

/// An exclusive `flock` on a file, released explicitly when the guard is dropped.
///
/// Closing the descriptor is not enough: an `flock` belongs to the open file description, and a
/// child process forked by any thread of this process (before it executes its program, which
/// closes the close-on-exec descriptor) holds a second reference to it, so the lock would
/// outlive the guard by however long that takes. Unlocking releases it for every reference.
#[derive(Debug)]
struct RealLock(File);

impl LockGuard for RealLock {}

impl Drop for RealLock {
    fn drop(&mut self) {
        if let Err(e) = self.0.unlock() {
            tracing::warn!(target: "chainstore::vfs", error = %e, "releasing the directory lock");
        }
    }
}

#[derive(Debug)]
struct RealFile(File);

impl VfsFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.0.write_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    /// `posix_fadvise(POSIX_FADV_WILLNEED)`: the kernel starts reading the range into the page
    /// cache without waiting for it.
    #[cfg(target_os = "linux")]
    fn will_need(&self, offset: u64, len: u64) {
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
        else {
            return;
        };
        self.advise(offset, len, libc::POSIX_FADV_WILLNEED);
    }

    /// `posix_fadvise(POSIX_FADV_RANDOM)`: no read-ahead on this descriptor. Besides the reads
    /// it saves, it keeps the pages its reads bring in as single pages: read-ahead fills the page
    /// cache with large folios, and on Linux 6.18 with ext4 a 4 KiB `pwrite` into a page of a
    /// large folio walks the folio's every block (`ext4_block_write_begin`), about 20 times
    /// the cost of the same write into a single page (`docs/performance.md`, step 10).
    #[cfg(target_os = "linux")]
    fn advise_random(&self) {
        self.advise(0, 0, libc::POSIX_FADV_RANDOM);
    }

    /// Elsewhere (no `posix_fadvise`, e.g. macOS) the kernel's own read-ahead has to do.
    #[cfg(not(target_os = "linux"))]
    fn will_need(&self, _offset: u64, _len: u64) {}
}

#[cfg(target_os = "linux")]
impl RealFile {
    /// `posix_fadvise(advice)` over `[offset, offset + len)` (`len` 0: to the end of the file).
    #[expect(unsafe_code, reason = "posix_fadvise(2) has no wrapper in the standard library")]
    fn advise(&self, offset: libc::off_t, len: libc::off_t, advice: libc::c_int) {
        // SAFETY: posix_fadvise takes a file descriptor and three integers and touches no
        // memory of ours; the descriptor stays open during the call, which borrows `self.0`.
        let rc = unsafe { libc::posix_fadvise(self.0.as_raw_fd(), offset, len, advice) };
        // A hint the file system does not take changes nothing but the page cache's use.
        let _ = rc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{read_all, write_all_at};

    /// The access hints change what the kernel reads ahead, never what a read returns.
    #[test]
    fn hinted_files_read_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..3 * 4096 + 5).map(|i: u32| (i % 253) as u8).collect();
        let file = RealFs.open(&path, OpenMode::CreateNew).unwrap();
        file.advise_random();
        write_all_at(&*file, &bytes, 0).unwrap();
        file.will_need(0, 4096);
        assert_eq!(read_all(&*file).unwrap(), bytes);
        let reopened = RealFs.open(&path, OpenMode::Read).unwrap();
        reopened.advise_random();
        assert_eq!(read_all(&*reopened).unwrap(), bytes);
    }
}
