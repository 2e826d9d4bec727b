//! DemandLink: recommends high-demand products to marketplace sellers.
//!
//! Data flows one way: [`ingest`] → [`store`] → [`features`] → [`model`] → [`index`] →
//! [`recommend`] → [`inspect`] → [`serve`] (the seller portal); [`vectors`] says where the
//! active model keeps its vectors; [`export`] and [`import`] hand the graph to GraphStorm and
//! take its embeddings back as a model generation; [`refresh`] runs the chain as jobs per quarterly drop,
//! [`watch`] per folder of an inbox. See `ARCHITECTURE.md` for the map and its invariants.
//!
//! `pub` is the API that [`cli`], `tests/` and `benches/` use; everything else is `pub(crate)`
//! or narrower, and `unreachable_pub` flags a `pub` item nothing outside can reach.
#![warn(missing_docs)]
#![warn(unreachable_pub)]
// The docs are for this crate's developers (it is not published): a public item's doc may point
// at the private item that does the work.
#![allow(rustdoc::private_intra_doc_links)]

mod affinity;
pub mod checkpoint;
pub mod cli;
mod clock;
pub mod copurchase;
pub mod cosine;
pub mod eval;
pub mod export;
pub mod features;
pub mod hugepages;
pub mod import;
pub mod index;
pub mod ingest;
pub mod inspect;
pub mod model;
mod pause;
pub mod progress;
pub mod recommend;
pub mod refresh;
pub mod rng;
pub mod serve;
pub mod stats;
pub mod store;
pub mod vectors;
pub mod verify;
pub mod watch;
