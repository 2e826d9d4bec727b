//! Evaluation: splits of a dataset folder into a training drop and held-out pairs, and ranking
//! metrics.
//!
//! Everything here is a pure library piece: it reads and writes files it is given and returns
//! numbers; it never prints and never touches the store. The protocol is in `DESIGN.md`
//! ("Evaluation protocol").

mod dataset;
mod metrics;
mod split;

pub use metrics::{AtK, Mean, Metrics, evaluate};
pub use split::{Cutoff, SplitError, SplitMode, SplitOptions, SplitReport, split};
