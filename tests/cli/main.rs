//! End-to-end tests that drive the real `demandlink` binary on real files, as a user would.
//! One test binary; each module says what belongs in it.

mod bad_input;
mod crash;
mod disk_full;
mod eval;
mod fixtures;
mod graphstorm;
mod ingest;
mod inspect;
mod integrity;
mod interrupt;
mod model;
mod orders;
mod readme;
mod recommend;
mod refresh;
mod restore;
mod schema;
mod serve;
mod util;
mod watch;
