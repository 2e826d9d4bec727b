//! One file per command, each with one `exec` function: turn the arguments into the stage's
//! options, call the library, hand the result to [`print`](super::print). No logic of their own.

pub(super) mod checkpoints;
pub(super) mod dump;
pub(super) mod eval;
pub(super) mod export;
pub(super) mod featurize;
pub(super) mod import_embeddings;
pub(super) mod index;
pub(super) mod ingest;
pub(super) mod inspect;
pub(super) mod jobs;
pub(super) mod recommend;
pub(super) mod refresh;
pub(super) mod restore;
pub(super) mod serve;
pub(super) mod split;
pub(super) mod stats;
pub(super) mod tokens;
pub(super) mod train;
pub(super) mod verify;
pub(super) mod watch;
