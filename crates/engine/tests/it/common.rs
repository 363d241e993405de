//! Helpers shared by the integration tests.

use std::path::Path;
use std::sync::Arc;

use chainstore_engine::vfs::Vfs;
use chainstore_engine::wal::{RecoveryReport, Result, Wal, WalOptions};

/// A record as the tests see it.
pub(crate) type Rec = (u64, u8, Vec<u8>);

/// Opens the log and collects every replayed record.
pub(crate) fn open_collect(
    vfs: Arc<dyn Vfs>,
    dir: &Path,
    opts: WalOptions,
    from: u64,
) -> Result<(Wal, RecoveryReport, Vec<Rec>)> {
    let mut seen = Vec::new();
    let (wal, report) =
        Wal::open(vfs, dir, opts, from, &mut |r| seen.push((r.seq, r.ty, r.payload.to_vec())))?;
    Ok((wal, report, seen))
}

/// Deterministic payload for record `i`: its length varies from 0 to `max_len`.
pub(crate) fn payload(i: u64, max_len: usize) -> Vec<u8> {
    let len = (i.wrapping_mul(2_654_435_761) % (max_len as u64 + 1)) as usize;
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// `len` pseudo-random bytes from `seed` (xorshift64): incompressible, reproducible.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Small segments so tests cross segment boundaries often.
pub(crate) fn small_opts(segment_size: u64) -> WalOptions {
    WalOptions { segment_size, ..WalOptions::default() }
}

/// A mounted tmpfs of a given size, unmounted on drop: a real disk that fills up. Mounting needs
/// root; `mount` says why it could not.
pub(crate) struct Tmpfs {
    _parent: tempfile::TempDir,
    pub(crate) path: std::path::PathBuf,
}

impl Tmpfs {
    pub(crate) fn mount(size: &str) -> std::result::Result<Self, String> {
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = parent.path().join("mnt");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Self { _parent: parent, path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.path).status();
    }
}
