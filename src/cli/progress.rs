//! Progress of a long command: a bar with rows, rows/s and ETA on a terminal (indicatif), plain lines on stderr
//! otherwise (a log, a pipe), at most one a second.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    label: &'static str,
    bar: Option<ProgressBar>,
    started: Instant,
    printed: Instant,
    rows: u64,
}

impl Progress {
    /// `total` is the work in all, in the unit `position` is given in (bytes read, rows done), when known.
    pub fn new(label: &'static str, total: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(total) => {
                    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                }
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                "{prefix} [{bar:30}] {percent:>3}% {msg} eta {eta}"
            } else {
                "{prefix} {spinner} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress {
            label,
            bar,
            started: now,
            printed: now,
            rows: 0,
        }
    }

    /// Rows done so far, and the position against the total.
    pub fn update(&mut self, rows: u64, position: u64) {
        self.rows = rows;
        let rate = self.rate();
        match &self.bar {
            Some(bar) => {
                bar.set_position(position);
                bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
            }
            None if self.printed.elapsed() >= Duration::from_secs(1) => {
                self.printed = Instant::now();
                eprintln!("{}: {rows} rows, {rate:.0} rows/s", self.label);
            }
            None => {}
        }
    }

    fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        }
    }

    /// Ends the bar (or prints the last line): `summary` says how it ended.
    pub fn finish(self, summary: &str) {
        let rate = self.rate();
        let line = format!(
            "{}: {} rows, {rate:.0} rows/s: {summary}",
            self.label, self.rows
        );
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}
