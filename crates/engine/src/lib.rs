//! chainstore's generic storage engine (work in progress).

pub mod backend;
pub mod db;
pub mod vfs;
pub mod wal;
