//! External sort of orders by (customer, ts, product), so a file far larger than memory can
//! be read one customer at a time.
//!
//! [`Runs`] keeps at most `run_rows` orders in memory, sorts them and writes each full batch
//! as a *run* file in a scratch folder; [`Merge`] reads every run through a small buffer and
//! k-way merges them. Memory: one run while sorting; one read buffer per run plus one
//! customer's orders while merging. The merged order is a total order on the orders
//! themselves, so it does not depend on the run size — which is what lets a resumed ingest
//! skip the customers it already committed by counting them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// One order as sorted: field order is sort order, (customer, ts, product).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Order {
    /// The customer id's first 8 bytes, big-endian, zero-padded: decides most comparisons
    /// without following two pointers (a function of `customer`, so the order is unchanged).
    prefix: u64,
    customer: Box<str>,
    ts: i64,
    product: Box<str>,
}

/// Read buffer per run while merging: many runs stay cheap (1 000 runs = 64 MiB).
const READ_BUFFER: usize = 64 << 10;

/// Sorted runs being written to a scratch folder.
pub(super) struct Runs {
    dir: PathBuf,
    run_rows: usize,
    pending: Vec<Order>,
    files: Vec<PathBuf>,
}

impl Runs {
    /// Starts runs in `dir`, emptying it first (runs left by an interrupted run are stale).
    pub(super) fn create(dir: &Path, run_rows: usize) -> io::Result<Runs> {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::create_dir_all(dir)?;
        Ok(Runs {
            dir: dir.to_path_buf(),
            run_rows: run_rows.max(1),
            pending: Vec::with_capacity(run_rows.clamp(1, 1 << 20)),
            files: Vec::new(),
        })
    }

    /// Adds one order; writes a run when `run_rows` are pending.
    pub(super) fn push(&mut self, customer: &str, product: &str, ts: i64) -> io::Result<()> {
        self.pending.push(Order {
            prefix: prefix(customer),
            customer: customer.into(),
            ts,
            product: product.into(),
        });
        if self.pending.len() >= self.run_rows {
            self.write_run()?;
        }
        Ok(())
    }

    /// Writes the last run and opens the merge over all of them.
    pub(super) fn finish(mut self) -> io::Result<Merge> {
        if !self.pending.is_empty() {
            self.write_run()?;
        }
        let mut merge = Merge {
            runs: Vec::with_capacity(self.files.len()),
            heap: BinaryHeap::with_capacity(self.files.len()),
        };
        for path in &self.files {
            let mut run = BufReader::with_capacity(READ_BUFFER, File::open(path)?);
            if let Some(first) = read_order(&mut run)? {
                merge.heap.push(Reverse((first, merge.runs.len())));
            }
            merge.runs.push(run);
        }
        Ok(merge)
    }

    fn write_run(&mut self) -> io::Result<()> {
        self.pending.sort_unstable();
        let path = self.dir.join(format!("run-{:06}", self.files.len()));
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        for o in self.pending.drain(..) {
            write_field(&mut out, o.customer.as_bytes())?;
            out.write_all(&o.ts.to_le_bytes())?;
            write_field(&mut out, o.product.as_bytes())?;
        }
        out.flush()?;
        self.files.push(path);
        Ok(())
    }
}

/// The k-way merge of the runs.
pub(super) struct Merge {
    runs: Vec<BufReader<File>>,
    /// The smallest unread order of each run that has one, with the run's index.
    heap: BinaryHeap<Reverse<(Order, usize)>>,
}

/// One customer's orders from [`Merge::next_customer`].
pub(super) struct CustomerOrders {
    /// External customer id.
    pub customer: Box<str>,
    /// (external product id, unix seconds), by time then product.
    pub orders: Vec<(Box<str>, i64)>,
}

impl Merge {
    /// Number of runs being merged.
    pub(super) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The next customer (in byte order of their id) with all of their orders.
    pub(super) fn next_customer(&mut self) -> io::Result<Option<CustomerOrders>> {
        let Some(Reverse((first, run))) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(run)?;
        let mut orders = vec![(first.product, first.ts)];
        let customer = first.customer;
        while let Some(Reverse((next, _))) = self.heap.peek()
            && next.customer == customer
        {
            let Some(Reverse((next, run))) = self.heap.pop() else {
                break;
            };
            self.refill(run)?;
            orders.push((next.product, next.ts));
        }
        Ok(Some(CustomerOrders { customer, orders }))
    }

    fn refill(&mut self, run: usize) -> io::Result<()> {
        if let Some(next) = read_order(&mut self.runs[run])? {
            self.heap.push(Reverse((next, run)));
        }
        Ok(())
    }
}

fn prefix(customer: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = customer.len().min(8);
    bytes[..n].copy_from_slice(&customer.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

fn write_field(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "id longer than 4 GiB"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)
}

/// Reads one order, `None` at the end of the run.
fn read_order(run: &mut impl Read) -> io::Result<Option<Order>> {
    let mut len = [0u8; 4];
    match run.read_exact(&mut len) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let customer = read_str(run, u32::from_le_bytes(len))?;
    let mut ts = [0u8; 8];
    run.read_exact(&mut ts)?;
    run.read_exact(&mut len)?;
    let product = read_str(run, u32::from_le_bytes(len))?;
    Ok(Some(Order {
        prefix: prefix(&customer),
        customer,
        ts: i64::from_le_bytes(ts),
        product,
    }))
}

fn read_str(run: &mut impl Read, len: u32) -> io::Result<Box<str>> {
    let mut bytes = vec![0u8; len as usize];
    run.read_exact(&mut bytes)?;
    String::from_utf8(bytes)
        .map(String::into_boxed_str)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(run_rows: usize, orders: &[(&str, &str, i64)]) -> Vec<(String, Vec<(String, i64)>)> {
        let tmp = tempfile::tempdir().unwrap();
        let mut runs = Runs::create(&tmp.path().join("runs"), run_rows).unwrap();
        for (c, p, ts) in orders {
            runs.push(c, p, *ts).unwrap();
        }
        let mut merge = runs.finish().unwrap();
        let mut out = Vec::new();
        while let Some(c) = merge.next_customer().unwrap() {
            let orders = c.orders.iter().map(|(p, t)| (p.to_string(), *t)).collect();
            out.push((c.customer.to_string(), orders));
        }
        out
    }

    #[test]
    fn merge_groups_customers_in_order_whatever_the_run_size() {
        let orders = [
            ("c2", "p1", 5),
            ("c1", "p9", 7),
            ("c2", "p0", 5),
            ("c1", "p3", 1),
            ("c3", "p1", -4),
            ("c1", "p3", 1),
            ("c1\u{0}", "p1", 0),
            ("c1234567890", "p1", 0),
            ("c12345678", "p2", 0),
        ];
        let expected = vec![
            (
                "c1".to_string(),
                vec![("p3".into(), 1), ("p3".into(), 1), ("p9".into(), 7)],
            ),
            ("c1\u{0}".to_string(), vec![("p1".into(), 0)]),
            ("c12345678".to_string(), vec![("p2".into(), 0)]),
            ("c1234567890".to_string(), vec![("p1".into(), 0)]),
            ("c2".to_string(), vec![("p0".into(), 5), ("p1".into(), 5)]),
            ("c3".to_string(), vec![("p1".into(), -4)]),
        ];
        for run_rows in [1, 2, 4, 100] {
            assert_eq!(merged(run_rows, &orders), expected, "run size {run_rows}");
        }
        assert!(merged(3, &[]).is_empty());
    }
}
