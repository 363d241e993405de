//! A deterministic synthetic chain for the demo, tests and benchmarks: a Zipf-like hot set of
//! accounts sending value, token contracts whose storage (balances) changes with every
//! transfer, and `Transfer`-style logs with topics.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};

use crate::{AccountChange, BlockCommit, Log, Receipt, Transaction};

/// Shape of the synthetic chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthConfig {
    /// Externally owned accounts.
    pub accounts: u64,
    /// Token contracts.
    pub tokens: u64,
    /// Transactions per block.
    pub txs_per_block: u64,
    /// Seed of the pseudo-random choices.
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self { accounts: 10_000, tokens: 20, txs_per_block: 100, seed: 1 }
    }
}

/// keccak256("Transfer(address,address,uint256)"): topic 0 of every synthetic log.
pub fn transfer_topic() -> B256 {
    keccak256("Transfer(address,address,uint256)")
}

/// SplitMix64: a small, fast, deterministic generator (the same seed gives the same sequence),
/// for the synthetic chains, tests and benchmarks.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Generates blocks one after another.
#[derive(Debug, Clone)]
pub struct SynthChain {
    config: SynthConfig,
    rng: SplitMix64,
    next: u64,
    parent: B256,
    nonces: std::collections::HashMap<u64, u64>,
}

impl SynthChain {
    /// A chain whose first block is block 0 (the genesis, funding every account).
    pub fn new(config: SynthConfig) -> Self {
        Self {
            config,
            rng: SplitMix64(config.seed ^ 0x9e37_79b9_7f4a_7c15),
            next: 0,
            parent: B256::ZERO,
            nonces: Default::default(),
        }
    }

    /// A chain whose next block is block `number`, on top of the block with hash `parent`: one
    /// this chain did not generate (a store's head after a restart or an unwind). From block 1
    /// on it generates transfers as [`new`](Self::new) does, with nonces counted from zero;
    /// give each resumed chain its own `config.seed`, so that its block and transaction hashes
    /// are new to the store.
    pub fn resume(config: SynthConfig, number: u64, parent: B256) -> Self {
        Self { next: number, parent, ..Self::new(config) }
    }

    /// The address of account `i`.
    pub fn account(i: u64) -> Address {
        Address::from_slice(&keccak256(format!("account {i}"))[12..])
    }

    /// The address of token contract `i`.
    pub fn token(i: u64) -> Address {
        Address::from_slice(&keccak256(format!("token {i}"))[12..])
    }

    /// The contract whose storage [`next_large_block`](Self::next_large_block) writes.
    pub fn bulk_contract() -> Address {
        Address::from_slice(&keccak256("bulk contract")[12..])
    }

    fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A Zipf-like choice in `0..n`: small indexes are much more likely.
    fn hot(&mut self, n: u64) -> u64 {
        let u = (self.random() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as u64).saturating_sub(1).min(n - 1)
    }

    fn genesis(&mut self) -> BlockCommit {
        let mut state = Vec::new();
        for i in 0..self.config.accounts {
            let balance = U256::from(1_000_000_000_000_000_000u128) * U256::from(1 + i % 100);
            state.push((
                Self::account(i),
                Some(AccountChange { balance: Some(balance), ..Default::default() }),
            ));
        }
        for t in 0..self.config.tokens {
            let code = Bytes::from(keccak256(format!("token code {t}")).to_vec());
            state.push((
                Self::token(t),
                Some(AccountChange { code: Some(code), nonce: Some(1), ..Default::default() }),
            ));
        }
        BlockCommit {
            number: 0,
            hash: keccak256("synthetic genesis"),
            timestamp: 1_700_000_000,
            state,
            ..Default::default()
        }
    }

    /// The next block.
    pub fn next_block(&mut self) -> BlockCommit {
        let block = if self.next == 0 { self.genesis() } else { self.transfers() };
        self.parent = block.hash;
        self.next += 1;
        block
    }

    /// The next block, made large: the block [`next_block`](Self::next_block) would return,
    /// plus about `slots` storage writes to [`bulk_contract`](Self::bulk_contract) (each slot of
    /// `0..2 * slots` with probability one half; one write in eight deletes its slot), so that
    /// the bulk contract's storage stays bounded however many large blocks follow.
    pub fn next_large_block(&mut self, slots: u64) -> BlockCommit {
        let mut block = self.next_block();
        let mut storage = Vec::new();
        for i in 0..2 * slots {
            let r = self.random();
            if r & 1 == 0 {
                continue;
            }
            let value = if r & 0xe == 0 { U256::ZERO } else { U256::from(r >> 4) };
            storage.push((B256::from(U256::from(i)), value));
        }
        let bulk = AccountChange { nonce: Some(1), storage, ..Default::default() };
        block.state.push((Self::bulk_contract(), Some(bulk)));
        block
    }

    fn transfers(&mut self) -> BlockCommit {
        let number = self.next;
        let mut block = BlockCommit {
            number,
            hash: keccak256(format!("synthetic block {number} seed {}", self.config.seed)),
            parent_hash: self.parent,
            timestamp: 1_700_000_000 + number * 12,
            ..Default::default()
        };
        let mut touched: std::collections::BTreeMap<Address, AccountChange> = Default::default();
        for i in 0..self.config.txs_per_block {
            let from_i = self.hot(self.config.accounts);
            let to_i = self.hot(self.config.accounts);
            let token_i = self.hot(self.config.tokens.max(1));
            let (from, to) = (Self::account(from_i), Self::account(to_i));
            let nonce = self.nonces.entry(from_i).or_insert(0);
            let tx_nonce = *nonce;
            *nonce += 1;
            let hash = keccak256(format!("tx {number} {i} seed {}", self.config.seed));
            let amount = U256::from(1 + self.random() % 1000);
            let token = Self::token(token_i);
            block.transactions.push(Transaction {
                hash,
                from,
                to: Some(token),
                nonce: tx_nonce,
                raw: Bytes::from(keccak256(hash).to_vec()),
            });
            let log = Log {
                address: token,
                topics: vec![transfer_topic(), from.into_word(), to.into_word()],
                data: Bytes::from(amount.to_be_bytes::<32>().to_vec()),
            };
            block.receipts.push(Receipt {
                transaction_hash: hash,
                status: 1,
                gas_used: 51_000,
                logs: vec![log],
            });
            touched.entry(from).or_default().nonce = Some(tx_nonce + 1);
            let sender_balance =
                U256::from(1_000_000_000_000_000_000u128) - U256::from(number * 1000 + i);
            touched.entry(from).or_default().balance = Some(sender_balance);
            let token_change = touched.entry(token).or_default();
            // Token balances: slot = keccak(holder), value changes with every transfer.
            token_change.storage.push((from.into_word(), U256::from(self.random() % 1_000_000)));
            token_change.storage.push((to.into_word(), U256::from(1 + self.random() % 1_000_000)));
        }
        block.state = touched.into_iter().map(|(a, c)| (a, Some(c))).collect();
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> SynthConfig {
        SynthConfig { accounts: 50, tokens: 2, txs_per_block: 4, seed }
    }

    #[test]
    fn a_resumed_chain_continues_from_its_parent_with_new_hashes() {
        let mut original = SynthChain::new(config(1));
        let blocks: Vec<_> = (0..4).map(|_| original.next_block()).collect();
        let mut resumed = SynthChain::resume(config(2), 3, blocks[2].hash);
        let block = resumed.next_block();
        assert_eq!((block.number, block.parent_hash), (3, blocks[2].hash));
        assert_ne!(block.hash, blocks[3].hash);
        assert!(
            block
                .transactions
                .iter()
                .all(|t| blocks[3].transactions.iter().all(|o| o.hash != t.hash))
        );
        assert_eq!(resumed.next_block().parent_hash, block.hash);
    }

    #[test]
    fn a_large_block_writes_distinct_bulk_slots_in_a_bounded_range() {
        let mut chain = SynthChain::new(config(1));
        chain.next_block();
        let block = chain.next_large_block(1000);
        let (address, change) = block.state.last().unwrap();
        assert_eq!(*address, SynthChain::bulk_contract());
        let slots: Vec<U256> =
            change.as_ref().unwrap().storage.iter().map(|(s, _)| (*s).into()).collect();
        assert!((800..1200).contains(&slots.len()), "{} slots", slots.len());
        assert!(slots.windows(2).all(|w| w[0] < w[1]), "slots are distinct");
        assert!(slots.iter().all(|s| *s < U256::from(2000)));
        let deletes = change.as_ref().unwrap().storage.iter().filter(|(_, v)| v.is_zero()).count();
        assert!((50..250).contains(&deletes), "{deletes} deletes");
        assert_eq!(chain.next_block().parent_hash, block.hash);
    }
}
