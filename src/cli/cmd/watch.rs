//! `demandlink watch`: refresh with each ready drop folder of an inbox.

use std::time::Duration;

use anyhow::Result;

use crate::cli::args::WatchArgs;
use crate::cli::cmd::refresh;
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::watch::{self, WatchOptions};

pub(crate) fn exec(a: WatchArgs) -> Result<()> {
    let opts = refresh::options(&a.chain)?;
    let wopts = WatchOptions {
        once: a.once,
        rescan: Duration::from_secs(a.rescan_secs.max(1)),
    };
    let cancel = cancel_on_ctrl_c();
    let s = watch::watch(
        &a.db,
        &a.inbox,
        &opts,
        &wopts,
        &Bars::default(),
        &cancel,
        &mut print::refresh_event,
    )?;
    print::watched(&s);
    // A scripted `--once` learns of failures from the exit code.
    anyhow::ensure!(
        !(a.once && s.failed > 0),
        "{} drop(s) failed (their errors are in the log above)",
        s.failed
    );
    Ok(())
}
