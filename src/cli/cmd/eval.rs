//! `demandlink eval`: the active model (and the baselines) against held-out pairs.

use anyhow::Result;

use crate::cli::args::EvalArgs;
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::eval::{self, AlsOptions, harness::EvalOptions};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: EvalArgs) -> Result<()> {
    anyhow::ensure!(
        !a.k.is_empty() && a.k.iter().all(|&k| k > 0),
        "--k needs positive cut-offs"
    );
    let opts = EvalOptions {
        ks: a.k.clone(),
        baselines: a.baselines || a.ablation || a.report.is_some(),
        ablation: a.ablation,
        als: AlsOptions {
            factors: a.als_factors,
            alpha: a.als_alpha,
            iterations: a.als_iterations,
            ..AlsOptions::default()
        },
        copurchase_weight: a.copurchase_weight,
    };
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    let cancel = cancel_on_ctrl_c();
    let r = eval::harness::run(&store, &a.heldout, &opts, &Bars::default(), &cancel)?;
    if let Some(path) = &a.report {
        print::eval_report(path, &a.db, &a.heldout, &r, &a.k)?;
    }
    match a.json {
        true => print::eval_json(&r, a.ablation),
        false => {
            print::eval_text(&r, &a.k, opts.baselines, a.ablation);
            Ok(())
        }
    }
}
