//! Pause points for crash tests: a test sets [`PAUSE_VAR`] to a point's name, waits for
//! `paused at NAME` on standard error and kills the process while it sleeps there, between
//! two writes that a real crash could separate only by chance.

/// The environment variable naming the point to pause at.
const PAUSE_VAR: &str = "DEMANDLINK_TEST_PAUSE";

/// Sleeps a minute when [`PAUSE_VAR`] names `point`.
pub(crate) fn pause(point: &str) {
    if std::env::var(PAUSE_VAR).is_ok_and(|p| p == point) {
        eprintln!("paused at {point}");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}
