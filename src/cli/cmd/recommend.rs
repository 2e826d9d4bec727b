//! `demandlink recommend`: every seller's lists (stored), or one seller's (printed).

use anyhow::Result;

use crate::cli::args::RecommendArgs;
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::recommend::{self, CategoryChoice, RecommendError, RecommendOptions, Recommender};
use crate::store::{Namespace, OpenMode, Store};

pub(crate) fn exec(a: RecommendArgs) -> Result<()> {
    anyhow::ensure!(a.k > 0, "--k must be at least 1");
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.threshold),
        "--threshold must be between 0 and 1"
    );
    let opts = RecommendOptions {
        k: a.k,
        threshold: a.threshold,
        category: match (a.category, a.all_categories) {
            (Some(c), _) => CategoryChoice::Named(c),
            (None, true) => CategoryChoice::All,
            (None, false) => CategoryChoice::Primary,
        },
        search: a.search.into(),
        ..RecommendOptions::default()
    };
    let mode = match a.seller {
        Some(_) => OpenMode::ReadOnly,
        None => OpenMode::ReadWrite,
    };
    let store = Store::open(&a.db, mode)?;
    let Some(external) = a.seller else {
        let cancel = cancel_on_ctrl_c();
        let rec = Recommender::open(&store, opts, true)?;
        let s = recommend::recommend_all(&rec, &Bars::default(), &cancel)?;
        print::recommended(&s);
        return Ok(());
    };
    let rec = Recommender::open(&store, opts, false)?;
    let id = store
        .lookup(Namespace::Seller, &external)?
        .ok_or(RecommendError::UnknownSeller(external.clone()))?;
    print::seller_lists(&store, &external, &rec.model().name(), &rec.lists(id)?)
}
