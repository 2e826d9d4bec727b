//! Vector checks, arroy's distance as a cosine, and the best-k collector shared by the
//! indexes (the cosine arithmetic itself is [`crate::cosine`]).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::IndexError;

/// Fails unless `vector` has `expected` dimensions.
pub(crate) fn check_dims(expected: usize, vector: &[f32]) -> Result<(), IndexError> {
    if vector.len() == expected {
        Ok(())
    } else {
        Err(IndexError::InvalidDimension {
            expected,
            received: vector.len(),
        })
    }
}

/// Cosine similarity from arroy's `Cosine` distance, which is `(1 - cos) / 2` (0 = same
/// direction, 1 = opposite), so `cos = 1 - 2 * distance`.
pub(crate) fn similarity_from_arroy(distance: f32) -> f32 {
    (1.0 - 2.0 * distance).clamp(-1.0, 1.0)
}

/// A scored item; greater is better: higher similarity, then the lower id, so that ties rank
/// the same way in every index (arroy sorts equal distances by ascending id too).
#[derive(Clone, Copy, PartialEq)]
struct Scored {
    similarity: f32,
    item: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.similarity
            .total_cmp(&other.similarity)
            .then(other.item.cmp(&self.item))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the `k` best of a stream of scored items in O(n log k).
pub(crate) struct BestK {
    k: usize,
    // A min-heap: its top is the worst item kept, the one a better newcomer replaces.
    heap: BinaryHeap<Reverse<Scored>>,
}

impl BestK {
    pub(crate) fn new(k: usize) -> Self {
        BestK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Whether `item` would be kept if pushed now (to skip costly checks of the rest).
    pub(crate) fn admits(&self, item: u32, similarity: f32) -> bool {
        self.heap.len() < self.k
            || self
                .heap
                .peek()
                .is_some_and(|worst| Scored { similarity, item } > worst.0)
    }

    pub(crate) fn push(&mut self, item: u32, similarity: f32) {
        let scored = Scored { similarity, item };
        if self.heap.len() < self.k {
            self.heap.push(Reverse(scored));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && scored > worst.0
        {
            *worst = Reverse(scored);
        }
    }

    /// The kept items, best first.
    pub(crate) fn into_sorted(self) -> Vec<(u32, f32)> {
        // Ascending order of `Reverse` is descending order of `Scored`: best first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(s)| (s.item, s.similarity))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_k_keeps_the_best_and_breaks_ties_by_lower_id() {
        let mut best = BestK::new(3);
        for (item, sim) in [(5, 0.1), (1, 0.9), (7, 0.5), (3, 0.9), (2, -0.4), (4, 0.5)] {
            best.push(item, sim);
        }
        assert_eq!(best.into_sorted(), vec![(1, 0.9), (3, 0.9), (4, 0.5)]);
    }

    #[test]
    fn arroy_distance_converts_to_cosine() {
        assert_eq!(similarity_from_arroy(0.0), 1.0);
        assert_eq!(similarity_from_arroy(0.5), 0.0);
        assert_eq!(similarity_from_arroy(1.0), -1.0);
    }
}
