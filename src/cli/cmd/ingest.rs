//! `demandlink ingest`: apply drop folders, each exactly once.

use anyhow::{Context, Result};

use crate::cli::args::{DAY_SECS, IngestArgs};
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::ingest::{self, IngestOptions};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: IngestArgs) -> Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.max_bad_fraction),
        "--max-bad-fraction must be between 0 and 1, got {}",
        a.max_bad_fraction
    );
    anyhow::ensure!(a.batch_rows > 0, "--batch-rows must be at least 1");
    anyhow::ensure!(a.sort_run_rows > 0, "--sort-run-rows must be at least 1");
    let opts = IngestOptions {
        max_bad_fraction: a.max_bad_fraction,
        batch_rows: a.batch_rows,
        copurchase_window_secs: i64::from(a.copurchase_window_days) * DAY_SECS,
        sort_run_rows: a.sort_run_rows,
    };
    let store = Store::open(&a.db, OpenMode::ReadWrite)?;
    let cancel = cancel_on_ctrl_c();
    for dir in &a.drops {
        let outcome = ingest::ingest_drop(&store, dir, &opts, &Bars::default(), &cancel)
            .with_context(|| format!("drop {} not applied", dir.display()))?;
        print::ingested(dir, &outcome);
    }
    Ok(())
}
