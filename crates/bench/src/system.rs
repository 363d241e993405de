//! What a benchmark needs to know about (and do to) the machine: cores, CPU model, the file system
//! of a directory, `fdatasync` latency, dropping the page cache, process CPU time, and the raw
//! sequential reads and writes the benchmarks compare against.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chainstore_engine::vfs::{OpenMode, RealFs, Vfs, read_exact_at, write_all_at, write_zeros};

use crate::BenchError;
use crate::report::Percentiles;

/// Logical cores available to this process.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU model from `/proc/cpuinfo`, or `"unknown"`.
pub(crate) fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The kernel release, or `"unknown"`.
pub(crate) fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

/// The file system type and `device at mount point` of the mount holding `dir`, from
/// `/proc/mounts` (the longest mount point that is a prefix of the directory).
pub(crate) fn filesystem_of(dir: &Path) -> (String, String) {
    let unknown = || ("unknown".to_string(), "unknown".to_string());
    let (Ok(dir), Ok(mounts)) = (dir.canonicalize(), fs::read_to_string("/proc/mounts")) else {
        return unknown();
    };
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?, f.next()?))
        })
        .filter(|(_, mount, _)| dir.starts_with(mount))
        .max_by_key(|(_, mount, _)| mount.len())
        .map_or_else(unknown, |(dev, mount, fstype)| (fstype.into(), format!("{dev} at {mount}")))
}

/// Latency of `fdatasync` after a 4 KiB write at increasing offsets of a preallocated
/// (zero-written, synced) file in `dir`.
pub(crate) fn fdatasync_latency(dir: &Path, samples: usize) -> Result<Percentiles, BenchError> {
    let path = dir.join("fdatasync-probe");
    let file = RealFs.open(&path, OpenMode::CreateNew).map_err(BenchError::io(&path))?;
    let len = samples as u64 * 4096;
    write_zeros(&*file, 0, len).map_err(BenchError::io(&path))?;
    file.sync_data().map_err(BenchError::io(&path))?;
    let block = vec![0x5au8; 4096];
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        write_all_at(&*file, &block, i * 4096).map_err(BenchError::io(&path))?;
        let started = Instant::now();
        file.sync_data().map_err(BenchError::io(&path))?;
        times.push(started.elapsed());
    }
    drop(file);
    RealFs.remove(&path).map_err(BenchError::io(&path))?;
    Ok(Percentiles::of(&mut times))
}

/// Writes back dirty pages and drops the clean page cache (needs root). Returns whether the cache
/// was dropped.
pub(crate) fn drop_page_cache() -> bool {
    let synced = std::process::Command::new("sync").status().is_ok_and(|s| s.success());
    synced && fs::write("/proc/sys/vm/drop_caches", "1\n").is_ok()
}

/// This process's resident memory (`VmRSS` in `/proc/self/status`), in bytes.
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The bytes this process has caused to be written to storage so far (`write_bytes` in
/// `/proc/self/io`: counted when a page-cache page becomes dirty, so a page written again before
/// it reaches the disk counts once, and a synced log write counts its pages).
pub(crate) fn written_bytes() -> Option<u64> {
    let io = fs::read_to_string("/proc/self/io").ok()?;
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    cpu_time("/proc/self/stat")
}

/// CPU time (user + system) the calling thread has used so far, from `/proc/thread-self/stat`.
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    cpu_time("/proc/thread-self/stat")
}

fn cpu_time(stat_file: &str) -> Option<Duration> {
    let stat = fs::read_to_string(stat_file).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks: 100 per second on Linux (USER_HZ) for every architecture it runs on here.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The hardware line of a run in `dir`: cores, CPU, `fdatasync` p50 measured now, file system,
/// kernel. `page_cache` says whether cold reads dropped the cache (`"dropped"`) or not.
pub(crate) fn hardware(
    dir: &Path,
    fsync_samples: usize,
    page_cache: &str,
) -> Result<crate::Hardware, BenchError> {
    let fsync = fdatasync_latency(dir, fsync_samples)?;
    let (filesystem, device) = filesystem_of(dir);
    Ok(crate::Hardware {
        cores: cores(),
        cpu: cpu_model(),
        fdatasync_p50_us: crate::report::micros(fsync.p50),
        filesystem,
        device,
        page_cache: page_cache.into(),
        kernel: kernel(),
    })
}

/// Reads the files front to back in 1 MiB chunks, into a page-aligned buffer.
pub(crate) fn read_files(files: &[(PathBuf, u64)]) -> Result<(), BenchError> {
    const PAGE: usize = 4096;
    let mut mem = vec![0u8; (1 << 20) + PAGE];
    let start = mem.as_ptr().align_offset(PAGE).min(PAGE);
    let buf = &mut mem[start..start + (1 << 20)];
    for (path, len) in files {
        let file = RealFs.open(path, OpenMode::Read).map_err(BenchError::io(path))?;
        let mut at = 0;
        while at < *len {
            let n = buf.len().min((len - at) as usize);
            read_exact_at(&*file, &mut buf[..n], at).map_err(BenchError::io(path))?;
            at += n as u64;
        }
        std::hint::black_box(&*buf);
    }
    Ok(())
}

/// Copies the file `src` to a new file `dst` and syncs it, leaving both in the page cache as
/// single 4 KiB pages, as the store's own page-sized reads and writes leave them.
///
/// A plain copy (`std::fs::copy`) reads the source with read-ahead and writes the target in large
/// pieces, and both fill the page cache with large folios; on Linux 6.18 with ext4 a 4 KiB
/// `pwrite` into a page of a large folio then costs 10-20 times what it does into a single page
/// (`docs/performance.md`, step 10). The benchmarks copy a store's redb file for their raw-redb
/// baselines before the measured run, and must not slow down the store (or the baseline) by
/// doing so: the source is read with [`VfsFile::advise_random`](chainstore_engine::vfs::VfsFile)
/// (no read-ahead) and the target written a page at a time.
pub(crate) fn copy_file(src: &Path, dst: &Path) -> Result<(), BenchError> {
    const PAGE: usize = 4096;
    let from = RealFs.open(src, OpenMode::Read).map_err(BenchError::io(src))?;
    from.advise_random();
    let to = RealFs.open(dst, OpenMode::CreateNew).map_err(BenchError::io(dst))?;
    let len = from.len().map_err(BenchError::io(src))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let n = buf.len().min((len - at) as usize);
        read_exact_at(&*from, &mut buf[..n], at).map_err(BenchError::io(src))?;
        for (i, page) in buf[..n].chunks(PAGE).enumerate() {
            write_all_at(&*to, page, at + (i * PAGE) as u64).map_err(BenchError::io(dst))?;
        }
        at += n as u64;
    }
    to.sync_data().map_err(BenchError::io(dst))
}

/// Writes `bytes` to a new file at `path` in 1 MiB writes, then `fdatasync`: raw sequential write
/// bandwidth, the baseline of the benchmarks that write files. Returns the time taken.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<Duration, BenchError> {
    use std::io::Write as _;
    let started = Instant::now();
    let mut file = fs::File::create(path).map_err(BenchError::io(path))?;
    for piece in bytes.chunks(1 << 20) {
        file.write_all(piece).map_err(BenchError::io(path))?;
    }
    file.sync_data().map_err(BenchError::io(path))?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copy holds the source's bytes, a partial last page included, and is a new file.
    #[test]
    fn copy_file_copies_every_byte_and_creates_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        // Not a multiple of the page size nor of the 1 MiB reads.
        let bytes: Vec<u8> = (0..(1 << 20) + 3 * 4096 + 17).map(|i: u32| (i % 251) as u8).collect();
        fs::write(&src, &bytes).unwrap();
        copy_file(&src, &dst).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), bytes);
        assert!(copy_file(&src, &dst).is_err(), "the target must not exist");
        assert_eq!(fs::read(&dst).unwrap(), bytes, "a failed copy leaves the target alone");
    }
}
