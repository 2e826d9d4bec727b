//! `demandlink checkpoints`: the checkpoints a database keeps.

use anyhow::Result;

use crate::checkpoint;
use crate::cli::args::CheckpointsArgs;
use crate::cli::print;

pub(crate) fn exec(a: CheckpointsArgs) -> Result<()> {
    anyhow::ensure!(
        a.db.is_dir(),
        "{}: no DemandLink database here",
        a.db.display()
    );
    print::checkpoints(&checkpoint::list(&a.db)?, a.json)
}
