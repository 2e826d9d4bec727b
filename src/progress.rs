//! Progress reporting and cooperative cancellation for long operations. The library reports
//! through [`Progress`]; only the CLI draws bars.

/// Receives progress of a long operation, one phase at a time.
pub trait Progress {
    /// A new phase begins; `total` is in the phase's unit (bytes for file reads).
    fn start(&self, label: &str, total: u64);
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
