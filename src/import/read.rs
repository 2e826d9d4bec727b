//! GraphStorm's saved node embeddings, as its `remap_result` step writes them:
//! `<dir>/<ntype>/embed-*.parquet`, columns `emb` (`list<float>`) and `nid` (the node's id as
//! the export wrote it: a string, or an integer when the ids were integers), rows in no
//! particular order. Read with the `parquet` crate's record reader, row by row.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::ImportError;
use crate::store::Namespace;

/// One embedding file and the node type it holds.
#[derive(Clone, Debug)]
pub(crate) struct EmbeddingFile {
    pub ns: Namespace,
    pub path: PathBuf,
}

/// The node types' folders GraphStorm names after the export's node types.
const NODE_TYPES: [(&str, Namespace); 2] = [
    ("seller", Namespace::Seller),
    ("product", Namespace::Product),
];

/// Every `embed-*.parquet` of the seller and product folders of `dir`, sellers first, each
/// type's files in name order.
pub(crate) fn find(dir: &Path) -> Result<Vec<EmbeddingFile>, ImportError> {
    let mut files = Vec::new();
    for (name, ns) in NODE_TYPES {
        let folder = dir.join(name);
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ImportError::Io {
                    path: folder,
                    source,
                });
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("embed-") && n.ends_with(".parquet"))
            })
            .collect();
        paths.sort();
        files.extend(paths.into_iter().map(|path| EmbeddingFile { ns, path }));
    }
    if files.is_empty() {
        return Err(ImportError::NoFiles {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// Calls `f(row, nid, emb)` for the rows of `file` from row `from` on (rows count from 0; a
/// message names row `row + 1`), stopping at the first error `f` returns.
pub(crate) fn for_each_row(
    file: &EmbeddingFile,
    from: u64,
    mut f: impl FnMut(u64, String, Vec<f32>) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let bad = |row: Option<u64>, reason: String| ImportError::Bad {
        path: file.path.clone(),
        row: row.map(|r| r + 1),
        reason,
    };
    let opened = File::open(&file.path).map_err(|source| ImportError::Io {
        path: file.path.clone(),
        source,
    })?;
    let reader = SerializedFileReader::new(opened)
        .map_err(|e| bad(None, format!("not a whole Parquet file ({e})")))?;
    let schema = reader.metadata().file_metadata().schema_descr();
    for column in ["emb", "nid"] {
        if !schema
            .root_schema()
            .get_fields()
            .iter()
            .any(|c| c.name() == column)
        {
            return Err(bad(
                None,
                format!("no `{column}` column (expected `emb` and `nid`)"),
            ));
        }
    }
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| bad(None, format!("unreadable ({e})")))?;
    for (row, record) in (0u64..).zip(rows) {
        let record = record.map_err(|e| bad(Some(row), format!("unreadable ({e})")))?;
        if row < from {
            continue;
        }
        let (mut nid, mut emb) = (None, None);
        for (name, field) in record.get_column_iter() {
            match (name.as_str(), field) {
                ("nid", Field::Str(s)) => nid = Some(s.clone()),
                ("nid", Field::Long(i)) => nid = Some(i.to_string()),
                ("nid", other) => {
                    return Err(bad(Some(row), format!("`nid` is {other}, not a string id")));
                }
                ("emb", Field::ListInternal(list)) => {
                    let values = list
                        .elements()
                        .iter()
                        .map(|x| match x {
                            Field::Float(v) => Ok(*v),
                            Field::Double(v) => Ok(*v as f32),
                            other => {
                                Err(bad(Some(row), format!("`emb` holds {other}, not a number")))
                            }
                        })
                        .collect::<Result<Vec<f32>, _>>()?;
                    emb = Some(values);
                }
                ("emb", other) => {
                    return Err(bad(
                        Some(row),
                        format!("`emb` is {other}, not a list of floats"),
                    ));
                }
                _ => {}
            }
        }
        match (nid, emb) {
            (Some(nid), Some(emb)) => f(row, nid, emb)?,
            _ => return Err(bad(Some(row), "`nid` or `emb` is missing".into())),
        }
    }
    Ok(())
}
