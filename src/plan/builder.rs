//! The plan builder's shared state: the config being read and the problems
//! found so far, with the helpers every validation step uses.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Diagnostic, Problems, did_you_mean};
use crate::source::shorten;

/// Longest user value quoted in a message, in characters.
const QUOTED: usize = 60;

/// Candidates listed when none is close enough to suggest.
const LISTED: usize = 8;

/// Collects every problem so that one `check` shows them all at once.
pub(super) struct Builder<'a> {
    pub(super) config: &'a Config,
    pub(super) problems: Problems,
}

impl<'a> Builder<'a> {
    pub(super) fn new(config: &'a Config) -> Self {
        Builder {
            config,
            problems: Problems::default(),
        }
    }

    /// Whether further problems are only counted; work that only serves a
    /// message (suggestions, locations) is skipped then.
    pub(super) fn counting_only(&self) -> bool {
        self.problems.is_full()
    }

    /// Records a problem at `span` of source `file`.
    pub(super) fn error(
        &mut self,
        file: usize,
        span: std::ops::Range<usize>,
        msg: impl Into<String>,
    ) {
        self.problems
            .push(Diagnostic::new(&self.config.sources[file], span, msg));
    }

    /// Adds a suggestion to the last problem.
    pub(super) fn help(&mut self, help: impl Into<String>) {
        if let Some(last) = self.problems.last_mut() {
            *last = last.clone().with_help(help);
        }
    }

    /// Sets the text under the caret of the last problem.
    pub(super) fn label(&mut self, label: impl Into<String>) {
        if let Some(last) = self.problems.last_mut() {
            *last = last.clone().with_label(label);
        }
    }

    /// Suggests the closest of `candidates` to `word` on the last problem.
    pub(super) fn suggest<'c>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) {
        if self.problems.last_mut().is_none() {
            return;
        }
        let candidates: Vec<&str> = candidates.into_iter().collect();
        if let Some(best) = did_you_mean(word, candidates.iter().copied()) {
            self.help(format!("did you mean `{}`?", quote(best)));
        } else if !candidates.is_empty() {
            let mut known: Vec<String> = candidates
                .iter()
                .take(LISTED)
                .map(|c| quote(c).into_owned())
                .collect();
            if candidates.len() > LISTED {
                known.push(format!("… ({} in all)", candidates.len()));
            }
            self.help(format!("known: {}", known.join(", ")));
        }
    }

    /// Records that a template names an unknown `what` ("check",
    /// "environment") and suggests the closest of `candidates`.
    pub(super) fn unknown_reference<'c>(
        &mut self,
        file: usize,
        span: std::ops::Range<usize>,
        what: &str,
        name: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) {
        self.error(
            file,
            span,
            format!("template references unknown {what} `{}`", quote(name)),
        );
        self.suggest(name, candidates);
    }

    /// `rel` resolved against the directory of source `file`.
    pub(super) fn resolve_path(&self, file: usize, rel: &str) -> PathBuf {
        let dir = self.config.sources[file]
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        dir.join(rel)
    }
}

/// A user's value as quoted in a message: cut, so that a 70,000-character
/// URL does not make a 70,000-character message.
pub(super) fn quote(value: &str) -> std::borrow::Cow<'_, str> {
    shorten(value, QUOTED)
}
