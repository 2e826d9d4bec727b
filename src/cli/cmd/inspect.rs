//! `demandlink inspect`: one seller's recommendations, explained.

use anyhow::Result;

use crate::cli::args::InspectArgs;
use crate::cli::print;
use crate::inspect;
use crate::recommend::{RecommendError, Recommender};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: InspectArgs) -> Result<()> {
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    let category = a.category.as_deref();
    // Without an index, inspect still shows the stored list, only not the exclusions.
    let rec = match Recommender::open(&store, inspect::live_options(category), false) {
        Ok(rec) => Some(rec),
        Err(RecommendError::NoIndex) => None,
        Err(e) => return Err(e.into()),
    };
    let i = inspect::inspect(&store, &a.seller, category, a.limit, rec.as_ref())?;
    match a.json {
        true => print::json_pretty(&i),
        false => {
            print::inspection(&i);
            Ok(())
        }
    }
}
