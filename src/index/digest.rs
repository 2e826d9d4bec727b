//! Hashes of a generation's files. LMDB keeps no checksums, and arroy trusts every byte it
//! maps (a damaged page can crash the process or silently change answers), so a build records
//! each file's size and the xxh3-128 hash of every chunk ([`IndexFiles`]), and a reader checks
//! them before it opens the environment: quickly before every use ([`Depth::Quick`]), in full
//! for `verify` ([`Depth::Full`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rand::seq::index::sample;
use xxhash_rust::xxh3::xxh3_128;

use crate::progress::Progress;
use crate::store::{FileDigest, IndexFiles};

/// Bytes per hashed chunk: small enough that a quick check samples many places of a large
/// file, large enough that a full hash is a few thousand reads.
pub(crate) const CHUNK_SIZE: u64 = 1 << 20;

/// Bytes a quick check reads: a file up to this size is hashed whole (a few milliseconds from
/// the page cache), a larger one in its first and last chunk (LMDB's meta pages and the end of
/// the file) plus chunks drawn at random on each check, up to this total.
const QUICK_BYTES: u64 = 32 << 20;

/// The files of a generation's folder that hold its state (`lock.mdb` is LMDB's reader
/// table, rewritten by every reader).
pub(crate) const STATE_FILES: [&str; 1] = ["data.mdb"];

/// How much of the files a check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Sizes, the first and last chunk and a random sample (every chunk of a small file).
    Quick,
    /// Every chunk.
    Full,
}

/// Hashes the state files of the generation folder `dir`.
pub(crate) fn digest(dir: &Path, generation: u32) -> io::Result<IndexFiles> {
    let files = STATE_FILES
        .iter()
        .map(|name| {
            let file = File::open(dir.join(name))?;
            let size = file.metadata()?.len();
            let chunks = (0..size.div_ceil(CHUNK_SIZE))
                .map(|c| chunk_hash(&file, c, CHUNK_SIZE, size))
                .collect::<io::Result<_>>()?;
            Ok(FileDigest {
                name: name.to_string(),
                size,
                chunks,
            })
        })
        .collect::<io::Result<_>>()?;
    Ok(IndexFiles {
        generation,
        chunk_size: CHUNK_SIZE,
        files,
    })
}

/// Compares the files in `dir` with the build's record; `Ok(Err(reason))` names the first
/// difference (file, bytes and what differs), `Err` is a failure to read them.
pub(crate) fn check(
    dir: &Path,
    record: &IndexFiles,
    depth: Depth,
    progress: &dyn Progress,
) -> io::Result<Result<(), String>> {
    for expected in &record.files {
        let path = dir.join(&expected.name);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Err(format!("{} is missing", path.display())));
            }
            Err(e) => return Err(e),
        };
        let size = file.metadata()?.len();
        if size != expected.size {
            return Ok(Err(format!(
                "{} is {size} bytes, {} when built",
                path.display(),
                expected.size
            )));
        }
        let chunks = chosen(expected.chunks.len() as u64, record.chunk_size, depth);
        if depth == Depth::Full {
            progress.start_bytes(&format!("verify: index {}", expected.name), size);
        }
        for (n, c) in chunks.into_iter().enumerate() {
            if chunk_hash(&file, c, record.chunk_size, size)? != expected.chunks[c as usize] {
                let start = c * record.chunk_size;
                let end = (start + record.chunk_size).min(size);
                return Ok(Err(format!(
                    "{} bytes {start}..{end} differ from the build's hash",
                    path.display()
                )));
            }
            if depth == Depth::Full && n % 64 == 0 {
                progress.set(c * record.chunk_size);
            }
        }
        if depth == Depth::Full {
            progress.finish();
        }
    }
    Ok(Ok(()))
}

/// The chunks a check of `depth` reads out of `count`, ascending.
fn chosen(count: u64, chunk_size: u64, depth: Depth) -> Vec<u64> {
    let budget = (QUICK_BYTES / chunk_size.max(1)).max(2);
    if depth == Depth::Full || count <= budget {
        return (0..count).collect();
    }
    // A fresh sample each time: a damage the last check missed is likely found by the next.
    let inner = sample(&mut rand::rng(), count as usize - 2, budget as usize - 2);
    let mut out: Vec<u64> = [0, count - 1]
        .into_iter()
        .chain(inner.into_iter().map(|i| i as u64 + 1))
        .collect();
    out.sort_unstable();
    out
}

fn chunk_hash(file: &File, chunk: u64, chunk_size: u64, size: u64) -> io::Result<[u8; 16]> {
    let start = chunk * chunk_size;
    let mut buf = vec![0; (size.min(start + chunk_size) - start) as usize];
    file.read_exact_at(&mut buf, start)?;
    Ok(xxh3_128(&buf).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    fn folder(bytes: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.mdb"), bytes).unwrap();
        dir
    }

    #[test]
    fn a_changed_byte_or_size_is_found_and_named() {
        let bytes: Vec<u8> = (0..3 * CHUNK_SIZE + 17).map(|i| (i % 251) as u8).collect();
        let dir = folder(&bytes);
        let record = digest(dir.path(), 4).unwrap();
        assert_eq!(record.files[0].chunks.len(), 4);
        for depth in [Depth::Quick, Depth::Full] {
            assert_eq!(
                check(dir.path(), &record, depth, &NoProgress).unwrap(),
                Ok(())
            );
        }
        let mut damaged = bytes.clone();
        damaged[(2 * CHUNK_SIZE + 5) as usize] ^= 1;
        let dir = folder(&damaged);
        let found = check(dir.path(), &record, Depth::Quick, &NoProgress).unwrap();
        assert!(found.unwrap_err().ends_with(&format!(
            "data.mdb bytes {}..{} differ from the build's hash",
            2 * CHUNK_SIZE,
            3 * CHUNK_SIZE
        )));
        let dir = folder(&bytes[..bytes.len() - 1]);
        let found = check(dir.path(), &record, Depth::Full, &NoProgress).unwrap();
        assert!(found.unwrap_err().contains("when built"));
    }

    #[test]
    fn a_quick_check_of_a_large_file_reads_its_ends_and_a_sample() {
        let count = 10 * QUICK_BYTES / CHUNK_SIZE;
        let picked = chosen(count, CHUNK_SIZE, Depth::Quick);
        assert_eq!(picked.len() as u64, QUICK_BYTES / CHUNK_SIZE);
        assert_eq!((picked[0], *picked.last().unwrap()), (0, count - 1));
        assert!(picked.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(chosen(count, CHUNK_SIZE, Depth::Full).len() as u64, count);
    }
}
