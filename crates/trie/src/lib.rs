//! Ethereum Merkle Patricia Trie over cursor traits (work in progress).
