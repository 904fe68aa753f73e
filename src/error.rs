//! Errors that stop the program (config, I/O). Failing checks are not errors.

use std::path::PathBuf;

use miette::{LabeledSpan, SourceCode};

use crate::source::{Excerpt, SourceFile, shorten};

/// Problems shown in full; the rest are counted ("and 3,990 more").
pub const SHOWN_PROBLEMS: usize = 10;

/// Longest message or suggestion kept, in characters: values quoted in
/// messages are cut before this, this is the backstop.
const MAX_MESSAGE: usize = 400;

/// A config problem pointing at a place in a file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    file: SourceFile,
    span: std::ops::Range<usize>,
    message: String,
    label: Option<String>,
    help: Option<String>,
}

impl Diagnostic {
    /// A problem at `span` (bytes) of `file`. Cheap: the file's text is
    /// shared, and the excerpt is cut only when the problem is shown.
    pub fn new(
        file: &SourceFile,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let len = file.text.len();
        let start = span.start.min(len);
        let end = span.end.clamp(start, len);
        Diagnostic {
            file: file.clone(),
            span: start..end,
            message: shorten(&message.into(), MAX_MESSAGE).into_owned(),
            label: None,
            help: None,
        }
    }

    /// Adds a suggestion, shown as `help:`.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(shorten(&help.into(), MAX_MESSAGE).into_owned());
        self
    }

    /// Text under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(shorten(&label.into(), MAX_MESSAGE).into_owned());
        self
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The suggestion, if any.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// `file:line:column` of the start of the span (1-based).
    pub fn location(&self) -> String {
        self.file.location(self.span.start)
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// A diagnostic with its excerpt cut, as miette renders it.
#[derive(Debug)]
struct Shown<'a> {
    diagnostic: &'a Diagnostic,
    excerpt: Excerpt,
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Shown<'_> {}

impl miette::Diagnostic for Shown<'_> {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(
                self.diagnostic
                    .label
                    .clone()
                    .unwrap_or_else(|| "here".into()),
            ),
            self.excerpt.span(),
        ))))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// The problems found in a config: the first [`SHOWN_PROBLEMS`] in full,
/// the rest only counted, so that a file with thousands of mistakes costs
/// linear time and prints a screenful.
#[derive(Debug, Clone, Default)]
pub struct Problems {
    shown: Vec<Diagnostic>,
    more: usize,
}

impl Problems {
    /// Records a problem (or only counts it once enough are kept).
    pub fn push(&mut self, d: Diagnostic) {
        if self.is_full() {
            self.more += 1;
        } else {
            self.shown.push(d);
        }
    }

    /// Whether further problems are only counted: callers skip work (such
    /// as suggestions) for problems that will not be shown.
    pub fn is_full(&self) -> bool {
        self.shown.len() >= SHOWN_PROBLEMS
    }

    /// The problems shown in full, in the order found.
    pub fn shown(&self) -> &[Diagnostic] {
        &self.shown
    }

    /// The most recently kept problem, while no later one was only counted.
    pub fn last_mut(&mut self) -> Option<&mut Diagnostic> {
        if self.more > 0 {
            return None;
        }
        self.shown.last_mut()
    }

    /// Every problem, shown or counted.
    pub fn len(&self) -> usize {
        self.shown.len() + self.more
    }

    /// No problem at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Vec<Diagnostic>> for Problems {
    fn from(list: Vec<Diagnostic>) -> Self {
        let mut out = Problems::default();
        for d in list {
            out.push(d);
        }
        out
    }
}

/// Why a config could not be turned into a plan.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The OS could not read a file.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is absent, or is not something a config can be.
    #[error("cannot read {}: {why}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        why: Unreadable,
    },
    /// One or more problems in the files.
    #[error("{}", summary(.0))]
    Invalid(Problems),
}

/// Why a file cannot be read as a config although the OS did not object.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    /// The main config is not there.
    #[error("no such file; run from the directory with {default}, or pass --config FILE")]
    Missing {
        /// The file name looked for by default.
        default: &'static str,
    },
    /// A directory, device or FIFO.
    #[error("not a regular file")]
    NotAFile,
    /// Larger than the limit on a config file.
    #[error("larger than {} MiB", limit >> 20)]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Not UTF-8.
    #[error("not UTF-8 text (invalid byte at offset {})", .0.valid_up_to())]
    NotUtf8(#[source] std::str::Utf8Error),
}

/// Why one config file could not be read: the OS's error, or what makes it
/// no config. [`ReadError::at`] names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The OS's error.
    #[error(transparent)]
    Os(#[from] std::io::Error),
    /// Read, but not a config.
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
}

impl ReadError {
    /// The error for the file at `path`.
    pub fn at(self, path: &std::path::Path) -> ConfigError {
        let path = path.to_path_buf();
        match self {
            ReadError::Os(source) => ConfigError::Io { path, source },
            ReadError::Unreadable(why) => ConfigError::Unreadable { path, why },
        }
    }
}

impl ConfigError {
    /// One or more problems; only the first [`SHOWN_PROBLEMS`] are kept.
    pub fn invalid(diags: Vec<Diagnostic>) -> Self {
        ConfigError::Invalid(diags.into())
    }
}

fn summary(problems: &Problems) -> String {
    match problems.shown() {
        [one] if problems.len() == 1 => format!("{} ({})", one.message, one.location()),
        _ => format!(
            "{} problems in the configuration",
            thousands(problems.len())
        ),
    }
}

/// `3990` as `3,990`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl ConfigError {
    /// Every shown problem, rendered with file:line:column, the source line
    /// (cut around the caret when long), a caret and the suggestion.
    pub fn render(&self, color: bool) -> String {
        match self {
            ConfigError::Io { .. } | ConfigError::Unreadable { .. } => format!("error: {self}\n"),
            ConfigError::Invalid(problems) => {
                let theme = if color {
                    miette::GraphicalTheme::unicode()
                } else {
                    miette::GraphicalTheme::unicode_nocolor()
                };
                let handler =
                    miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
                let mut out = String::new();
                for d in problems.shown() {
                    out.push_str(&format!("error: {} at {}\n", d.message, d.location()));
                    let shown = Shown {
                        diagnostic: d,
                        excerpt: d.file.excerpt(d.span.clone(), 1),
                    };
                    let _ = handler.render_report(&mut out, &shown);
                    out.push('\n');
                }
                if problems.more > 0 {
                    out.push_str(&format!(
                        "… and {} more not shown.\n",
                        thousands(problems.more)
                    ));
                }
                if problems.len() > 1 {
                    out.push_str(&format!(
                        "{} problems; nothing was run.\n",
                        thousands(problems.len())
                    ));
                }
                out
            }
        }
    }
}

/// The closest candidate to `word`, if one is close enough to suggest.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, c)| *score > 0.8 && *c != word)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            path: "c.toml".into(),
            text: Arc::new(text.to_owned()),
        }
    }

    #[test]
    fn counts_beyond_the_shown_problems() {
        let f = file("id = \"a\"\n");
        let e = ConfigError::invalid(
            (0..4000)
                .map(|_| Diagnostic::new(&f, 5..8, "duplicate check id `a`"))
                .collect(),
        );
        let text = e.render(false);
        assert_eq!(text.matches("error: duplicate").count(), SHOWN_PROBLEMS);
        assert!(text.contains("… and 3,990 more not shown."), "{text}");
        assert!(text.contains("4,000 problems; nothing was run."), "{text}");
        assert_eq!(e.to_string(), "4,000 problems in the configuration");
    }

    #[test]
    fn an_unreadable_config_keeps_the_os_error_underneath() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        // A path through a file: the OS says "Not a directory".
        let path = blocker.join("villa-telemetry.toml");
        let e = crate::config::Config::load(&path).unwrap_err();
        let os = e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io::Error is the source");
        assert_eq!(
            e.to_string(),
            format!("cannot read {}: {os}", path.display())
        );
        assert_eq!(e.render(false), format!("error: {e}\n"));
        // A directory is read by no one: said in words, no OS error.
        let e = crate::config::Config::load(dir.path()).unwrap_err();
        assert!(matches!(
            e,
            ConfigError::Unreadable {
                why: Unreadable::NotAFile,
                ..
            }
        ));
        assert!(e.to_string().ends_with(": not a regular file"), "{e}");
        std::fs::write(&blocker, b"a = \"\xff\"").unwrap();
        let e = crate::config::Config::load(&blocker).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": not UTF-8 text (invalid byte at offset 5)"),
            "{e}"
        );
        assert!(e.source().is_some(), "the Utf8Error underneath");
    }

    #[test]
    fn renders_past_column_65535_without_panicking() {
        let line = format!("x = \"{}\" junk", "a".repeat(70_000));
        let at = line.find("junk").expect("present");
        let f = file(&line);
        let text = ConfigError::invalid(vec![Diagnostic::new(&f, at..at + 4, "bad")]).render(false);
        assert!(text.contains(&format!("c.toml:1:{}", at + 1)), "{text}");
        assert!(text.contains("junk"));
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn long_messages_are_cut() {
        let f = file("x");
        let d = Diagnostic::new(&f, 0..1, "y".repeat(10_000)).with_help("z".repeat(10_000));
        assert!(d.message().chars().count() <= MAX_MESSAGE);
        assert!(d.help().is_some_and(|h| h.chars().count() <= MAX_MESSAGE));
    }

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(3990), "3,990");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
