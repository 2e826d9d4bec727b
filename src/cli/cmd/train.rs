//! `demandlink train`: the graph model.

use std::time::Duration;

use anyhow::Result;

use crate::cli::args::{ModelArgs, TrainArgs};
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::model::{self, GraphOptions, ModelConfig, ScoreOptions, TrainOptions};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: TrainArgs) -> Result<()> {
    let cfg = config(&a.model, a.views_window)?;
    let opts = TrainOptions {
        full: a.full,
        every: Duration::from_secs(a.checkpoint_secs),
        every_batches: a.checkpoint_batches,
        replay_share: a.model.replay_share,
        patience: a.model.patience,
    };
    let store = Store::open(&a.db, OpenMode::ReadWrite)?;
    let cancel = cancel_on_ctrl_c();
    let t = model::train(&store, &cfg, &opts, &Bars::default(), &cancel)?;
    match a.json {
        true => print::json_line(&t),
        false => {
            print::trained(&t);
            Ok(())
        }
    }
}

/// The configuration the model arguments describe, ranking a seller's most-viewed listings
/// by the views of the last `views_window` periods (`train`, and the train stage of
/// `refresh` and `watch`).
pub(crate) fn config(m: &ModelArgs, views_window: u32) -> Result<ModelConfig> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&m.replay_share),
        "--replay-share must be between 0 and 1"
    );
    Ok(ModelConfig {
        layers: m.layers,
        dim: m.dim,
        epochs: m.epochs,
        fine_tune_epochs: m.fine_tune_epochs,
        batch: m.batch,
        negatives: m.negatives,
        negative_power: m.negative_power,
        in_batch_negatives: m.in_batch_negatives.on(),
        fanout: m.fanout,
        fanout_deep: m.fanout_deep,
        sampling: m.sampling,
        init: m.init,
        graph: GraphOptions {
            copurchase_threshold: m.copurchase_threshold,
            copurchase_cap: m.copurchase_cap,
            copurchase: m.relations.copurchase(),
            auxiliary: m.aux.on(),
            views_window,
        },
        cold_share: m.cold_share,
        lr: m.lr,
        lr_embedding: m.lr_embedding,
        seller_identity: m.seller_identity.on(),
        validation_share: m.validation_share,
        score: ScoreOptions {
            strength: m.link_strength.strength(),
            link_cap: m.link_cap.0,
            select: m.score_select.on(),
        },
        seed: m.seed,
        ..ModelConfig::default()
    })
}
