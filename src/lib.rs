//! DemandLink: recommends high-demand products to marketplace sellers.
//!
//! Data flows one way: [`ingest`] → [`store`] → [`stats`] (and, in later stages, features →
//! model → index → recommend). See `ARCHITECTURE.md` for the map and its invariants.
#![warn(missing_docs)]

pub mod cli;
pub mod eval;
pub mod features;
pub mod ingest;
pub mod progress;
pub mod stats;
pub mod store;
