//! `demandlink index`: build a new index generation; `index check`: measure the active one.

use anyhow::{Context, Result};

use crate::cli::args::{IndexArgs, IndexCheckArgs, IndexCommand};
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::features;
use crate::index::{self, BuildOptions};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: IndexArgs) -> Result<()> {
    if let Some(IndexCommand::Check(check)) = a.check {
        return exec_check(check);
    }
    let db = a.db.context("--db is required")?;
    let opts = BuildOptions {
        n_trees: a.n_trees,
        seed: a.seed,
        ..BuildOptions::default()
    };
    let store = Store::open(&db, OpenMode::ReadWrite)?;
    let cancel = cancel_on_ctrl_c();
    let depth = features::category_depth(&store)?;
    let s = index::stage::build_index(&store, &opts, depth, &Bars::default(), &cancel)?;
    print::indexed(&s);
    Ok(())
}

fn exec_check(a: IndexCheckArgs) -> Result<()> {
    let store = Store::open(&a.db, OpenMode::ReadOnly)?;
    let c = index::stage::check(&store, a.sample, a.k)?;
    print::index_check(&c, a.k, a.json);
    Ok(())
}
