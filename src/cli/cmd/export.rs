//! `demandlink export`: the active graph for GraphStorm.

use anyhow::{Context, Result};

use crate::cli::args::{ExportArgs, ExportFormat};
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::export::{ExportOptions, export};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: ExportArgs) -> Result<()> {
    match a.format {
        ExportFormat::Graphstorm => {}
    }
    let opts = ExportOptions {
        out: a.out.clone(),
        parts: a.parts,
    };
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    let cancel = cancel_on_ctrl_c();
    let s = export(&store, &opts, &Bars::default(), &cancel)
        .with_context(|| format!("export to {}", a.out.display()))?;
    match a.json {
        true => print::json_pretty(&s.manifest),
        false => {
            print::exported(&s);
            Ok(())
        }
    }
}
