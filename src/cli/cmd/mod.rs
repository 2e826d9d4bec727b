//! One file per command, each with one `exec` function: turn the arguments into the stage's
//! options, call the library, hand the result to [`print`](super::print). No logic of their own.

pub mod dump;
pub mod eval;
pub mod featurize;
pub mod index;
pub mod ingest;
pub mod inspect;
pub mod jobs;
pub mod recommend;
pub mod refresh;
pub mod serve;
pub mod split;
pub mod stats;
pub mod tokens;
pub mod train;
pub mod watch;
