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

    /// Bit `n` is set when some changed key starts with `prefix` followed by nibble `n`.
    pub(crate) fn child_mask(&self, prefix: &Nibbles) -> u16 {
        let start = self.keys.partition_point(|key| key < prefix);
        let depth = prefix.len();
        self.keys[start..]
            .iter()
            .take_while(|key| key.starts_with(prefix))
            .filter(|key| key.len() > depth)
            .fold(0, |mask, key| mask | 1 << key.get_unchecked(depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_mask_marks_children_with_changed_keys() {
        let set = PrefixSet::new(vec![
            Nibbles::from_nibbles([1, 2, 3]),
            Nibbles::from_nibbles([0, 5]),
            Nibbles::from_nibbles([1, 2, 3]),
        ]);
        assert!(!set.is_empty());
        assert_eq!(set.child_mask(&Nibbles::default()), 0b11);
        assert_eq!(set.child_mask(&Nibbles::from_nibbles([1])), 1 << 2);
        assert_eq!(set.child_mask(&Nibbles::from_nibbles([1, 2])), 1 << 3);
        assert_eq!(set.child_mask(&Nibbles::from_nibbles([0])), 1 << 5);
        assert_eq!(set.child_mask(&Nibbles::from_nibbles([1, 2, 3])), 0);
        assert_eq!(set.child_mask(&Nibbles::from_nibbles([1, 3])), 0);
        assert_eq!(set.child_mask(&Nibbles::from_nibbles([7])), 0);
        assert_eq!(PrefixSet::default().child_mask(&Nibbles::default()), 0);
    }
}
