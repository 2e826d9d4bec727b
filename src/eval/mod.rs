//! Evaluation: splits of a dataset folder into a training drop and held-out pairs, ranking
//! metrics, and the matrix-factorisation baselines (implicit-feedback ALS, plain and with
//! co-purchase rows stacked under the seller rows).
//!
//! Everything here is a pure library piece: it reads and writes files it is given and returns
//! numbers; it never prints and never touches the store. The protocol is in `DESIGN.md`
//! ("Evaluation protocol").

mod als;
mod csr;
mod dataset;
mod error;
pub mod harness;
mod metrics;
mod quarters;
#[cfg(test)]
mod real_data;
pub mod report;
mod split;
mod stack;

pub use als::AlsOptions;
pub(crate) use als::{AlsModel, fit_reporting};
pub(crate) use csr::Csr;
pub use error::{EvalError, SplitError};
pub(crate) use metrics::evaluate;
pub use quarters::{QuarterReport, quarters};
pub use split::{Cutoff, SplitMode, SplitOptions, SplitReport, split};
pub(crate) use stack::stack_copurchases;
