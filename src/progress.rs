//! Progress reporting and cooperative cancellation for long operations. The library reports
//! through [`Progress`]; only the CLI draws bars.

/// Receives progress of a long operation, one phase at a time.
pub trait Progress {
    /// A new phase begins; `total` counts its items (sellers, batches, products …).
    fn start(&self, label: &str, total: u64);
    /// A new phase over `total` bytes begins (file reads).
    fn start_bytes(&self, label: &str, total: u64) {
        self.start(label, total);
    }
    /// Position within the current phase.
    fn set(&self, position: u64);
    /// The current phase ended.
    fn finish(&self);
}

/// Discards progress (tests, library callers without a terminal).
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _label: &str, _total: u64) {}
    fn set(&self, _position: u64) {}
    fn finish(&self) {}
}

/// A long operation stopped because its cancel flag was raised (Ctrl-C): after its last
/// commit, so that rerunning the same command continues where it stopped. Every stage's
/// error wraps it as its `source` (`IngestError::Cancelled`, `ModelError::Cancelled`,
/// `RefreshError::Interrupted` …) with a message of its own, so a caller recognises a
/// cancellation by finding it in the error's source chain ([`Cancelled::in_chain`]); the CLI
/// exits with 130 for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("interrupted; rerun the same command to continue where it stopped")]
pub struct Cancelled;

impl Cancelled {
    /// Whether `error` or one of its sources is a [`Cancelled`].
    pub(crate) fn in_chain(error: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<Cancelled>())
    }
}
