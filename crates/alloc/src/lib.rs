//! The allocator of chainstore's programs: the `chainstore` binary and the Python package's
//! native module declare `#[global_allocator] static A: MiMalloc = MiMalloc;` and call [`tune`]
//! before they allocate much. The library crates leave the allocator to the program that
//! embeds them; `docs/performance.md` (the allocator step) has the measurements.
//!
//! Why: the committer allocates a block's write set and the indexer frees it on another
//! thread, and redb allocates per page it changes; with glibc's malloc, `malloc` and `free`
//! were a third of the indexer's CPU.

pub use mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its place in `mi_option_t` in mimalloc 2.x's
/// `mimalloc.h` (the Rust bindings do not name it; a test pins it by the defaults around it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed by a block is not handed back to the kernel for a second (mimalloc's default is
/// 10 ms): blocks come every 100 ms or so, and with the short delay every block faulted its
/// buffers' pages in again (in `bench bindings`, the Python package committed at 0.79 × the
/// library's rate without this, 0.97 × with it). Idle memory still goes back.
pub fn tune() {
    #[expect(unsafe_code, reason = "mi_option_set has no safe wrapper")]
    // SAFETY: sets an integer option; mimalloc reads options atomically, takes no pointer.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
    }
}

#[cfg(test)]
mod tests {
    #[expect(unsafe_code, reason = "mi_option_get has no safe wrapper")]
    fn option(option: libmimalloc_sys::mi_option_t) -> std::ffi::c_long {
        // SAFETY: reads an integer option.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    /// The index used for `purge_delay` is the option whose default is 10 between
    /// `eager_commit_delay` (default 1) and `use_numa_nodes` (default 0), and setting it sticks.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        use libmimalloc_sys::{mi_option_eager_commit_delay, mi_option_use_numa_nodes};
        assert_eq!(super::MI_OPTION_PURGE_DELAY, mi_option_eager_commit_delay + 1);
        assert_eq!(super::MI_OPTION_PURGE_DELAY + 1, mi_option_use_numa_nodes);
        assert_eq!(option(mi_option_eager_commit_delay), 1);
        assert_eq!(option(super::MI_OPTION_PURGE_DELAY), 10);
        super::tune();
        assert_eq!(option(super::MI_OPTION_PURGE_DELAY), 1000);
    }
}
