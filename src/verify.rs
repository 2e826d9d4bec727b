//! `demandlink verify`: proves a database whole or says what is not. Three parts, each a list
//! of what was checked and what is wrong: RocksDB's block checksums over every column family;
//! the active index generation's files against the hashes its build recorded (in full); and
//! the store's invariants across records (lists name existing sellers and products of the
//! active generations, vectors have the model's dimension, mirrored adjacency, drop cursors).
//!
//! It only reads: run on a read-only or secondary view it can run beside a writer.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::index::stage::{self as index_stage, StageError};
use crate::index::{Depth, Health};
use crate::progress::{Cancelled, Progress};
use crate::store::{Namespace, Store, StoreError};
use crate::vectors::ActiveModel;

/// Errors that stop a verification (what it finds wrong is its report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Ctrl-C.
    #[error("verify interrupted; nothing was written: rerun it to check again")]
    Cancelled(#[from] Cancelled),
    /// The store failed in a way that stops the checks (a damaged record is reported, not this).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index could not be read.
    #[error(transparent)]
    Index(#[from] StageError),
}

/// One part of the verification.
#[derive(Debug, Serialize)]
pub struct Part {
    /// What it is: `checksums`, `index`, `invariants`.
    pub name: &'static str,
    /// What was checked, one line each.
    pub checked: Vec<String>,
    /// What is wrong, one line each (empty: whole).
    pub problems: Vec<String>,
}

/// What `verify` found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The parts, in the order they ran.
    pub parts: Vec<Part>,
}

impl Part {
    fn new(name: &'static str) -> Part {
        Part {
            name,
            checked: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl Report {
    /// Whether nothing is wrong.
    pub fn whole(&self) -> bool {
        self.parts.iter().all(|p| p.problems.is_empty())
    }
}

/// Verifies the database behind `store` (open it read-only).
pub fn verify(
    store: &Store,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Report, VerifyError> {
    let mut parts = vec![checksums(store, progress, cancel)?];
    // A damaged table file found above can fail the reads of the parts below: each reports
    // what stopped it, and the others still run.
    parts.push(index(store, progress).unwrap_or_else(|e| unchecked("index", e)));
    parts.push(invariants(store, progress).unwrap_or_else(|e| unchecked("invariants", e)));
    Ok(Report { parts })
}

/// A part that could not be checked, with the error that stopped it.
fn unchecked(name: &'static str, error: VerifyError) -> Part {
    let mut part = Part::new(name);
    part.problems.push(format!("not checked: {error}"));
    part
}

fn checksums(
    store: &Store,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Part, VerifyError> {
    let mut part = Part::new("checksums");
    for family in store.verify_checksums(progress, cancel)? {
        part.checked
            .push(format!("{}: {} keys read", family.name, family.keys));
        if let Some(error) = family.error {
            part.problems.push(format!("{}: {error}", family.name));
        }
    }
    Ok(part)
}

fn index(store: &Store, progress: &dyn Progress) -> Result<Part, VerifyError> {
    let mut part = Part::new("index");
    match index_stage::active_health(store, Depth::Full, progress)? {
        None => part.checked.push("no index yet".into()),
        Some((g, Health::Whole)) => part.checked.push(format!(
            "generation {g}: every file matches its build's hash"
        )),
        Some((g, Health::Unrecorded)) => part.checked.push(format!(
            "generation {g}: no hash recorded (built before hashes were); `demandlink index` \
             rebuilds it with them"
        )),
        Some((g, Health::Damaged(reason))) => part
            .problems
            .push(crate::index::damaged(&store.index_dir(), g, reason).to_string()),
    }
    Ok(part)
}

fn invariants(store: &Store, progress: &dyn Progress) -> Result<Part, VerifyError> {
    let mut part = Part::new("invariants");
    part.problems = store.mirror_problems()?;
    part.checked
        .push("listings in both directions, co-purchase pairs mirrored".into());
    part.problems.extend(store.drop_problems()?);
    part.checked
        .push("drop cursors inside their drops' files".into());
    let model = ActiveModel::load(store)?;
    if let Some(model) = &model {
        progress.start("verify: vectors", 0);
        part.problems.extend(dimensions(store, model)?);
        progress.finish();
        part.checked.push(format!(
            "every vector of the active model ({}) has its dimension",
            model.name()
        ));
    }
    progress.start("verify: recommendations", 0);
    part.problems.extend(lists(store, model.as_ref())?);
    progress.finish();
    part.checked.push(
        "every list names an existing seller and products, from the active generations".into(),
    );
    Ok(part)
}

/// Vectors of the active model whose length differs from its first product vector's.
fn dimensions(store: &Store, model: &ActiveModel) -> Result<Vec<String>, StoreError> {
    let mut dims = None;
    let mut wrong = BTreeMap::new();
    let mut note = |ns: &'static str, id: u32, len: usize| {
        let expected = *dims.get_or_insert(len);
        if len != expected {
            wrong
                .entry(ns)
                .or_insert_with(|| (0u64, id, len, expected))
                .0 += 1;
        }
    };
    model.for_each_product(store, |id, v| note("product", id, v.len()))?;
    model.for_each_seller(store, |id, v| note("seller", id, v.len()))?;
    Ok(wrong
        .into_iter()
        .map(|(ns, (n, id, len, expected))| {
            format!(
                "{n} {ns} vectors of model {} do not have its dimension {expected} (the first: \
                 {ns} #{id} has {len})",
                model.name()
            )
        })
        .collect())
}

/// Lists naming unknown sellers or products, or computed with other generations than the
/// active model and index.
fn lists(store: &Store, model: Option<&ActiveModel>) -> Result<Vec<String>, StoreError> {
    let products = store.entity_count(Namespace::Product)?;
    let active = store.active_index()?;
    let mut problems = Vec::new();
    let (mut unknown_seller, mut unknown_product, mut stale, mut first) = (0u64, 0u64, 0u64, None);
    let mut sellers = Vec::new();
    store.for_each_recommendation(|seller, category, list| {
        sellers.push(seller);
        if list.items.iter().any(|r| r.product >= products) {
            unknown_product += 1;
        }
        let current = model.map(|m| m.generation) == Some(list.model)
            && active.map(|(g, _)| g) == Some(list.index_generation);
        if !current {
            stale += 1;
            first.get_or_insert((
                seller,
                category.to_string(),
                list.model,
                list.index_generation,
            ));
        }
    })?;
    sellers.dedup();
    for seller in sellers {
        if store.seller(seller)?.is_none() {
            unknown_seller += 1;
        }
    }
    if unknown_seller > 0 {
        problems.push(format!(
            "{unknown_seller} sellers with lists have no seller record"
        ));
    }
    if unknown_product > 0 {
        problems.push(format!(
            "{unknown_product} lists name a product id that does not exist"
        ));
    }
    if let Some((seller, category, m, g)) = first {
        problems.push(format!(
            "{stale} lists were computed with model {m} / index generation {g} (the first: \
             seller #{seller} `{category}`), not the active ones: run `demandlink recommend`"
        ));
    }
    Ok(problems)
}
