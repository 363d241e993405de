//! The set of changed keys, queried by prefix.

use alloy_trie::Nibbles;

/// Sorted, deduplicated changed keys (as nibbles). A subtree whose path is a prefix of none of
/// them is unchanged and its stored hash can be reused.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixSet {
    keys: Vec<Nibbles>,
}

impl PrefixSet {
    /// Builds the set from keys in any order.
    pub(crate) fn new(mut keys: Vec<Nibbles>) -> Self {
        keys.sort_unstable();
        keys.dedup();
        Self { keys }
    }

    /// Whether no key changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some changed key starts with `prefix`.
    pub(crate) fn contains(&self, prefix: &Nibbles) -> bool {
        let index = self.keys.partition_point(|key| key < prefix);
        self.keys.get(index).is_some_and(|key| key.starts_with(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_matches_prefixes_only() {
        let set = PrefixSet::new(vec![
            Nibbles::from_nibbles([1, 2, 3]),
            Nibbles::from_nibbles([0, 5]),
            Nibbles::from_nibbles([1, 2, 3]),
        ]);
        assert!(set.contains(&Nibbles::default()));
        assert!(set.contains(&Nibbles::from_nibbles([1])));
        assert!(set.contains(&Nibbles::from_nibbles([1, 2, 3])));
        assert!(set.contains(&Nibbles::from_nibbles([0, 5])));
        assert!(!set.contains(&Nibbles::from_nibbles([1, 3])));
        assert!(!set.contains(&Nibbles::from_nibbles([0, 5, 0])));
        assert!(!set.contains(&Nibbles::from_nibbles([2])));
        assert!(!PrefixSet::default().contains(&Nibbles::default()));
    }
}
