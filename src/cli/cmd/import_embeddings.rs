//! `demandlink import-embeddings`: GraphStorm's embeddings as the active model.

use anyhow::{Context, Result};

use crate::cli::args::ImportEmbeddingsArgs;
use crate::cli::print;
use crate::cli::progress::{Bars, cancel_on_ctrl_c};
use crate::import::{ImportOptions, import_embeddings};
use crate::store::{OpenMode, Store};

pub(crate) fn exec(a: ImportEmbeddingsArgs) -> Result<()> {
    let opts = ImportOptions {
        dir: a.dir.clone(),
        export: a.export,
        batch_rows: a.batch_rows,
    };
    let store = Store::open(&a.db, OpenMode::ReadWrite)?;
    let cancel = cancel_on_ctrl_c();
    let s = import_embeddings(&store, &opts, &Bars::default(), &cancel)
        .with_context(|| format!("import of {}", a.dir.display()))?;
    match a.json {
        true => print::json_line(&s),
        false => {
            print::imported(&s);
            Ok(())
        }
    }
}
