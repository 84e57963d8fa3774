//! What a mirror run shows: while an image copies, a progress bar on stderr when stderr is a
//! terminal; when it is done, one line on stdout (terminal or not), the same a script reads:
//!
//! `SOURCE -> TARGET DIGEST copied K/N blobs (B bytes), M/MM manifests in S s`, or
//! `SOURCE -> TARGET DIGEST up to date` when the target already served that digest.
//!
//! Failures are one line each on stderr. Nothing here ever sees a credential.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use ecr_mirror::naming::display;
use ecr_mirror::{Copied, Job, MirrorError, Observer, Outcome, Unobserved};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Chooses the display once per run.
pub struct Reporter {
    bars: bool,
}

/// One image's display.
pub struct ImageReport {
    source: String,
    target: String,
    bar: Option<ProgressBar>,
}

impl Reporter {
    /// Bars when stderr is a terminal that can draw them.
    pub fn for_stderr() -> Reporter {
        let dumb = std::env::var_os("TERM").is_some_and(|term| term == "dumb");
        Reporter {
            bars: std::io::stderr().is_terminal() && !dumb,
        }
    }

    pub fn image(&self, job: &Job) -> ImageReport {
        let source = display(&job.source);
        let target = display(&job.target);
        let bar = self.bars.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "[{bar:25}] {binary_bytes:>10}/{binary_total_bytes:<10} {binary_bytes_per_sec:>12} {wide_msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_message(target.clone());
            bar
        });
        ImageReport {
            source,
            target,
            bar,
        }
    }

    /// A failure's line on stderr.
    pub fn failed(&self, e: &MirrorError) {
        self.failed_message(&e.to_string());
    }

    /// A failure's line on stderr, given as text.
    pub fn failed_message(&self, message: &str) {
        eprintln!("docker-credential-ecr mirror: {message}");
    }
}

impl ImageReport {
    /// What the copy reports its progress to.
    pub fn observer(&self) -> Arc<dyn Observer> {
        match &self.bar {
            Some(bar) => Arc::new(Bar(bar.clone())),
            None => Arc::new(Unobserved),
        }
    }

    /// The image's line on stdout.
    pub fn done(self, copied: &Copied) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", line(&self.source, &self.target, copied));
        let _ = stdout.flush();
    }

    /// The copy failed: the bar goes (the failure is said by [`Reporter::failed`]).
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

struct Bar(ProgressBar);

impl Observer for Bar {
    fn planned(&self, _blobs: usize, bytes: u64) {
        self.0.set_length(bytes);
    }

    fn advanced(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

/// An image's line.
pub fn line(source: &str, target: &str, copied: &Copied) -> String {
    match &copied.outcome {
        Outcome::UpToDate => format!("{source} -> {target} {} up to date", copied.digest),
        Outcome::Copied {
            blobs_copied,
            blobs_total,
            bytes_copied,
            manifests_copied,
            manifests_total,
            elapsed,
        } => format!(
            "{source} -> {target} {} copied {blobs_copied}/{blobs_total} blobs ({bytes_copied} bytes), {manifests_copied}/{manifests_total} manifests in {:.1} s",
            copied.digest,
            elapsed.as_secs_f64()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_line_says_what_was_copied_or_that_nothing_was() {
        let copied = Copied {
            digest: "sha256:ab".into(),
            outcome: Outcome::Copied {
                blobs_copied: 2,
                blobs_total: 3,
                bytes_copied: 1024,
                manifests_copied: 1,
                manifests_total: 1,
                elapsed: Duration::from_millis(1250),
            },
        };
        assert_eq!(
            line("s/a:1", "t/a:1", &copied),
            "s/a:1 -> t/a:1 sha256:ab copied 2/3 blobs (1024 bytes), 1/1 manifests in 1.2 s"
        );
        let same = Copied {
            digest: "sha256:ab".into(),
            outcome: Outcome::UpToDate,
        };
        assert_eq!(
            line("s/a:1", "t/a:1", &same),
            "s/a:1 -> t/a:1 sha256:ab up to date"
        );
    }
}
