//! Terminal progress for the library's events.

use std::time::Duration;

use cargo_boot::pipeline::Event;
use indicatif::{ProgressBar, ProgressStyle};

/// Shows each build step as a status line, cargo style.
pub struct StepPrinter {
    spinner: Option<ProgressBar>,
    quiet: bool,
}

impl StepPrinter {
    /// A printer; `quiet` hides the steps but keeps warnings.
    pub fn new(quiet: bool) -> StepPrinter {
        StepPrinter { spinner: None, quiet }
    }

    /// Handles one event.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Step(step) => {
                self.finish();
                if self.quiet {
                    return;
                }
                eprintln!("{:>12} {step}", console_bold_green("Building"));
            }
            Event::Warning(message) => {
                self.finish();
                eprintln!("{}: {message}", console_bold_yellow("warning"));
            }
        }
    }

    /// A spinner for work with no measurable progress.
    #[allow(dead_code)]
    pub fn spin(&mut self, message: String) {
        if self.quiet {
            return;
        }
        let spinner = ProgressBar::new_spinner().with_message(message);
        spinner.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
        spinner.enable_steady_tick(Duration::from_millis(120));
        self.spinner = Some(spinner);
    }

    fn finish(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }
}

fn console_bold_green(text: &str) -> String {
    format!("\x1b[1;32m{text}\x1b[0m")
}

fn console_bold_yellow(text: &str) -> String {
    format!("\x1b[1;33m{text}\x1b[0m")
}
