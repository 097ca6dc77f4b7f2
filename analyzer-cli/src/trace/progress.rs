//! A progress bar on stderr for long reads: shown only when stderr is a terminal and the
//! work has already taken about a second, so short runs and pipes see nothing.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const DELAY: Duration = Duration::from_secs(1);

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    started: Instant,
    enabled: bool,
}

impl Progress {
    /// Progress over `total` bytes of `what`.
    pub fn bytes(total: u64) -> Self {
        Progress {
            bar: None,
            total,
            started: Instant::now(),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Reports that `done` bytes are through.
    pub fn set(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() {
            if self.started.elapsed() < DELAY {
                return;
            }
            let bar = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "memscope: reading {bytes}/{total_bytes} {wide_bar} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
