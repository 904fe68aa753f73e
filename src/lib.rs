//! villa-telemetry: declarative environment checks for developers and AI agents.
#![warn(missing_docs)]

pub mod condition;
pub mod report;
