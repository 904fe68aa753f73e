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
}
