//! chainstore's comparative benchmarks (work in progress).
