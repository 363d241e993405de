//! What the parent of `chainstore torture` knows and checks: the acknowledged chain, built from
//! the child's [`Event`] lines, against the store reopened after each kill.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use chainstore_chain::{ChainStore, Header, Prunable};

use super::event::{Event, Op};

/// The chain as the acknowledgements describe it.
#[derive(Debug, Default)]
pub(super) struct Model {
    /// Hash and state root of every block, by number.
    chain: Vec<(B256, B256)>,
    /// The state history may not start below this block (it never moves back, and an
    /// acknowledged prune moved it at least here).
    oldest: u64,
    /// Blocks below this one were checked after an earlier kill and not touched since.
    checked_below: u64,
}

/// What the runs so far did.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Acknowledged block commits.
    pub(super) blocks: u64,
    /// Of them, with write sets over 1 MiB.
    pub(super) large_blocks: u64,
    /// Acknowledged unwinds.
    pub(super) unwinds: u64,
    /// Acknowledged prunes.
    pub(super) prunes: u64,
    /// Acknowledged compactions.
    pub(super) compactions: u64,
    /// Operations in flight at a kill that turned out to have happened.
    pub(super) unacknowledged_applied: u64,
    /// Kills by what the child was doing.
    pub(super) killed_during: BTreeMap<&'static str, u64>,
}

/// What the child was doing when it was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moment {
    /// Opening the store (recovery).
    Opening,
    /// Nothing acknowledged was pending.
    Idle,
    /// The operation was in flight.
    During(Op),
}

impl Moment {
    /// A name for the summary.
    fn name(self) -> &'static str {
        match self {
            Moment::Opening => "opening",
            Moment::Idle => "between operations",
            Moment::During(Op::Block { large: false, .. }) => "small block",
            Moment::During(Op::Block { large: true, .. }) => "large block",
            Moment::During(Op::Unwind { .. }) => "unwind",
            Moment::During(Op::Prune { .. }) => "prune",
            Moment::During(Op::Compact) => "compact",
        }
    }

    /// The operation in flight, if any.
    pub(super) fn op(self) -> Option<Op> {
        match self {
            Moment::During(op) => Some(op),
            _ => None,
        }
    }
}

/// Why a run failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// Acknowledged blocks are missing or different.
    Lost { blocks: u64, detail: String },
    /// The store could not be opened.
    Refused(String),
    /// Anything else inconsistent.
    Inconsistent(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Lost { blocks, detail } => {
                write!(f, "{blocks} acknowledged blocks lost: {detail}")
            }
            Failure::Refused(e) => write!(f, "reopening refused: {e}"),
            Failure::Inconsistent(e) => write!(f, "inconsistent store: {e}"),
        }
    }
}

fn inconsistent(detail: impl Into<String>) -> Failure {
    Failure::Inconsistent(detail.into())
}

impl Model {
    /// The chain of an existing store, taken as acknowledged (to be checked like the rest).
    pub(super) fn load(store: &ChainStore) -> Result<Self, Failure> {
        let read =
            |e: chainstore_chain::ChainError| inconsistent(format!("reading the store: {e}"));
        let mut model = Model::default();
        let head = store.head().map_err(read)?;
        for n in 0..head.map_or(0, |h| h.number + 1) {
            let h = store.header(n).map_err(read)?;
            let h = h.ok_or_else(|| inconsistent(format!("block {n} is missing")))?;
            model.chain.push((h.hash, h.state_root));
        }
        model.oldest = store.oldest_available(Prunable::History).map_err(read)?;
        Ok(model)
    }

    /// The head the acknowledgements imply (`None`: no block).
    pub(super) fn head(&self) -> Option<u64> {
        (self.chain.len() as u64).checked_sub(1)
    }

    /// Applies one run's events; returns what the child was doing when it ended.
    pub(super) fn apply(&mut self, events: &[Event], tally: &mut Tally) -> Result<Moment, Failure> {
        let mut moment = Moment::Opening;
        for event in events {
            match *event {
                Event::Opened => {}
                Event::Begin(op) => {
                    moment = Moment::During(op);
                    continue;
                }
                Event::Committed { number, hash, root } => {
                    if number != self.chain.len() as u64 {
                        return Err(inconsistent(format!(
                            "block {number} acknowledged on top of head {:?}",
                            self.head()
                        )));
                    }
                    self.chain.push((hash, root));
                    tally.blocks += 1;
                    if matches!(moment, Moment::During(Op::Block { large: true, .. })) {
                        tally.large_blocks += 1;
                    }
                }
                Event::Unwound { to } => {
                    self.unwind(to);
                    tally.unwinds += 1;
                }
                Event::Pruned { oldest, .. } => {
                    self.oldest = self.oldest.max(oldest);
                    tally.prunes += 1;
                }
                Event::Compacted => tally.compactions += 1,
            }
            moment = Moment::Idle;
        }
        *tally.killed_during.entry(moment.name()).or_default() += 1;
        Ok(moment)
    }

    fn unwind(&mut self, to: u64) {
        self.chain.truncate(to as usize + 1);
        self.checked_below = self.checked_below.min(to + 1);
    }

    /// Checks the reopened store against the acknowledgements, allowing the one operation in
    /// flight to have happened or not: every acknowledged block is there with its hash and
    /// state root, nothing else is, the head's root equals the root recomputed from the flat
    /// state, the history window did not move back, and `verify` passes.
    pub(super) fn check(
        &mut self,
        store: &ChainStore,
        in_flight: Option<Op>,
        tally: &mut Tally,
    ) -> Result<(), Failure> {
        let head = store.head().map_err(|e| inconsistent(format!("reading the head: {e}")))?;
        self.settle(head.as_ref(), in_flight, tally)?;
        let from = self.checked_below.min(head.as_ref().map_or(0, |h| h.number));
        for n in from..self.chain.len() as u64 {
            self.check_block(store, n)?;
        }
        self.checked_below = self.chain.len() as u64;
        let oldest = store
            .oldest_available(Prunable::History)
            .map_err(|e| inconsistent(format!("reading the history window: {e}")))?;
        if oldest < self.oldest {
            return Err(inconsistent(format!(
                "the state history starts at block {oldest}, below block {} where it was",
                self.oldest
            )));
        }
        self.oldest = oldest;
        check_verify(store, head.as_ref())
    }

    /// Accepts the in-flight operation if the store shows it happened; then the store's head
    /// must be the acknowledged one.
    fn settle(
        &mut self,
        head: Option<&Header>,
        in_flight: Option<Op>,
        tally: &mut Tally,
    ) -> Result<(), Failure> {
        let number = head.map(|h| h.number);
        match in_flight {
            Some(Op::Block { number: n, hash, .. })
                if number == Some(n) && n == self.chain.len() as u64 =>
            {
                let h = head.filter(|h| h.hash == hash).ok_or_else(|| {
                    inconsistent(format!("block {n} in the store is not the one in flight"))
                })?;
                self.chain.push((h.hash, h.state_root));
                tally.unacknowledged_applied += 1;
            }
            Some(Op::Unwind { to }) if number == Some(to) && self.head() > Some(to) => {
                self.unwind(to);
                tally.unacknowledged_applied += 1;
            }
            _ => {}
        }
        let expected = self.head();
        match (number, expected) {
            (a, b) if a == b => Ok(()),
            (a, Some(b)) if a < Some(b) => Err(Failure::Lost {
                blocks: b - a.map_or(0, |a| a + 1) + 1,
                detail: format!(
                    "the store's head is {a:?}, the acknowledged head is block {b} \
                     (in flight: {in_flight:?})"
                ),
            }),
            (a, b) => Err(inconsistent(format!(
                "the store's head is {a:?}, above the acknowledged head {b:?} (in flight: \
                 {in_flight:?})"
            ))),
        }
    }

    fn check_block(&self, store: &ChainStore, n: u64) -> Result<(), Failure> {
        let (hash, root) = self.chain[n as usize];
        let header =
            store.header(n).map_err(|e| inconsistent(format!("reading block {n}: {e}")))?;
        match header {
            Some(h) if h.hash == hash && h.state_root == root => Ok(()),
            Some(h) => Err(Failure::Lost {
                blocks: 1,
                detail: format!(
                    "block {n} is {} with root {}, acknowledged as {hash} with root {root}",
                    h.hash, h.state_root
                ),
            }),
            None => Err(Failure::Lost { blocks: 1, detail: format!("block {n} is missing") }),
        }
    }
}

/// `verify` passes, and the root it recomputes from the flat state alone is the head's.
fn check_verify(store: &ChainStore, head: Option<&Header>) -> Result<(), Failure> {
    let report =
        store.verify(&mut |_| {}).map_err(|e| inconsistent(format!("verify failed: {e}")))?;
    let stored = head.map(|h| h.state_root);
    if head.is_some() && report.computed_state_root != stored {
        return Err(inconsistent(format!(
            "the state root recomputed from the flat state is {:?}, the head's is {stored:?}",
            report.computed_state_root
        )));
    }
    if !report.is_ok() {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        return Err(inconsistent(format!("verify: {}", problems.join("; "))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chainstore_chain::synth::{SynthChain, SynthConfig};

    use super::*;

    /// A store holding blocks `0..n` of a small synthetic chain, and their events.
    fn store(dir: &std::path::Path, n: usize) -> (ChainStore, Vec<Event>, SynthChain) {
        let store = ChainStore::open(dir, Default::default()).unwrap();
        let config = SynthConfig { accounts: 20, tokens: 2, txs_per_block: 3, seed: 1 };
        let mut chain = SynthChain::new(config);
        let mut events = vec![Event::Opened];
        for _ in 0..n {
            let info = store.commit_block(&chain.next_block()).unwrap();
            events.push(Event::Committed {
                number: info.number,
                hash: info.hash,
                root: info.state_root,
            });
        }
        (store, events, chain)
    }

    #[test]
    fn an_acknowledged_block_missing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut events, _) = store(dir.path(), 4);
        store.unwind_to(1).unwrap();
        let (mut model, mut tally) = (Model::default(), Tally::default());
        assert_eq!(model.apply(&events, &mut tally).unwrap(), Moment::Idle);
        assert_eq!(tally.blocks, 4);
        match model.check(&store, None, &mut tally) {
            Err(Failure::Lost { blocks: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
        // Acknowledged, the same unwind is what the store shows.
        events.push(Event::Begin(Op::Unwind { to: 1 }));
        events.push(Event::Unwound { to: 1 });
        let mut model = Model::default();
        model.apply(&events, &mut tally).unwrap();
        model.check(&store, None, &mut tally).unwrap();
    }

    #[test]
    fn the_operation_in_flight_may_have_happened_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut events, mut chain) = store(dir.path(), 3);
        let block = chain.next_block();
        let op = Op::Block { number: 3, hash: block.hash, large: false };
        events.push(Event::Begin(op));
        let mut tally = Tally::default();
        let mut model = Model::default();
        assert_eq!(model.apply(&events, &mut tally).unwrap(), Moment::During(op));
        model.check(&store, Some(op), &mut tally).unwrap(); // not applied
        store.commit_block(&block).unwrap();
        model.check(&store, Some(op), &mut tally).unwrap(); // applied
        assert_eq!((model.head(), tally.unacknowledged_applied), (Some(3), 1));
        // A block nothing announced is not accepted.
        store.commit_block(&chain.next_block()).unwrap();
        assert!(matches!(model.check(&store, None, &mut tally), Err(Failure::Inconsistent(_))));
        // An unwind in flight, applied.
        let mut model = Model::load(&store).unwrap();
        store.unwind_to(2).unwrap();
        model.check(&store, Some(Op::Unwind { to: 2 }), &mut tally).unwrap();
        assert_eq!(model.head(), Some(2));
    }

    #[test]
    fn an_acknowledgement_out_of_order_is_inconsistent() {
        let mut model = Model::default();
        let event = Event::Committed { number: 1, hash: B256::ZERO, root: B256::ZERO };
        assert!(matches!(
            model.apply(&[Event::Opened, event], &mut Tally::default()),
            Err(Failure::Inconsistent(_))
        ));
    }
}
