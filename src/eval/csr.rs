//! A compressed-sparse-row matrix of `f32` counts, the input of ALS.

/// Rows × `cols` sparse matrix: row `r` holds columns `indices[indptr[r]..indptr[r + 1]]`
/// (ascending, distinct, each `< cols`) with `values` at the same positions.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Csr {
    /// Number of columns.
    pub cols: usize,
    /// Row starts into `indices` / `values`; `rows + 1` entries, starting at 0.
    pub indptr: Vec<usize>,
    /// Column of each stored entry.
    pub indices: Vec<u32>,
    /// Value of each stored entry.
    pub values: Vec<f32>,
}

impl Csr {
    /// Builds a `rows × cols` matrix from `(row, col, value)` entries, summing duplicates.
    ///
    /// # Panics
    /// When an entry's row or column is out of range.
    pub(crate) fn from_triplets(rows: usize, cols: usize, entries: &[(u32, u32, f32)]) -> Csr {
        let mut indptr = vec![0usize; rows + 1];
        for &(r, c, _) in entries {
            assert!(
                (r as usize) < rows && (c as usize) < cols,
                "entry ({r}, {c}) outside a {rows} × {cols} matrix"
            );
            indptr[r as usize + 1] += 1;
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        let mut next = indptr.clone();
        let mut placed = vec![(0u32, 0f32); entries.len()];
        for &(r, c, v) in entries {
            placed[next[r as usize]] = (c, v);
            next[r as usize] += 1;
        }
        // Sort each row by column and fold duplicates, compacting in place.
        let mut out = Csr {
            cols,
            indptr: Vec::with_capacity(rows + 1),
            indices: Vec::with_capacity(entries.len()),
            values: Vec::with_capacity(entries.len()),
        };
        out.indptr.push(0);
        for r in 0..rows {
            let row = &mut placed[indptr[r]..indptr[r + 1]];
            row.sort_by_key(|&(c, _)| c);
            let start = out.indices.len();
            for &(c, v) in row.iter() {
                match out.values.last_mut() {
                    Some(sum) if out.indices.len() > start && out.indices.last() == Some(&c) => {
                        *sum += v
                    }
                    _ => {
                        out.indices.push(c);
                        out.values.push(v);
                    }
                }
            }
            out.indptr.push(out.indices.len());
        }
        out
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored entries.
    pub(crate) fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Columns and values of row `r`.
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    /// The `cols × rows` transpose (rows of the result are ascending by construction).
    pub(crate) fn transpose(&self) -> Csr {
        let rows = self.rows();
        let mut indptr = vec![0usize; self.cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..self.cols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let at = &mut next[c as usize];
                indices[*at] = r as u32;
                values[*at] = v;
                *at += 1;
            }
        }
        Csr {
            cols: rows,
            indptr,
            indices,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triplets_are_sorted_and_summed() {
        let m = Csr::from_triplets(3, 4, &[(2, 1, 1.0), (0, 3, 2.0), (0, 1, 1.0), (0, 3, 0.5)]);
        assert_eq!(m.rows(), 3);
        assert_eq!(m.row(0), (&[1u32, 3][..], &[1.0f32, 2.5][..]));
        assert_eq!(m.row(1), (&[][..], &[][..]));
        assert_eq!(m.row(2), (&[1u32][..], &[1.0f32][..]));
        assert_eq!(m.nnz(), 3);
    }

    #[test]
    fn transpose_twice_is_identity() {
        let m = Csr::from_triplets(3, 4, &[(2, 1, 1.0), (0, 3, 2.0), (0, 1, 3.0), (1, 0, 4.0)]);
        let t = m.transpose();
        assert_eq!(t.rows(), 4);
        assert_eq!(t.cols, 3);
        assert_eq!(t.row(1), (&[0u32, 2][..], &[3.0f32, 1.0][..]));
        assert_eq!(t.transpose(), m);
    }
}
