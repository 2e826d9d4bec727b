//! `demandlink refresh`: apply new drops and bring every stage up to date.

use anyhow::Result;

use crate::cli::args::{ChainArgs, RefreshArgs, Served};
use crate::cli::cmd::train;
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::model::TrainOptions;
use crate::refresh::{self, RefreshOptions};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: RefreshArgs) -> Result<()> {
    let opts = options(&a.chain)?;
    let store = Store::open(&a.db, OpenMode::ReadWrite)?;
    let cancel = cancel_on_ctrl_c();
    let r = refresh::refresh(
        &store,
        &a.drops,
        &opts,
        &Bars::default(),
        &cancel,
        &mut print::refresh_event,
    )?;
    print::refreshed(&r);
    Ok(())
}

/// The options of every stage of the chain (`refresh` and `watch`).
pub(crate) fn options(a: &ChainArgs) -> Result<RefreshOptions> {
    anyhow::ensure!(a.k > 0, "--k must be at least 1");
    anyhow::ensure!(a.batch_rows != Some(0), "--batch-rows must be at least 1");
    let mut o = RefreshOptions {
        allow_out_of_order: a.allow_out_of_order,
        keep_checkpoints: a.keep_checkpoints,
        training: TrainOptions {
            full: a.full,
            replay_share: a.train.replay_share,
            patience: a.train.patience,
            ..TrainOptions::default()
        },
        train: match a.model {
            Served::Graph => Some(train::config(&a.train, a.views_window)?),
            Served::Content => None,
        },
        ..RefreshOptions::default()
    };
    o.sellers.window = a.views_window;
    o.recommend.k = a.k;
    if let Some(n) = a.batch_rows {
        o.ingest.batch_rows = n;
        o.featurize.batch = n;
        o.sellers.batch = n;
        o.recommend.batch = n;
    }
    Ok(o)
}
