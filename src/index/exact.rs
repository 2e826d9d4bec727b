//! Brute-force cosine search in memory: the ground truth for quality checks and the right
//! choice for small candidate sets.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use ndarray::{Array2, ArrayView1, ArrayView2};

use super::vector::{BestK, check_dims};
use super::{Ann, IndexError};
use crate::cosine::{dot, unit};

/// Exact nearest neighbours by cosine similarity. Vectors are normalised once at
/// construction, so a query costs one dot product per candidate of its category.
pub(crate) struct ExactIndex {
    dims: usize,
    /// Item ids, grouped by category so that a category is one contiguous run of rows.
    ids: Vec<u32>,
    /// Unit vectors, row-major, in the order of `ids`.
    units: Vec<f32>,
    categories: BTreeMap<String, Range<usize>>,
}

impl ExactIndex {
    /// Indexes `items` (`(id, category, vector)`) of `dims` dimensions. Fails on a vector of
    /// another dimension, an all-zero or non-finite vector, or an id given twice.
    pub(crate) fn new(
        dims: usize,
        items: impl IntoIterator<Item = (u32, String, Vec<f32>)>,
    ) -> Result<Self, IndexError> {
        let mut seen = HashSet::new();
        let mut rows = Vec::new();
        for (item, category, vector) in items {
            check_dims(dims, &vector)?;
            let unit = unit(&vector).ok_or(IndexError::DegenerateItem { item })?;
            if !seen.insert(item) {
                return Err(IndexError::DuplicateItem { item });
            }
            rows.push((category, item, unit));
        }
        rows.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));

        let mut index = ExactIndex {
            dims,
            ids: Vec::with_capacity(rows.len()),
            units: Vec::with_capacity(rows.len() * dims),
            categories: BTreeMap::new(),
        };
        for (row, (category, item, unit)) in rows.into_iter().enumerate() {
            match index.categories.get_mut(&category) {
                Some(range) => range.end = row + 1,
                None => {
                    index.categories.insert(category, row..row + 1);
                }
            }
            index.ids.push(item);
            index.units.extend_from_slice(&unit);
        }
        Ok(index)
    }

    /// [`Ann::nearest`] among the items at least `min_similarity` similar to `query`: fewer
    /// than `k` when fewer qualify. A caller that drops low similarities anyway (`recommend`
    /// keeps scores above a threshold) saves keeping them in the running best `k`.
    pub(crate) fn nearest_above(
        &self,
        category: Option<&str>,
        query: &[f32],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<(u32, f32)>, IndexError> {
        check_dims(self.dims, query)?;
        let query = unit(query).ok_or(IndexError::DegenerateQuery)?;
        let mut found = self.nearest_above_many(category, &[&query], &[k], min_similarity)?;
        Ok(found.pop().unwrap_or_default())
    }

    /// [`ExactIndex::nearest_above`] for many queries at once, each of unit length already,
    /// with its own `k`. The similarities are matrix products of the queries and a block of
    /// items at a time: a blocked product keeps both in cache and uses the machine's widest
    /// vector instructions, which a dot product per pair does not (magazines `recommend`
    /// 1.4× faster).
    pub(crate) fn nearest_above_many(
        &self,
        category: Option<&str>,
        queries: &[&[f32]],
        ks: &[usize],
        min_similarity: f32,
    ) -> Result<Vec<Vec<(u32, f32)>>, IndexError> {
        /// Items per block: a block of similarities for 64 queries stays within 2 MB.
        const BLOCK: usize = 8_192;
        /// Queries from which one matrix product beats a dot product per pair.
        const MATRIX_FROM: usize = 8;
        assert_eq!(queries.len(), ks.len(), "one k per query");
        let rows = self.rows(category)?;
        let mut q = Array2::zeros((queries.len(), self.dims));
        for (mut row, query) in q.rows_mut().into_iter().zip(queries) {
            check_dims(self.dims, query)?;
            row.assign(&ArrayView1::from(*query));
        }
        let mut best: Vec<BestK> = ks.iter().map(|&k| BestK::new(k)).collect();
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + BLOCK).min(rows.end);
            let items = ArrayView2::from_shape(
                (end - start, self.dims),
                &self.units[start * self.dims..end * self.dims],
            )
            .expect("rows of dims values");
            let similarities = if queries.len() >= MATRIX_FROM {
                q.dot(&items.t())
            } else {
                // A matrix product packs the whole block on every call: for a query or two (eval,
                // a single seller) it costs more than a dot product per item.
                Array2::from_shape_fn((queries.len(), end - start), |(i, j)| {
                    dot(
                        queries[i],
                        items.row(j).as_slice().expect("contiguous rows"),
                    )
                })
            };
            for (row, best) in similarities.rows().into_iter().zip(&mut best) {
                for (offset, &similarity) in row.iter().enumerate() {
                    let similarity = similarity.clamp(-1.0, 1.0);
                    if similarity >= min_similarity {
                        best.push(self.ids[start + offset], similarity);
                    }
                }
            }
            start = end;
        }
        Ok(best.into_iter().map(BestK::into_sorted).collect())
    }

    fn rows(&self, category: Option<&str>) -> Result<Range<usize>, IndexError> {
        match category {
            None => Ok(0..self.ids.len()),
            Some(name) => {
                self.categories
                    .get(name)
                    .cloned()
                    .ok_or_else(|| IndexError::UnknownCategory {
                        category: name.to_string(),
                        known: self.categories(),
                    })
            }
        }
    }
}

impl Ann for ExactIndex {
    fn nearest(
        &self,
        category: Option<&str>,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(u32, f32)>, IndexError> {
        self.nearest_above(category, query, k, f32::NEG_INFINITY)
    }

    fn categories(&self) -> Vec<String> {
        self.categories.keys().cloned().collect()
    }

    fn len(&self, category: Option<&str>) -> usize {
        self.rows(category).map_or(0, |rows| rows.len())
    }
}
