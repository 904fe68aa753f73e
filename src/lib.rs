//! villa-telemetry: declarative environment checks for developers and AI agents.
//!
//! Data flow: [`config`] → [`plan`] → [`runner`] → [`probe`] → [`report`] →
//! [`render`] → [`cli`].
#![warn(missing_docs)]

pub mod action;
pub mod cli;
pub mod condition;
pub mod config;
pub mod demo;
pub mod error;
pub mod metric;
pub mod plan;
pub mod probe;
pub mod redact;
pub mod render;
pub mod report;
pub mod runner;
pub mod serve;
pub mod source;
