//! Deploy actions: redeploy, promote, roll back — declared in `[[actions]]`,
//! enabled by `when` conditions over the report, confirmed by a typed word,
//! sent under a timeout and recorded in an audit log before and after.
//!
//! Flow: [`validate`] (config time) → [`resolve`] (against a fresh report:
//! `when`, templates, `${VAR}` secrets) → [`attempt`] (confirmation, audit,
//! [`send`]). The CLI ([`command`]) and the dashboard ([`route`]) are two
//! front doors to the same [`attempt`].

pub mod attempt;
pub mod audit;
pub mod command;
pub mod config;
pub mod mask;
pub mod resolve;
pub mod route;
pub mod send;
pub mod validate;

use std::path::PathBuf;
use std::time::Duration;

use crate::condition::Condition;

/// Default `[act] timeout`: the longest an upstream may take to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every declared action with the `[act]` settings applied.
#[derive(Debug, Clone, Default)]
pub struct ActionSet {
    /// In declaration order.
    pub list: Vec<ActionPlan>,
    /// `[act] audit`, resolved against the config's directory.
    pub audit_path: Option<PathBuf>,
    /// `[serve] actions = true`: the dashboard shows buttons and accepts POSTs.
    pub dashboard: bool,
}

impl ActionSet {
    /// The action with this id.
    pub fn get(&self, id: &str) -> Option<&ActionPlan> {
        self.list.iter().find(|a| a.id == id)
    }
}

/// One validated action.
#[derive(Debug, Clone)]
pub struct ActionPlan {
    /// Unique id.
    pub id: String,
    /// Button text.
    pub name: String,
    /// Environment ids it runs for; empty for a global action.
    pub environments: Vec<String>,
    /// What is sent.
    pub request: RequestSpec,
    /// The word to type; None: the environment id (or the action id).
    pub confirm: Option<String>,
    /// All must hold over the report JSON.
    pub when: Vec<Condition>,
    /// Longest the upstream may take.
    pub timeout: Duration,
    /// Where the dashboard puts the button.
    pub button: Button,
}

impl ActionPlan {
    /// Whether it runs once per environment (then `--env` is needed).
    pub fn per_env(&self) -> bool {
        !self.environments.is_empty()
    }

    /// The word a person types to confirm this instance.
    pub fn confirm_word(&self, env: Option<&str>) -> String {
        match (&self.confirm, env) {
            (Some(w), _) => w.clone(),
            (None, Some(e)) => e.to_owned(),
            (None, None) => self.id.clone(),
        }
    }
}

/// The request of an action, templates unrendered.
#[derive(Debug, Clone)]
pub enum RequestSpec {
    /// `http = { ... }`.
    Http {
        /// Method (POST by default).
        method: reqwest::Method,
        /// URL template.
        url: String,
        /// Header templates; values may hold `${VAR}`.
        headers: Vec<(String, String)>,
        /// Body template; may hold `${VAR}`.
        body: Option<String>,
    },
    /// `github = { dispatch = ... }`: POST
    /// `{api_url}/repos/{repo}/actions/workflows/{workflow}/dispatches`.
    Dispatch {
        /// `owner/name`.
        repo: String,
        /// Workflow file name or id.
        workflow: String,
        /// Ref template.
        git_ref: String,
        /// Input name and value template.
        inputs: Vec<(String, String)>,
    },
}

/// Where the dashboard shows an action's button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Button {
    /// On the environment's card (redeploy).
    Environment,
    /// Beside the drift warning of the comparison (promote).
    Comparison,
    /// In the quick links panel.
    Links,
}

/// Where an attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `villa-telemetry act`.
    Cli,
    /// `POST /api/actions/ID`.
    Dashboard,
}
