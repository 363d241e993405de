//! Property test: arbitrary record sequences, with reopens and truncations in between, read back
//! exactly as written across segment boundaries.

use std::path::Path;
use std::sync::Arc;

use chainstore_engine::vfs::{CrashFate, FaultFs};
use chainstore_engine::wal::{Durability, WalOptions};
use proptest::prelude::*;

use crate::common::{Rec, open_collect};

#[derive(Debug, Clone)]
enum Op {
    Append {
        ty: u8,
        payload: Vec<u8>,
        buffered: bool,
    },
    /// Close and reopen (a clean shutdown, or a process crash that keeps unsynced writes).
    Reopen,
    /// Truncate through the record `back` records before the newest one.
    Truncate {
        back: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u8..=255, prop::collection::vec(any::<u8>(), 0..600), any::<bool>())
            .prop_map(|(ty, payload, buffered)| Op::Append { ty, payload, buffered }),
        1 => Just(Op::Reopen),
        1 => (0u64..20).prop_map(|back| Op::Truncate { back }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn records_round_trip(
        segment_size in 700u64..4096,
        initial_segment_size in 0u64..4096,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let dir = Path::new("/wal");
        let fs = FaultFs::new();
        // Segments grow from `initial_segment_size` (clamped to what a record needs and to
        // `segment_size`) by doubling.
        let opts = WalOptions { segment_size, initial_segment_size, ..WalOptions::default() };
        // The model: every record with seq >= `from`, in order.
        let mut model: Vec<Rec> = Vec::new();
        let mut from = 1;
        let mut wal = Some(open_collect(Arc::new(fs.clone()), dir, opts, from).unwrap().0);
        for op in ops {
            match op {
                Op::Append { ty, payload, buffered } => {
                    let d = if buffered { Durability::Buffered } else { Durability::Immediate };
                    let w = wal.as_ref().unwrap();
                    let seq = w.append(ty, &payload, d).unwrap();
                    prop_assert_eq!(seq, model.last().map_or(from, |r| r.0 + 1));
                    model.push((seq, ty, payload));
                }
                Op::Reopen => {
                    drop(wal.take());
                    fs.crash(CrashFate::KeepUnsynced);
                    let (w, report, seen) = open_collect(Arc::new(fs.clone()), dir, opts, from).unwrap();
                    prop_assert_eq!(&seen, &model);
                    prop_assert_eq!(report.dropped, None);
                    wal = Some(w);
                }
                Op::Truncate { back } => {
                    if let Some(last) = model.last().map(|r| r.0) {
                        let through = last.saturating_sub(back).max(from - 1);
                        wal.as_ref().unwrap().truncate_through(through).unwrap();
                        model.retain(|r| r.0 > through);
                        from = through + 1;
                    }
                }
            }
        }
        drop(wal);
        fs.crash(CrashFate::DropUnsynced);
        let (_, _, seen) = open_collect(Arc::new(fs), dir, opts, from).unwrap();
        prop_assert_eq!(seen, model);
    }
}
