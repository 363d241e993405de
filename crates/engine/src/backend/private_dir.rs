//! RocksDB's files with mode 0600, like chainstore's own, without touching the process umask.
//!
//! RocksDB opens the files it creates with mode 0644 (less the umask); the C API it is reached
//! through has no option for another mode (`Env::SetAllowNonOwnerAccess` is C++ only, and in
//! RocksDB 11 does not reach the POSIX file system anyway), and the umask belongs to the whole
//! process, which a library must not change. So the `rocksdb/` directory gets a default POSIX
//! ACL granting only the owner anything: a file created in a directory with a default ACL
//! inherits it, its mode is the mode it was opened with ANDed with the ACL (0644 & 0700 =
//! 0600), and the umask is not applied at all. This holds for every file RocksDB creates later,
//! in any of its threads. The directory itself is 0700, and files already there (a store made
//! before, or files made while the ACL could not be set) are set to 0600 when it is opened.
//!
//! Where the ACL cannot be set (a file system without POSIX ACLs, a directory owned by another
//! user) new files keep RocksDB's mode; the directory's 0700 still keeps other users out, and a
//! warning says so. This uses Linux's `system.posix_acl_default` attribute; elsewhere only the
//! directory's mode and the existing files' modes are set.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

/// Creates `dir` (mode 0700) if needed and makes it private: mode 0700, the default ACL below
/// (replacing any default ACL it had), and mode 0600 for the files already in it. Where the ACL
/// cannot be set (a file system without ACLs, a directory owned by another user, some FUSE or
/// idmapped mounts) new files keep RocksDB's mode and a warning says so: the directory's 0700
/// still keeps other users out.
pub(super) fn make_private(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    if let Err(e) = set_default_acl(dir) {
        tracing::warn!(target: "chainstore::backend", path = %dir.display(), error = %e,
            "cannot set a default ACL: RocksDB's new files get its mode 0644 less the umask, \
             not 0600; the directory is 0700, so other users still cannot open them");
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_default_acl(_dir: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "default ACLs are set on Linux only"))
}

/// A default ACL in the kernel's `system.posix_acl_default` format (little-endian): version 2,
/// then entries (tag u16, permissions u16, id u32) sorted by tag: the owner (tag 1) rwx, the
/// owning group (tag 4) and others (tag 32) nothing; the id of these three is unused (!0).
#[cfg(target_os = "linux")]
const PRIVATE_DEFAULT_ACL: [u8; 28] = [
    2, 0, 0, 0, // version
    1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, // ACL_USER_OBJ rwx
    4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // ACL_GROUP_OBJ ---
    32, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // ACL_OTHER ---
];

#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "setxattr(2) has no wrapper in the standard library")]
fn set_default_acl(dir: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let name = c"system.posix_acl_default";
    let value = &PRIVATE_DEFAULT_ACL;
    // SAFETY: `path` and `name` are NUL-terminated strings and `value` is `value.len()`
    // readable bytes, all alive for the whole call; setxattr only reads them and keeps no
    // pointer after it returns.
    let rc = unsafe {
        libc::setxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0)
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
