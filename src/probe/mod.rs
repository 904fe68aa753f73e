//! Probes: each turns a resolved check into one JSON observation.
//!
//! The set of probes is closed (an enum); plugins are the open end. Probes
//! never return a Rust error for an upstream fault: they return
//! [`Probed::error`], which becomes the check's `error` status.

pub mod git;
pub mod github;
pub mod http;
#[cfg(feature = "plugins")]
pub mod plugin;
pub mod prometheus;

use crate::redact::Redactor;

pub use crate::outcome::{ErrorKind, Observation, Probed, Problem, Verdict};

impl Probed {
    /// Takes the run's secrets out of everything the probe saw, before any
    /// condition reads it or any output shortens it.
    pub fn redact(&mut self, redactor: &Redactor) {
        if redactor.is_empty() {
            return;
        }
        redactor.redact_value(&mut self.observation.value);
        for (_, value) in &mut self.observation.headers {
            redactor.redact_string(value);
        }
        redactor.redact_string(&mut self.summary);
        redactor.redact_map(&mut self.fields);
        match &mut self.verdict {
            Verdict::Pass | Verdict::Warn(None) => {}
            Verdict::Warn(Some(p)) | Verdict::Fail(p) | Verdict::Error(p) => {
                redactor.redact_string(&mut p.message)
            }
        }
        self.log.iter_mut().for_each(|s| redactor.redact_string(s));
    }

    /// Appends to an HTTP error's reason (status 400 and up) the start of
    /// the response body, on one line, so "500 from staging" says what
    /// staging said. Call after [`Probed::redact`]: the body is cut here, and
    /// a cut secret would no longer be recognised.
    pub fn show_error_body(&mut self) {
        if self.observation.status.is_none_or(|s| s < 400) {
            return;
        }
        let text = match &self.observation.value {
            serde_json::Value::Null => return,
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return;
        }
        let excerpt = crate::redact::shorten(&line, ERROR_BODY_CHARS);
        if let Verdict::Fail(p) | Verdict::Error(p) = &mut self.verdict {
            p.message.push_str("; body: ");
            p.message.push_str(&excerpt);
        }
    }
}

/// Characters of an HTTP error's body shown in its reason.
pub const ERROR_BODY_CHARS: usize = 160;
