//! Evaluation: ranking metrics.
//!
//! Everything here is a pure library piece: it returns numbers; it never prints and never
//! touches the store. The protocol is in `DESIGN.md` ("Evaluation protocol").

mod metrics;

pub use metrics::{AtK, Mean, Metrics, evaluate};
