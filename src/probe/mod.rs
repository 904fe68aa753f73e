//! Probes: each turns one check's target into a JSON observation.
//!
//! Minimal on the `github` branch; the lead reconciles this file at merge.

pub mod github;
