//! chainstore's generic storage engine (work in progress).
