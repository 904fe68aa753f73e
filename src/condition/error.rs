//! A mistake in a condition or JSONPath, with the byte range to point at.

use std::fmt;

/// A condition or JSONPath that cannot be parsed.
///
/// `offset` and `len` are byte offsets within the condition (or path) string,
/// for a caret under the offending part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    /// What is wrong, in one line.
    pub message: String,
    /// Byte offset of the offending part within the parsed string.
    pub offset: usize,
    /// Byte length of the offending part (0 points between characters).
    pub len: usize,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl ConditionError {
    pub(super) fn new(message: impl Into<String>, offset: usize, len: usize) -> Self {
        ConditionError {
            message: message.into(),
            offset,
            len,
            help: None,
        }
    }

    pub(super) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same error with its offset moved by `by` bytes, for a condition
    /// embedded in a larger string (e.g. after the opening quote in TOML).
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }
}

impl miette::Diagnostic for ConditionError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
}

#[cfg(test)]
mod tests {
    use crate::condition::test_support::*;

    #[test]
    fn error_is_a_diagnostic_with_help() {
        use miette::Diagnostic;
        let e = perr("status = 200");
        assert_eq!(e.to_string(), "unknown operator `=`");
        assert_eq!(
            Diagnostic::help(&e).map(|h| h.to_string()).as_deref(),
            Some("did you mean `==`?")
        );
        assert_eq!(e.clone().shifted(10).offset, 17);
    }
}
