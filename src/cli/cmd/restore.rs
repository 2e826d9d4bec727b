//! `demandlink restore`: the database back to a checkpoint.

use anyhow::Result;

use crate::checkpoint;
use crate::cli::args::RestoreArgs;
use crate::cli::print;

pub(crate) fn exec(a: RestoreArgs) -> Result<()> {
    let info = checkpoint::restore(&a.db, &a.to)?;
    print::restored(&a.db, &info);
    Ok(())
}
