//! Log queries against a brute-force scan of the committed receipts.

use std::sync::OnceLock;

use alloy_primitives::{Address, B256};
use chainstore_chain::synth::SynthChain;
use chainstore_chain::{BlockCommit, ChainStore, LogFilter};
use proptest::prelude::*;

use crate::common::{blocks, open};

struct Fixture {
    _dir: tempfile::TempDir,
    store: ChainStore,
    chain: Vec<BlockCommit>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let chain = blocks(11, 12);
        for b in &chain {
            store.commit_block(b).unwrap();
        }
        Fixture { _dir: dir, store, chain }
    })
}

/// (block, logIndex, tx index, address) of every matching log, by scanning every receipt.
fn brute_force(chain: &[BlockCommit], f: &LogFilter, head: u64) -> Vec<(u64, u64, u64, Address)> {
    let from = f.from_block.unwrap_or(0);
    let to = f.to_block.unwrap_or(head).min(head);
    let mut out = Vec::new();
    for block in chain.iter().filter(|b| b.number >= from && b.number <= to) {
        let mut log_index = 0;
        for (tx_index, receipt) in block.receipts.iter().enumerate() {
            for log in &receipt.logs {
                let address_ok = f.addresses.is_empty() || f.addresses.contains(&log.address);
                let topics_ok = (0..4).all(|i| {
                    f.topics[i].is_empty()
                        || log.topics.get(i).is_some_and(|t| f.topics[i].contains(t))
                });
                if address_ok && topics_ok {
                    out.push((block.number, log_index, tx_index as u64, log.address));
                }
                log_index += 1;
            }
        }
    }
    out
}

fn filter() -> impl Strategy<Value = LogFilter> {
    let topic_pool = |f: &'static Fixture| -> Vec<B256> {
        let mut t: Vec<B256> = f
            .chain
            .iter()
            .flat_map(|b| &b.receipts)
            .flat_map(|r| &r.logs)
            .flat_map(|l| l.topics.clone())
            .collect();
        t.sort();
        t.dedup();
        t.truncate(40);
        t.push(B256::repeat_byte(0xee));
        t
    };
    let f = fixture();
    let topics = topic_pool(f);
    let addresses: Vec<Address> =
        (0..6).map(SynthChain::token).chain([Address::repeat_byte(1)]).collect();
    (
        prop::option::of(0u64..14),
        prop::option::of(0u64..14),
        prop::sample::subsequence(addresses.clone(), 0..3),
        prop::collection::vec(prop::sample::subsequence(topics.clone(), 0..3), 4),
    )
        .prop_map(|(from_block, to_block, addresses, t)| LogFilter {
            from_block,
            to_block,
            addresses,
            topics: [t[0].clone(), t[1].clone(), t[2].clone(), t[3].clone()],
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn logs_match_a_brute_force_scan(f in filter()) {
        let fx = fixture();
        let got: Vec<_> = fx.store.logs(&f).unwrap().into_iter()
            .map(|l| (l.block_number, l.log_index, l.transaction_index, l.log.address)).collect();
        prop_assert_eq!(got, brute_force(&fx.chain, &f, 11));
    }
}

#[test]
fn logs_carry_their_location() {
    let fx = fixture();
    let f = LogFilter { from_block: Some(3), to_block: Some(3), ..Default::default() };
    let logs = fx.store.logs(&f).unwrap();
    assert_eq!(logs.len(), fx.chain[3].receipts.iter().map(|r| r.logs.len()).sum::<usize>());
    for l in logs {
        assert_eq!(l.block_hash, fx.chain[3].hash);
        assert_eq!(l.transaction_hash, fx.chain[3].transactions[l.transaction_index as usize].hash);
    }
}
