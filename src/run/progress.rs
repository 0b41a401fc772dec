//! Progress on stderr while the steps run: a spinner per step on a terminal; plain timestamped
//! lines elsewhere (CI logs get no redraws); with `verbose`, plain lines plus the tools' own
//! output. Whether stderr may redraw is the [`Printer`]'s decision, not this module's.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::process::Stream;
use super::report::StepStatus;
use crate::ui::Printer;

pub struct Progress {
    printer: Printer,
    live: bool,
    verbose: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(printer: Printer, verbose: bool) -> Self {
        Progress {
            printer,
            live: printer.live() && !verbose,
            verbose,
            bar: None,
        }
    }

    /// Say something without tearing a spinner.
    pub fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| self.printer.say(text)),
            None => self.printer.say(text),
        }
    }

    pub(super) fn start(&mut self, n: usize, total: usize, purpose: &str) {
        if self.live {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {prefix} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(format!("[{n}/{total}]"));
            bar.set_message(purpose.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            self.bar = Some(bar);
        } else {
            self.printer
                .say(&format!("{} [{n}/{total}] start: {purpose}", timestamp()));
        }
    }

    pub(super) fn finish(
        &mut self,
        n: usize,
        total: usize,
        purpose: &str,
        status: StepStatus,
        took: Duration,
    ) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let secs = format!("{:.1}s", took.as_secs_f64());
        let (mark, word) = match status {
            StepStatus::Done => (console::style("✓").green(), "done"),
            StepStatus::TimedOut => (console::style("✗").red(), "timed out"),
            StepStatus::Interrupted => (console::style("✗").red(), "interrupted"),
            _ => (console::style("✗").red(), "failed"),
        };
        let mark = mark.for_stderr();
        if self.live {
            self.printer
                .say(&format!("{mark} [{n}/{total}] {purpose} ({secs})"));
        } else {
            self.printer.say(&format!(
                "{} [{n}/{total}] {word}: {purpose} ({secs})",
                timestamp()
            ));
        }
    }

    pub(super) fn line(&self, stream: Stream, program: &str, text: &str) {
        if self.verbose {
            let tag = if stream == Stream::Stderr { "!" } else { "|" };
            self.printer.say(&format!("    {program} {tag} {text}"));
        }
    }
}

/// UTC wall-clock time, `HH:MM:SSZ`.
pub fn timestamp() -> String {
    clock(jiff::Timestamp::now())
}

fn clock(t: jiff::Timestamp) -> String {
    // A Timestamp formats in UTC.
    t.strftime("%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc() {
        assert_eq!(clock(jiff::Timestamp::UNIX_EPOCH), "00:00:00Z");
        let t = jiff::Timestamp::from_second(1_764_157_500).unwrap();
        assert_eq!(clock(t), "11:45:00Z");
    }
}
