//! The integration tests: one binary, one module per area, so the library
//! (with wasmtime) is linked once. Shared helpers live in `support` and
//! `actions_support`; a test that must change the process environment runs
//! itself in a child process (`support::isolated`).

// Tests read top to bottom as a story; the 100-line rule is for src/.
#![allow(clippy::too_many_lines)]

mod actions_support;
mod support;

mod actions;
mod actions_dashboard;
mod actions_rollback;
mod agent_questions;
mod api;
mod assess;
mod browser;
mod browser_actions;
mod commit_ci_names;
mod config_errors;
mod dora;
mod examples;
mod fuzz_config;
mod gate;
mod git_safety;
mod github;
mod github_disk_cache;
mod github_hardening;
mod github_history;
mod github_points;
mod github_report;
mod github_token;
mod github_unknown_commit;
mod hardening;
mod journey;
mod mcp;
mod mcp_actions;
mod metric_history;
mod observed;
mod plugin_cache;
mod plugin_checks;
mod plugin_langs;
mod plugins;
mod prometheus;
mod render;
mod report_build;
mod run;
mod schema;
mod secrets;
mod serve;
mod serve_connections;
mod serve_guards;
mod suspects;
mod upstream_deadlines;
mod verdict;
