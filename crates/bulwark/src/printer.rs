//! All output goes through the [`Printer`]: data on stdout, messages and
//! progress on stderr, nothing but errors under `--quiet`.

use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use bulwark_cli::GlobalArgs;

/// Where output goes, and how much of it.
pub struct Printer {
    quiet: bool,
    verbose: bool,
    progress: Option<MultiProgress>,
}

impl Printer {
    /// A printer for the global options.
    pub fn new(global: &GlobalArgs) -> Printer {
        let draw = !global.quiet && !global.no_progress && std::io::stderr().is_terminal();
        Printer {
            quiet: global.quiet,
            verbose: global.verbose,
            progress: draw.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A status line on stderr (`  Resolved 12 packages`), unless quiet.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        self.stderr_line(&format!("{verb:>12} {message}"));
    }

    /// A line shown only with `--verbose`.
    pub fn verbose(&self, message: impl std::fmt::Display) {
        if self.verbose && !self.quiet {
            self.stderr_line(&format!("{:>12} {message}", "info"));
        }
    }

    /// A warning on stderr (shown even under --quiet).
    pub fn warn(&self, message: impl std::fmt::Display) {
        self.stderr_line(&format!("warning: {message}"));
    }

    /// The one-line error for a failed command.
    pub fn error(&self, err: &anyhow::Error) {
        self.stderr_line(&format!("error: {}", one_line(err)));
    }

    /// Text for people on stdout (a table, a report): control characters
    /// other than line breaks and tabs, which strings from images, feeds
    /// and SBOMs may carry to drive a terminal, are printed escaped.
    pub fn text(&self, text: &str) {
        self.data(&escape_controls(text, "\n\t"));
    }

    /// Data for stdout, as it is (a digest, a JSON document).
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
    }

    /// A byte-count progress bar, hidden when not drawing.
    pub fn bytes_bar(&self, label: &str, total: u64) -> ProgressBar {
        match &self.progress {
            Some(mp) => {
                let bar = mp.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12.cyan.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(label.to_string());
                bar
            }
            None => ProgressBar::hidden(),
        }
    }

    /// A count progress bar, hidden when not drawing.
    pub fn count_bar(&self, label: &str, total: u64) -> ProgressBar {
        match &self.progress {
            Some(mp) => {
                let bar = mp.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12.cyan.bold} [{bar:30}] {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(label.to_string());
                bar
            }
            None => ProgressBar::hidden(),
        }
    }

    #[expect(
        clippy::print_stderr,
        reason = "the printer is the one place that writes to stderr"
    )]
    fn stderr_line(&self, line: &str) {
        let line = escape_controls(line, "");
        match &self.progress {
            Some(mp) => {
                let _ = mp.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

/// `text` with every control character not in `keep` escaped as Rust
/// writes it (`\u{1b}`), so that it cannot move the cursor, recolour or
/// retitle a terminal.
pub fn escape_controls<'a>(text: &'a str, keep: &str) -> std::borrow::Cow<'a, str> {
    let escaped = |c: char| c.is_control() && !keep.contains(c);
    if !text.chars().any(escaped) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An error and its causes on one line, `outer: inner: …`, leaving out a
/// cause whose text the line already holds (errors that print their source).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_except_those_kept() {
        assert_eq!(escape_controls("a\tb\n", "\n\t"), "a\tb\n");
        assert_eq!(
            escape_controls("x\u{1b}[2Jy\u{9b}z\r", "\n"),
            "x\\u{1b}[2Jy\\u{9b}z\\r"
        );
        assert_eq!(escape_controls("a\nb", ""), "a\\nb");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer names `x`: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn one_line_drops_repeated_causes() {
        let err = anyhow::Error::new(Outer {
            source: std::io::Error::other("inner cause"),
        })
        .context("while building");
        assert_eq!(
            one_line(&err),
            "while building: outer names `x`: inner cause"
        );
        let plain = anyhow::anyhow!("a\nb").context("top");
        assert_eq!(one_line(&plain), "top: a b");
    }
}
