//! chainstore's comparative benchmarks (work in progress).

mod state_root;
pub use state_root::{
    Goal, Row, StateRootBenchError, StateRootConfig, StateRootReport, run_state_root,
};
