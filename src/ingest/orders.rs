//! `orders.tsv` → co-purchase counts (semantics in `schema/drop.md`).
//!
//! A pair {a, b} gains 1 per drop for each customer who bought a and b within the window
//! (|Δts| ≤ window) with at least one of the two orders in this drop; the other may be in the
//! customer's *tail*, their latest purchases kept from earlier drops. The orders are
//! externally sorted by customer ([`super::sort`]) and processed one customer at a time, so
//! memory does not grow with the file. Customers are committed in chunks; the drop's cursor
//! counts the customers done in the merged order, which does not depend on the run size.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use super::sort::Runs;
use super::tsv::{Line, TsvReader};
use super::{Checked, IngestError, IngestOptions, Result, product};
use crate::ingest::Row;
use crate::progress::{Cancelled, Progress};
use crate::store::{Cursor, DropRecord, DropWriter, Id, Store, StoreError};

/// At most this many distinct products per customer take part in one drop's pairs (and in the
/// stored tail): the customer's most recently bought. Bounds the work of one customer to
/// O(orders × 200) and their pairs to 200·199/2, however many orders they have.
pub(super) const MAX_PRODUCTS_PER_CUSTOMER: usize = 200;

/// One customer's contribution: the pairs to count once, and the tail to store.
#[derive(Debug, PartialEq)]
struct Contribution {
    /// Unordered pairs as (smaller id, larger id), sorted.
    pairs: Vec<(Id, Id)>,
    /// (product, its latest purchase) for products bought at or after the cutoff, by time.
    tail: Vec<(Id, i64)>,
}

/// Computes a customer's pairs from their stored `tail` and this drop's `current` orders
/// (product, unix seconds). `cutoff`: tail entries older than this are not kept.
fn contribution(
    tail: &[(Id, i64)],
    current: &[(Id, i64)],
    window: i64,
    cutoff: i64,
) -> Contribution {
    // (ts, product, bought in this drop)
    let mut orders: Vec<(i64, Id, bool)> = tail
        .iter()
        .map(|&(p, t)| (t, p, false))
        .chain(current.iter().map(|&(p, t)| (t, p, true)))
        .collect();
    let mut latest: HashMap<Id, i64> = HashMap::new();
    for &(t, p, _) in &orders {
        let l = latest.entry(p).or_insert(t);
        *l = (*l).max(t);
    }
    if latest.len() > MAX_PRODUCTS_PER_CUSTOMER {
        let mut ranked: Vec<(i64, Id)> = latest.iter().map(|(&p, &t)| (t, p)).collect();
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let kept: HashSet<Id> = ranked[..MAX_PRODUCTS_PER_CUSTOMER]
            .iter()
            .map(|&(_, p)| p)
            .collect();
        orders.retain(|(_, p, _)| kept.contains(p));
    }
    orders.sort_unstable();

    // Per product seen so far: its latest purchase, and its latest purchase in this drop.
    // A pair of orders i before j (by time) qualifies when t_j − t_i ≤ window and one of them
    // is current; checking j against each earlier product's latest (current) purchase finds
    // exactly those pairs, in O(orders × products).
    let mut seen: Vec<(Id, i64, Option<i64>)> = Vec::new();
    let mut pairs: HashSet<(Id, Id)> = HashSet::new();
    for &(t, p, current) in &orders {
        let from = t.saturating_sub(window);
        for &(q, any, cur) in &seen {
            if q != p && ((current && any >= from) || cur.is_some_and(|c| c >= from)) {
                pairs.insert((p.min(q), p.max(q)));
            }
        }
        match seen.iter_mut().find(|(q, _, _)| *q == p) {
            Some(entry) => {
                entry.1 = t;
                if current {
                    entry.2 = Some(t);
                }
            }
            None => seen.push((p, t, current.then_some(t))),
        }
    }
    let mut pairs: Vec<(Id, Id)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    let mut tail: Vec<(Id, i64)> = seen
        .into_iter()
        .filter(|&(_, t, _)| t >= cutoff)
        .map(|(p, t, _)| (p, t))
        .collect();
    tail.sort_unstable_by_key(|&(p, t)| (t, p));
    Contribution { pairs, tail }
}

/// Expires the stored tails of the customers after `after` and up to `upto` (`None`: from the
/// start, to the end) that are not in `present` (sorted; their tails are being rewritten):
/// entries older than `cutoff` go, and a tail is rewritten only when that changes it.
fn expire_absent(
    store: &Store,
    w: &mut DropWriter,
    after: Option<&str>,
    upto: Option<&str>,
    present: &[Box<str>],
    cutoff: i64,
) -> Result<()> {
    store.for_each_customer_tail(after, upto, |customer, tail| {
        if present.binary_search_by(|p| (**p).cmp(customer)).is_err() {
            let kept: Vec<(Id, i64)> = tail.iter().copied().filter(|&(_, t)| t >= cutoff).collect();
            if kept.len() != tail.len() {
                w.put_customer_tail(customer, &kept);
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Applies the orders file `c` (file `index` of the drop), skipping the first `done`
/// customers of the merged order (committed by an interrupted run).
#[allow(clippy::too_many_arguments)]
pub(super) fn apply(
    store: &Store,
    w: &mut DropWriter,
    record: &mut DropRecord,
    index: usize,
    c: &Checked,
    done: u64,
    opts: &IngestOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<()> {
    let scratch = store.tmp_dir().join(format!("orders-{}", record.seq));
    let scratch_err = |source| {
        IngestError::Store(StoreError::Io {
            path: scratch.clone(),
            source,
        })
    };
    let read_err = |line, source| IngestError::Read {
        path: c.file.path.clone(),
        line,
        source,
    };

    // Sort: every run is scratch, rebuilt on a rerun (the committed state is the cursor).
    progress.start_bytes(&format!("sorting {}", c.file.name), c.file.bytes);
    let mut runs = Runs::create(&scratch, opts.sort_run_rows).map_err(scratch_err)?;
    let mut reader = TsvReader::open(&c.file.path, 0, 0).map_err(|e| read_err(0, e))?;
    reader.next_line().map_err(|e| read_err(1, e))?;
    let mut last_ts = i64::MIN;
    loop {
        let line_no = reader.line + 1;
        let Some(line) = reader.next_line().map_err(|e| read_err(line_no, e))? else {
            break;
        };
        // Rows that fail to parse were rejected (and counted) during validation.
        if let Line::Text(text) = line
            && let Ok(Row::Order {
                customer,
                product,
                ts,
            }) = c.header.row(text)
        {
            last_ts = last_ts.max(ts);
            runs.push(customer, product, ts).map_err(scratch_err)?;
        }
        if reader.line.is_multiple_of(65_536) {
            progress.set(reader.offset.min(c.file.bytes));
        }
    }
    let mut merge = runs.finish().map_err(scratch_err)?;
    progress.finish();
    tracing::info!(drop = %record.name, file = %c.file.name, runs = merge.runs(), "orders sorted");

    let window = opts.copurchase_window_secs;
    let cutoff = last_ts.saturating_sub(window);
    progress.start(&format!("{}: {} pairs", record.name, c.file.name), c.rows);
    let (mut customers, mut staged) = (0u64, 0usize);
    // Stored tails of customers absent from this drop only lose what has expired. One range
    // scan per chunk finds them: the keys after the previous chunk's last customer up to this
    // chunk's last, less this chunk's customers (in merged, i.e. byte, order).
    let mut scanned_to: Option<Box<str>> = None;
    let mut chunk: Vec<Box<str>> = Vec::new();
    while let Some(next) = merge.next_customer().map_err(scratch_err)? {
        customers += 1;
        if customers <= done {
            scanned_to = Some(next.customer);
            continue;
        }
        let mut current = Vec::with_capacity(next.orders.len());
        for (p, ts) in &next.orders {
            current.push((product(w, record, p)?, *ts));
        }
        let tail = store.customer_tail(&next.customer)?;
        let contribution = contribution(&tail, &current, window, cutoff);
        for &(a, b) in &contribution.pairs {
            w.add_copurchase(a, b, 1);
        }
        w.put_customer_tail(&next.customer, &contribution.tail);
        chunk.push(next.customer);
        record.files[index].applied += current.len() as u64;
        staged += current.len();
        if staged >= opts.batch_rows {
            let upto = chunk.last().map(|c| &**c);
            expire_absent(store, w, scanned_to.as_deref(), upto, &chunk, cutoff)?;
            scanned_to = chunk.pop();
            chunk.clear();
            record.cursor = Cursor {
                file: index as u32,
                line: customers,
                offset: 0,
            };
            w.commit(record)?;
            staged = 0;
            progress.set(record.files[index].applied);
            if cancel.load(Ordering::Relaxed) {
                progress.finish();
                return Err(IngestError::Cancelled(Cancelled));
            }
        }
    }
    // The last chunk and every customer after it; staged here, committed with the cursor that
    // moves past the file.
    expire_absent(store, w, scanned_to.as_deref(), None, &chunk, cutoff)?;
    drop(merge);
    std::fs::remove_dir_all(&scratch).map_err(scratch_err)?;
    progress.finish();
    tracing::info!(drop = %record.name, file = %c.file.name, customers, "orders paired");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const WEEK: i64 = 7 * DAY;

    #[test]
    fn window_edges_repeats_and_self_pairs() {
        // 1 and 2 exactly a week apart count; 1 and 3, a week and a second apart, do not.
        let c = contribution(&[], &[(1, 0), (2, WEEK), (3, WEEK + 1)], WEEK, i64::MIN);
        assert_eq!(c.pairs, vec![(1, 2), (2, 3)]);
        // A repeated purchase counts once; a later repeat extends the product's reach.
        let c = contribution(&[], &[(1, 0), (1, 10), (2, 20), (3, WEEK + 5)], WEEK, 0);
        assert_eq!(c.pairs, vec![(1, 2), (1, 3), (2, 3)]);
        // A product never pairs with itself.
        assert!(
            contribution(&[], &[(5, 0), (5, 1)], WEEK, 0)
                .pairs
                .is_empty()
        );
    }

    #[test]
    fn the_tail_pairs_with_current_orders_only() {
        // Tail: 1 and 2 (already counted in their drop). Current: 3, three days later.
        let tail = [(1, 0), (2, DAY)];
        let c = contribution(&tail, &[(3, 3 * DAY)], WEEK, 2 * DAY);
        assert_eq!(c.pairs, vec![(1, 3), (2, 3)]);
        // The new tail drops what is older than the cutoff and keeps latest purchases.
        assert_eq!(c.tail, vec![(3, 3 * DAY)]);
        let c = contribution(&[(1, 0)], &[(1, DAY), (2, 2 * DAY)], WEEK, 0);
        assert_eq!(c.tail, vec![(1, DAY), (2, 2 * DAY)]);
    }

    #[test]
    fn heavy_customers_keep_their_most_recent_products() {
        let n = MAX_PRODUCTS_PER_CUSTOMER as u32 + 50;
        let current: Vec<(Id, i64)> = (0..n).map(|p| (p, i64::from(p))).collect();
        let c = contribution(&[], &current, WEEK, 0);
        let kept = MAX_PRODUCTS_PER_CUSTOMER;
        assert_eq!(c.pairs.len(), kept * (kept - 1) / 2);
        assert_eq!(c.tail.len(), kept);
        assert_eq!(c.tail[0], (50, 50), "the oldest 50 products are left out");
    }
}
