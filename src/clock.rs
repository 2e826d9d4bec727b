//! Wall-clock time as DemandLink records it (job and drop records, index manifests, folder
//! fingerprints): durations since the Unix epoch, read in one place.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time from the Unix epoch to `t`; zero for a time before 1970 (a clock set wrong), which a
/// record can show but nothing depends on.
pub(crate) fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Unix seconds now.
pub(crate) fn unix_secs() -> u64 {
    since_epoch(SystemTime::now()).as_secs()
}

/// Unix nanoseconds now (as `u64`: enough until the year 2554).
pub(crate) fn unix_nanos() -> u64 {
    since_epoch(SystemTime::now()).as_nanos() as u64
}
