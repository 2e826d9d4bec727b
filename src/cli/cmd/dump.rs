//! `demandlink dump`: every record of the database as text.

use anyhow::Result;

use crate::cli::args::DumpArgs;
use crate::cli::print;
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: DumpArgs) -> Result<()> {
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    print::dump(&store)
}
