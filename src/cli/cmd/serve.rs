//! `demandlink serve`: the seller portal.

use anyhow::Result;

use crate::cli::args::ServeArgs;
use crate::cli::print;
use crate::serve;

pub(crate) fn exec(a: ServeArgs) -> Result<()> {
    serve::run(&a.db, a.addr, |bound| print::serving(&a.db, bound))?;
    Ok(())
}
