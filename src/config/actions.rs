//! `[[actions]]` and `[act]` as written in TOML, with spans for errors.
//!
//! Only shape and unknown keys are checked here; `plan::actions` does the
//! rest so that every mistake points at its line and column.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// `[[actions]]`: one struct with optional request tables, like checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Unique id, used by `act ID` and `POST /api/actions/ID`.
    pub id: Spanned<String>,
    /// Button text; defaults to the id.
    pub name: Option<String>,
    /// Environment ids (or `["*"]`): one instance per environment, `env` in templates.
    pub environments: Option<Spanned<Vec<Spanned<String>>>>,
    /// A templated HTTP request.
    pub http: Option<Spanned<ActionHttpConfig>>,
    /// The built-in GitHub `workflow_dispatch`.
    pub github: Option<Spanned<DispatchConfig>>,
    /// The word a person types to confirm; defaults to the environment id
    /// (or the action id for a global action).
    pub confirm: Option<Spanned<String>>,
    /// Conditions over the report JSON that must all hold for the action to
    /// be enabled (the `expect` language: `$.comparison.staging_vs_production.in_sync == false`).
    #[serde(default)]
    pub when: Vec<Spanned<String>>,
    /// Overrides `[act] timeout`.
    #[serde(default, deserialize_with = "crate::units::timeout")]
    pub timeout: Option<Duration>,
    /// Where the dashboard shows the button: `environment` (the card),
    /// `comparison` (beside the drift warning) or `links`.
    pub button: Option<Spanned<String>>,
    /// What one run aims at: the environment (default) or, with
    /// `"deployment"`, an earlier deployment from its history (a rollback).
    pub target: Option<Spanned<ActionTarget>>,
}

/// `target = "…"`: what one run of an action aims at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionTarget {
    /// The environment it runs for (or the project, for a global action).
    #[default]
    Environment,
    /// A deployment from the environment's history (`[github] history`)
    /// that once went live and is not the one running: one run per such
    /// deployment, `{{deployment.sha}}`, `{{deployment.id}}`, `{{deployment.ref}}`
    /// in templates.
    Deployment,
}

/// `http = { method, url, headers, body }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionHttpConfig {
    /// POST by default.
    pub method: Option<Spanned<String>>,
    /// Templated URL (no secrets: URLs end up in logs).
    pub url: Spanned<String>,
    /// Templated header values; `${VAR}` secrets allowed.
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    /// Templated body; `${VAR}` secrets allowed.
    pub body: Option<Spanned<String>>,
}

/// `github = { dispatch, ref, inputs, repo }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchConfig {
    /// Workflow file name or id, e.g. `deploy.yml`.
    pub dispatch: Spanned<String>,
    /// Branch or tag the workflow runs on (templated).
    #[serde(rename = "ref")]
    pub git_ref: Spanned<String>,
    /// Workflow inputs (templated values).
    #[serde(default)]
    pub inputs: IndexMap<String, Spanned<String>>,
    /// Another repository than `[project] repo`.
    pub repo: Option<Spanned<String>>,
}

/// `[act]`: settings of every action. (`[actions]` cannot be both the
/// `[[actions]]` array and a table in TOML, hence the command's name.)
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActSettingsConfig {
    /// Longest an upstream may take to answer (default 30s).
    #[serde(default, deserialize_with = "crate::units::timeout")]
    pub timeout: Option<Duration>,
    /// Audit log file, relative to the main config file.
    pub audit: Option<Spanned<String>>,
}
