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
