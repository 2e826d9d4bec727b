//! The dataset folder a split reads: locating its drop files (plain or gzip), reading them line
//! by line with line numbers (through ingest's [`TsvReader`], so a split reads a file exactly
//! as ingest does), the distinct listing pairs, and writing plain TSV files.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::error::SplitError;
use crate::ingest::{FileKind, Header, Line, Row, TsvReader};

/// Finds `stem.tsv` or `stem.tsv.gz` in `dir`; both at once is ambiguous, as in ingest.
pub(crate) fn find(dir: &Path, stem: &str) -> Result<Option<PathBuf>, SplitError> {
    let plain = dir.join(format!("{stem}.tsv"));
    let gz = dir.join(format!("{stem}.tsv.gz"));
    match (plain.is_file(), gz.is_file()) {
        (true, true) => Err(SplitError::Ambiguous { plain, gz }),
        (true, false) => Ok(Some(plain)),
        (false, true) => Ok(Some(gz)),
        (false, false) => Ok(None),
    }
}

/// Reads a `.tsv` or `.tsv.gz` file line by line, skipping blank lines as ingest does; errors
/// name the file and line.
pub(crate) struct Lines {
    reader: TsvReader,
    path: PathBuf,
}

impl Lines {
    /// Opens `path`, decompressing when its name ends in `.gz`.
    pub(crate) fn open(path: &Path) -> Result<Lines, SplitError> {
        let reader = TsvReader::open(path, 0, 0).map_err(|source| SplitError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Lines {
            reader,
            path: path.to_owned(),
        })
    }

    /// The next non-blank line (without its line ending) and its 1-based number.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &str)>, SplitError> {
        let found = self
            .reader
            .advance_past_blank()
            .map_err(|source| SplitError::Read {
                path: self.path.clone(),
                line: self.reader.line + 1,
                source,
            })?;
        if !found {
            return Ok(None);
        }
        let line = self.reader.line;
        match self.reader.current() {
            Line::Text(text) => Ok(Some((line, text))),
            Line::NotUtf8(at) => Err(SplitError::Bad {
                path: self.path.clone(),
                line,
                reason: format!("invalid UTF-8 at byte {at} of the line"),
            }),
        }
    }

    /// Reads and checks the header line of a drop file of `kind`.
    pub(crate) fn header(&mut self, kind: FileKind) -> Result<(Header, String), SplitError> {
        let path = self.path.clone();
        match self.next_line()? {
            None => Err(SplitError::Bad {
                path,
                line: 1,
                reason: format!("empty file: expected a header line for {}.tsv", kind.stem()),
            }),
            Some((line, text)) => {
                let text = text.to_owned();
                Header::parse(kind, &text)
                    .map(|h| (h, text))
                    .map_err(|reason| SplitError::Bad { path, line, reason })
            }
        }
    }
}

/// One distinct (seller, product) listing pair.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair {
    /// Index into [`Listings::sellers`].
    pub seller: u32,
    /// Index into [`Listings::products`].
    pub product: u32,
    /// Earliest `ts` over the pair's rows: a pair is listed from its first listing on.
    pub ts: Option<i64>,
}

/// The distinct listing pairs of `listings.tsv`, in order of first appearance, so that output
/// order follows input order.
pub(crate) struct Listings {
    /// The file read.
    pub path: PathBuf,
    /// External seller ids by index.
    pub sellers: Vec<String>,
    /// External product ids by index.
    pub products: Vec<String>,
    /// Product index by external id.
    pub product_index: HashMap<String, u32>,
    /// Distinct pairs.
    pub pairs: Vec<Pair>,
    /// Data rows read (duplicates included).
    pub rows: u64,
    /// Whether the header has a `ts` column.
    pub ts_column: bool,
    /// The first data line without a `ts` value.
    pub missing_ts: Option<u64>,
}

impl Listings {
    /// The listings file of the dataset folder `dataset` and its pairs; a missing folder or
    /// file, or a file without rows, is an error.
    pub(crate) fn of_dataset(dataset: &Path) -> Result<(PathBuf, Listings), SplitError> {
        if !dataset.is_dir() {
            return Err(SplitError::NoDataset(dataset.to_owned()));
        }
        let path = find(dataset, "listings")?
            .ok_or_else(|| SplitError::NoListings(dataset.join("listings.tsv")))?;
        let listings = Listings::read(&path)?;
        if listings.pairs.is_empty() {
            return Err(SplitError::NoRows(path));
        }
        Ok((path, listings))
    }

    /// Reads `path`; any bad row is an error, because a split of a dataset with bad rows would
    /// silently evaluate something else than the dataset.
    fn read(path: &Path) -> Result<Listings, SplitError> {
        let mut lines = Lines::open(path)?;
        let (header, header_line) = lines.header(FileKind::Listings)?;
        let mut l = Listings {
            path: path.to_owned(),
            sellers: Vec::new(),
            products: Vec::new(),
            product_index: HashMap::new(),
            pairs: Vec::new(),
            rows: 0,
            ts_column: header_line.split('\t').any(|c| c.trim() == "ts"),
            missing_ts: None,
        };
        let mut seller_index: HashMap<String, u32> = HashMap::new();
        let mut pair_index: HashMap<(u32, u32), usize> = HashMap::new();
        while let Some((line, text)) = lines.next_line()? {
            let (seller, product, ts) = match header.row(text) {
                Ok(Row::Listing {
                    seller,
                    product,
                    ts,
                }) => (seller, product, ts),
                Ok(_) => unreachable!("a listings header parses listing rows"),
                Err(reason) => {
                    return Err(SplitError::Bad {
                        path: path.to_owned(),
                        line,
                        reason,
                    });
                }
            };
            l.rows += 1;
            if ts.is_none() && l.missing_ts.is_none() {
                l.missing_ts = Some(line);
            }
            let s = intern(&mut seller_index, &mut l.sellers, seller);
            let p = intern(&mut l.product_index, &mut l.products, product);
            let next = l.pairs.len();
            let at = *pair_index.entry((s, p)).or_insert(next);
            if at == next {
                l.pairs.push(Pair {
                    seller: s,
                    product: p,
                    ts,
                });
            } else if let Some(t) = ts {
                let first = &mut l.pairs[at].ts;
                *first = Some(first.map_or(t, |f| f.min(t)));
            }
        }
        Ok(l)
    }
}

fn intern(index: &mut HashMap<String, u32>, names: &mut Vec<String>, name: &str) -> u32 {
    if let Some(&i) = index.get(name) {
        return i;
    }
    let i = names.len() as u32;
    names.push(name.to_owned());
    index.insert(name.to_owned(), i);
    i
}

/// A plain TSV file being written; errors name it.
pub(crate) struct TsvWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl TsvWriter {
    /// Creates (or truncates) `path`.
    pub(crate) fn create(path: &Path) -> Result<TsvWriter, SplitError> {
        let file = File::create(path).map_err(|source| SplitError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(TsvWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_owned(),
        })
    }

    /// Writes one line; `args` must not contain the line ending.
    pub(crate) fn line(&mut self, args: fmt::Arguments) -> Result<(), SplitError> {
        self.out
            .write_fmt(args)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|source| self.error(source))
    }

    /// Flushes and closes the file.
    pub(crate) fn finish(mut self) -> Result<(), SplitError> {
        self.out.flush().map_err(|source| self.error(source))
    }

    fn error(&self, source: io::Error) -> SplitError {
        SplitError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// Copies a drop file as plain TSV (decompressed, `\n` line endings, blank lines dropped), its
/// header checked for `kind`; `each` sees every data line.
pub(crate) fn copy(
    src: &Path,
    dst: &Path,
    kind: FileKind,
    mut each: impl FnMut(&Header, u64, &str) -> Result<(), SplitError>,
) -> Result<(), SplitError> {
    let mut lines = Lines::open(src)?;
    let (header, header_line) = lines.header(kind)?;
    let mut out = TsvWriter::create(dst)?;
    out.line(format_args!("{header_line}"))?;
    while let Some((line, text)) = lines.next_line()? {
        each(&header, line, text)?;
        out.line(format_args!("{text}"))?;
    }
    out.finish()
}
