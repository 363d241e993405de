//! Merging an overlay of recent writes (sorted, with deletions) over a sorted base iterator.

use std::cmp::Ordering;
use std::iter::Peekable;

use super::error::{Error, Result};

/// A boxed iterator of (key, value) pairs, in key order.
pub type PairIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + Send + 'a>;

/// Yields the union of `overlay` and `base` in key order (descending if `reverse`); where both
/// have a key the overlay wins, and an overlay deletion (`None`) hides the key.
pub(crate) struct Merge<'a, O: Iterator<Item = (Vec<u8>, Option<Vec<u8>>)>> {
    overlay: Peekable<O>,
    base: Peekable<PairIter<'a>>,
    reverse: bool,
}

impl<'a, O: Iterator<Item = (Vec<u8>, Option<Vec<u8>>)>> Merge<'a, O> {
    pub(crate) fn new(overlay: O, base: PairIter<'a>, reverse: bool) -> Self {
        Self { overlay: overlay.peekable(), base: base.peekable(), reverse }
    }
}

fn order(reverse: bool, a: &[u8], b: &[u8]) -> Ordering {
    if reverse { b.cmp(a) } else { a.cmp(b) }
}

impl<O: Iterator<Item = (Vec<u8>, Option<Vec<u8>>)>> Iterator for Merge<'_, O> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_overlay = match (self.overlay.peek(), self.base.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(_), Some(Err(_))) => false,
                (Some((ok, _)), Some(Ok((bk, _)))) => match order(self.reverse, ok, bk) {
                    Ordering::Less => true,
                    Ordering::Greater => false,
                    Ordering::Equal => {
                        self.base.next();
                        true
                    }
                },
            };
            if !take_overlay {
                return self.base.next();
            }
            if let Some((k, Some(v))) = self.overlay.next() {
                return Some(Ok((k, v)));
            }
        }
    }
}

/// Wraps a backend iterator's errors.
pub(crate) fn from_backend(iter: crate::backend::BackendIter) -> PairIter<'static> {
    Box::new(iter.map(|r| r.map_err(Error::from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(pairs: &[(&str, &str)]) -> PairIter<'static> {
        let v: Vec<_> =
            pairs.iter().map(|(k, v)| Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec()))).collect();
        Box::new(v.into_iter())
    }

    #[test]
    fn overlay_wins_and_deletes_hide() {
        let overlay = vec![
            (b"a".to_vec(), Some(b"A".to_vec())),
            (b"c".to_vec(), None),
            (b"e".to_vec(), Some(b"E".to_vec())),
        ];
        let merged: Vec<_> = Merge::new(
            overlay.into_iter(),
            base(&[("b", "b"), ("c", "c"), ("d", "d"), ("e", "e")]),
            false,
        )
        .map(|r| r.unwrap())
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
        let expect: Vec<(String, String)> = [("a", "A"), ("b", "b"), ("d", "d"), ("e", "E")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(merged, expect);
    }

    #[test]
    fn reverse_merge() {
        let overlay = vec![(b"d".to_vec(), None), (b"b".to_vec(), Some(b"B".to_vec()))];
        let merged: Vec<_> =
            Merge::new(overlay.into_iter(), base(&[("d", "d"), ("c", "c"), ("a", "a")]), true)
                .map(|r| r.unwrap().0)
                .collect();
        assert_eq!(merged, vec![b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
    }
}
