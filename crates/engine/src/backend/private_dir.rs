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
//! On a file system without POSIX ACLs (the ACL call fails with `EOPNOTSUPP`) new files keep
//! RocksDB's mode; the directory's 0700 still keeps other users out, and a warning says so.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

/// A default ACL in the kernel's `system.posix_acl_default` format (little-endian): version 2,
/// then entries (tag u16, permissions u16, id u32) sorted by tag: the owner (tag 1) rwx, the
/// owning group (tag 4) and others (tag 32) nothing; the id of these three is unused (!0).
const PRIVATE_DEFAULT_ACL: [u8; 28] = [
    2, 0, 0, 0, // version
    1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, // ACL_USER_OBJ rwx
    4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // ACL_GROUP_OBJ ---
    32, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // ACL_OTHER ---
];

/// Creates `dir` (mode 0700) if needed and makes it private: mode 0700, the default ACL above,
/// and mode 0600 for the files already in it. Returns whether new files will be 0600 too
/// (`false` where the file system has no ACLs).
pub(super) fn make_private(dir: &Path) -> io::Result<bool> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let inherited = match set_default_acl(dir) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => false,
        Err(e) => return Err(e),
    };
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(inherited)
}

#[expect(unsafe_code, reason = "setxattr(2) has no wrapper in the standard library")]
fn set_default_acl(dir: &Path) -> io::Result<()> {
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
