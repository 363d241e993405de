//! chainstore's generic storage engine (work in progress).

pub mod vfs;
pub mod wal;
