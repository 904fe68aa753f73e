//! Errors that stop the program (config, I/O). Failing checks are not errors.

use std::path::PathBuf;

use miette::{LabeledSpan, NamedSource, SourceSpan};

use crate::config::SourceFile;

/// A config problem pointing at a place in a file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    source: NamedSource<String>,
    span: SourceSpan,
    message: String,
    label: Option<String>,
    help: Option<String>,
}

impl Diagnostic {
    /// A problem at `span` (bytes) of `file`.
    pub fn new(
        file: &SourceFile,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let len = file.text.len();
        let start = span.start.min(len);
        let end = span.end.clamp(start, len);
        Diagnostic {
            source: NamedSource::new(
                file.path.display().to_string(),
                file.text.as_str().to_owned(),
            )
            .with_language("toml"),
            span: (start, end - start).into(),
            message: message.into(),
            label: None,
            help: None,
        }
    }

    /// Adds a suggestion, shown as `help:`.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Text under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `file:line:column` of the start of the span (1-based).
    pub fn location(&self) -> String {
        let text = self.source.inner();
        let offset = self.span.offset().min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{col}", self.source.name())
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone().unwrap_or_else(|| "here".into())),
            self.span,
        ))))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// Why a config could not be turned into a plan.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error text.
        reason: String,
    },
    /// One or more problems in the files.
    #[error("{}", summary(.0))]
    Invalid(Vec<Diagnostic>),
}

fn summary(diags: &[Diagnostic]) -> String {
    match diags {
        [one] => format!("{} ({})", one.message, one.location()),
        many => format!("{} problems in the configuration", many.len()),
    }
}

impl ConfigError {
    /// Every diagnostic, rendered with file:line:column, the source line, a
    /// caret and the suggestion.
    pub fn render(&self, color: bool) -> String {
        match self {
            ConfigError::Io { .. } => format!("error: {self}\n"),
            ConfigError::Invalid(diags) => {
                let theme = if color {
                    miette::GraphicalTheme::unicode()
                } else {
                    miette::GraphicalTheme::unicode_nocolor()
                };
                let handler =
                    miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
                let mut out = String::new();
                for d in diags {
                    out.push_str(&format!("error: {} at {}\n", d.message, d.location()));
                    let _ = handler.render_report(&mut out, d);
                    out.push('\n');
                }
                if diags.len() > 1 {
                    out.push_str(&format!("{} problems; nothing was run.\n", diags.len()));
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
