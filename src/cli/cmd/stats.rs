//! `demandlink stats`: counts of what the database holds.

use anyhow::Result;

use crate::cli::args::StatsArgs;
use crate::cli::print;
use crate::stats;
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: StatsArgs) -> Result<()> {
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    let s = stats::compute(&store, a.copurchase_threshold)?;
    match a.json {
        true => print::json_pretty(&s),
        false => {
            print::stats(&s);
            Ok(())
        }
    }
}
