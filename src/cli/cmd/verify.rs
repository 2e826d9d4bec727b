//! `demandlink verify`: checksums, index hashes and invariants of a whole database.

use anyhow::{Result, bail};

use crate::cli::args::VerifyArgs;
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::store::{OpenMode, Store};
use crate::verify;

pub(crate) fn exec(a: VerifyArgs) -> Result<()> {
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    let cancel = cancel_on_ctrl_c();
    let report = verify::verify(&store, &Bars::default(), &cancel)?;
    print::verified(&report, a.json)?;
    if !report.whole() {
        let problems: usize = report.parts.iter().map(|p| p.problems.len()).sum();
        bail!(
            "{}: {problems} problem(s) found (listed above); nothing was changed",
            a.db.display()
        );
    }
    Ok(())
}
