//! `demandlink jobs`: the refresh jobs and their states.

use anyhow::Result;

use crate::cli::args::JobsArgs;
use crate::cli::print;
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: JobsArgs) -> Result<()> {
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    print::jobs(&store.refresh_jobs()?, a.json)
}
