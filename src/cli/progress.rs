//! Progress bars on stderr, and the Ctrl-C handler that raises a long command's cancel flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// A flag set by the first Ctrl-C; long operations stop at their next commit and return an
/// error holding [`crate::progress::Cancelled`] (exit code 130). A second Ctrl-C exits at once.
pub(super) fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Failing to install the handler only loses graceful Ctrl-C; a kill is still safe.
    let installed = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("interrupting at the next commit (Ctrl-C again to stop now)…");
    });
    if installed.is_ok() {
        tracing::debug!("Ctrl-C now stops at the next commit");
    }
    flag
}

/// Progress bars on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
pub(super) struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

/// Smaller file reads finish too fast for a bar to help.
const BAR_MIN_BYTES: u64 = 4 << 20;

impl Bars {
    fn show(&self, label: &str, total: u64, template: &str) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        *self.bar.lock().expect("progress lock") = Some(bar);
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: u64) {
        self.show(
            label,
            total,
            "{msg:30} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
        );
    }

    fn start_bytes(&self, label: &str, total: u64) {
        if total < BAR_MIN_BYTES {
            *self.bar.lock().expect("progress lock") = None;
            return;
        }
        self.show(
            label,
            total,
            "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        );
    }

    fn set(&self, position: u64) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.set_position(position);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
