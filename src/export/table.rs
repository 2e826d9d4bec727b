//! One Parquet file of an export table, written row by row: rows collect in column buffers and
//! go out a row group at a time, so a part of any size needs the memory of one row group. The
//! file is written under a temporary name and renamed when closed, so a part file that exists
//! is whole (a killed export leaves at most a `.tmp` file, which the rerun overwrites).
//!
//! Only the low-level column writers of the `parquet` crate are used (no Arrow): four column
//! kinds are all an export needs.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, FloatType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::ExportError;

/// Rows per row group: a few MB of buffers for 64-dimensional vectors.
const ROW_GROUP: usize = 8_192;

/// A column of an export table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    /// UTF-8 string (ids, categories).
    Str(&'static str),
    /// A vector: `list<float>`, one value per dimension.
    Floats(&'static str),
    /// A flag.
    Bool(&'static str),
    /// A count.
    I64(&'static str),
}

impl Column {
    /// Its Parquet schema line, as `schema/export.md` spells the type.
    fn schema(self) -> String {
        match self {
            Column::Str(n) => format!("required binary {n} (UTF8);"),
            Column::Floats(n) => {
                format!(
                    "required group {n} (LIST) {{ repeated group list {{ required float element; }} }}"
                )
            }
            Column::Bool(n) => format!("required boolean {n};"),
            Column::I64(n) => format!("required int64 {n};"),
        }
    }
}

/// A value of one row, in column order.
pub(crate) enum Value<'a> {
    /// For [`Column::Str`].
    Str(&'a str),
    /// For [`Column::Floats`].
    Floats(&'a [f32]),
    /// For [`Column::Bool`].
    Bool(bool),
    /// For [`Column::I64`].
    I64(i64),
}

/// A column's values of the row group being collected.
enum Buffer {
    Str(Vec<ByteArray>),
    /// The list's values with their definition and repetition levels.
    Floats(Vec<f32>, Vec<i16>, Vec<i16>),
    Bool(Vec<bool>),
    I64(Vec<i64>),
}

/// A part file being written.
pub(crate) struct TableWriter {
    writer: SerializedFileWriter<BufWriter<File>>,
    buffers: Vec<Buffer>,
    rows: usize,
    written: u64,
    tmp: PathBuf,
    path: PathBuf,
}

impl TableWriter {
    /// Starts `path` (as `path.tmp` until [`TableWriter::close`]) with `columns`.
    pub(crate) fn create(path: &Path, columns: &[Column]) -> Result<TableWriter, ExportError> {
        let io = |source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let parquet = |source| ExportError::Parquet {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let fields: Vec<String> = columns.iter().map(|c| c.schema()).collect();
        let schema = parse_message_type(&format!("message schema {{ {} }}", fields.join(" ")))
            .map_err(parquet)?;
        // Fixed properties and no timestamps: the same rows give the same bytes.
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("demandlink export".into())
            .build();
        let tmp = path.with_extension("parquet.tmp");
        let file = File::create(&tmp).map_err(io)?;
        let writer =
            SerializedFileWriter::new(BufWriter::new(file), Arc::new(schema), props.into())
                .map_err(parquet)?;
        let buffers = columns
            .iter()
            .map(|c| match c {
                Column::Str(_) => Buffer::Str(Vec::new()),
                Column::Floats(_) => Buffer::Floats(Vec::new(), Vec::new(), Vec::new()),
                Column::Bool(_) => Buffer::Bool(Vec::new()),
                Column::I64(_) => Buffer::I64(Vec::new()),
            })
            .collect();
        Ok(TableWriter {
            writer,
            buffers,
            rows: 0,
            written: 0,
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Appends one row (its values in column order).
    pub(crate) fn push(&mut self, row: &[Value]) -> Result<(), ExportError> {
        debug_assert_eq!(row.len(), self.buffers.len());
        for (buffer, value) in self.buffers.iter_mut().zip(row) {
            match (buffer, value) {
                (Buffer::Str(b), Value::Str(s)) => b.push(ByteArray::from(s.as_bytes().to_vec())),
                (Buffer::Floats(values, def, rep), Value::Floats(v)) => {
                    values.extend_from_slice(v);
                    // An element is defined at level 1 (inside the repeated group); the first
                    // element of a row starts a new list (repetition 0). An empty list is one
                    // undefined slot.
                    if v.is_empty() {
                        def.push(0);
                        rep.push(0);
                    } else {
                        def.extend(std::iter::repeat_n(1, v.len()));
                        rep.push(0);
                        rep.extend(std::iter::repeat_n(1, v.len() - 1));
                    }
                }
                (Buffer::Bool(b), Value::Bool(x)) => b.push(*x),
                (Buffer::I64(b), Value::I64(x)) => b.push(*x),
                _ => unreachable!("a value of the column's kind"),
            }
        }
        self.rows += 1;
        if self.rows == ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the collected rows as one row group.
    fn flush(&mut self) -> Result<(), ExportError> {
        if self.rows == 0 {
            return Ok(());
        }
        let path = self.path.clone();
        let parquet = |source| ExportError::Parquet {
            path: path.clone(),
            source,
        };
        let mut group = self.writer.next_row_group().map_err(parquet)?;
        for buffer in &mut self.buffers {
            let mut column = group
                .next_column()
                .map_err(parquet)?
                .expect("one column per buffer");
            match buffer {
                Buffer::Str(b) => column.typed::<ByteArrayType>().write_batch(b, None, None),
                Buffer::Floats(values, def, rep) => {
                    column
                        .typed::<FloatType>()
                        .write_batch(values, Some(def), Some(rep))
                }
                Buffer::Bool(b) => column.typed::<BoolType>().write_batch(b, None, None),
                Buffer::I64(b) => column.typed::<Int64Type>().write_batch(b, None, None),
            }
            .map_err(parquet)?;
            column.close().map_err(parquet)?;
            match buffer {
                Buffer::Str(b) => b.clear(),
                Buffer::Floats(values, def, rep) => {
                    values.clear();
                    def.clear();
                    rep.clear();
                }
                Buffer::Bool(b) => b.clear(),
                Buffer::I64(b) => b.clear(),
            }
        }
        group.close().map_err(parquet)?;
        self.written += self.rows as u64;
        self.rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer, then gives the file its final name; returns
    /// the rows written.
    pub(crate) fn close(mut self) -> Result<u64, ExportError> {
        self.flush()?;
        let path = self.path.clone();
        let io = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        // The footer, then the buffered bytes on disk before the rename makes the part whole.
        let file = self
            .writer
            .into_inner()
            .map_err(|source| ExportError::Parquet {
                path: path.clone(),
                source,
            })?
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        fs::rename(&self.tmp, &path).map_err(io)?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::*;

    #[test]
    fn rows_read_back_across_row_groups_and_the_file_appears_only_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t/part-00000.parquet");
        let columns = [
            Column::Str("id"),
            Column::Floats("feat"),
            Column::Bool("flag"),
            Column::I64("count"),
        ];
        let mut w = TableWriter::create(&path, &columns).unwrap();
        let rows = ROW_GROUP + 3;
        for i in 0..rows {
            // Every seventh vector is empty: an empty list is one undefined slot.
            let feat: Vec<f32> = (0..i % 7).map(|k| (i * 10 + k) as f32).collect();
            let id = format!("n{i}");
            let row = [
                Value::Str(&id),
                Value::Floats(&feat),
                Value::Bool(i % 2 == 0),
                Value::I64(i as i64 * 3),
            ];
            w.push(&row).unwrap();
        }
        assert!(!path.exists(), "a part is not visible before it is whole");
        assert_eq!(w.close().unwrap(), rows as u64);

        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        for (i, row) in reader.get_row_iter(None).unwrap().enumerate() {
            let fields: Vec<Field> = row
                .unwrap()
                .get_column_iter()
                .map(|(_, f)| f.clone())
                .collect();
            assert_eq!(fields[0], Field::Str(format!("n{i}")));
            let Field::ListInternal(list) = &fields[1] else {
                panic!("feat is a list: {:?}", fields[1]);
            };
            let feat: Vec<Field> = (0..i % 7)
                .map(|k| Field::Float((i * 10 + k) as f32))
                .collect();
            assert_eq!(list.elements(), &feat[..], "row {i}");
            assert_eq!(fields[2], Field::Bool(i % 2 == 0));
            assert_eq!(fields[3], Field::Long(i as i64 * 3));
        }
    }
}
