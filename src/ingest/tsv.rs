//! Line reader for drop files: plain or gzip, with line numbers and byte offsets so an ingest
//! can report `file:line` and resume at a cursor.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// Reads a `.tsv` or `.tsv.gz` file line by line.
pub(crate) struct TsvReader {
    inner: Box<dyn BufRead>,
    buf: Vec<u8>,
    /// Lines consumed so far (1-based number of the last line returned).
    pub line: u64,
    /// Uncompressed bytes consumed so far.
    pub offset: u64,
}

/// What [`TsvReader::next_line`] returns for one line.
pub(crate) enum Line<'a> {
    /// A line of valid UTF-8 without its line ending.
    Text(&'a str),
    /// A line that is not UTF-8: the byte offset of the first bad byte within the line.
    NotUtf8(usize),
}

impl TsvReader {
    /// Opens `path`, decompressing when the name ends in `.gz`, and starts after `offset`
    /// uncompressed bytes (`line` lines).
    pub(crate) fn open(path: &Path, line: u64, offset: u64) -> io::Result<TsvReader> {
        let mut file = File::open(path)?;
        let gz = path.extension().is_some_and(|e| e == "gz");
        let mut inner: Box<dyn BufRead> = if gz {
            Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(file)))
        } else {
            file.seek(SeekFrom::Start(offset))?;
            Box::new(BufReader::with_capacity(1 << 20, file))
        };
        if gz && offset > 0 {
            // A gzip stream cannot seek: decompress and discard up to the cursor.
            let skipped = io::copy(&mut (&mut inner).take(offset), &mut io::sink())?;
            if skipped != offset {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file is shorter than the saved cursor (was it changed?)",
                ));
            }
        }
        Ok(TsvReader {
            inner,
            buf: Vec::with_capacity(256),
            line,
            offset,
        })
    }

    /// The next line, or `None` at the end of the file.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        Ok(self.advance()?.then(|| self.current()))
    }

    /// Reads past the lines that are blank (white space only) to the next other line, which
    /// [`current`](Self::current) then returns; `false` at the end of the file. A line that is
    /// not UTF-8 is not blank.
    pub(crate) fn advance_past_blank(&mut self) -> io::Result<bool> {
        while self.advance()? {
            if !matches!(self.current(), Line::Text(text) if text.trim().is_empty()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The line last read, without its line ending.
    pub(crate) fn current(&self) -> Line<'_> {
        let mut end = self.buf.len();
        if self.buf[..end].ends_with(b"\n") {
            end -= 1;
        }
        if self.buf[..end].ends_with(b"\r") {
            end -= 1;
        }
        match std::str::from_utf8(&self.buf[..end]) {
            Ok(text) => Line::Text(text),
            Err(e) => Line::NotUtf8(e.valid_up_to()),
        }
    }

    /// Reads the next line into the buffer; `false` at the end of the file.
    fn advance(&mut self) -> io::Result<bool> {
        self.buf.clear();
        let n = self.inner.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        self.offset += n as u64;
        Ok(true)
    }

    /// The raw bytes of the line last returned, line ending included (for fingerprints).
    pub(crate) fn raw(&self) -> &[u8] {
        &self.buf
    }
}
