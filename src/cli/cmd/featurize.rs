//! `demandlink featurize`: product vectors, then seller vectors, profiles and calibration.

use anyhow::Result;

use crate::cli::args::FeaturizeArgs;
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::features::{self, FeaturizeOptions, SellerOptions};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: FeaturizeArgs) -> Result<()> {
    let opts = FeaturizeOptions {
        dim: a.dim,
        seed: a.seed,
        category_depth: a.category_depth,
        idf_drift: a.idf_drift,
        ..FeaturizeOptions::default()
    };
    let sellers = SellerOptions {
        window: a.views_window,
        ..SellerOptions::default()
    };
    let store = Store::open(&a.db, OpenMode::ReadWrite)?;
    let cancel = cancel_on_ctrl_c();
    let f = features::featurize(&store, &opts, &Bars::default(), &cancel)?;
    print::featurized(&f);
    let s = features::seller_vectors(&store, &sellers, &Bars::default(), &cancel)?;
    print::sellers(&s);
    Ok(())
}
