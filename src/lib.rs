//! villa-telemetry: declarative environment checks for developers and AI agents.
//!
//! Data flow: [`config`] → [`plan`] → [`runner`] → [`probe`] → [`report`] →
//! [`render`] → [`serve`] / [`cli`], joined once in [`pipeline`]. What
//! probes and the runner produce lives in [`outcome`], below all of them:
//! a new probe goes in `probe/`, a condition operator in `condition`, an
//! output format in `render`.
#![warn(missing_docs)]

pub mod action;
pub mod cli;
pub mod condition;
pub mod config;
pub mod demo;
pub mod error;
pub mod metric;
pub mod outcome;
pub mod paths;
pub mod pipeline;
pub mod plan;
pub mod probe;
pub mod redact;
pub mod render;
pub mod report;
pub mod runner;
pub mod serve;
pub mod source;
pub mod units;
