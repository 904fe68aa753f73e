//! Deploy actions at run time: redeploy, promote, roll back. What is
//! declared is validated by `plan::actions`; here an action meets a report.
//!
//! Flow: [`resolve`] (against a fresh report: `when`, templates, `${VAR}`
//! secrets) → [`attempt`] (confirmation, [`audit`], [`send`]). The CLI
//! (`cli::actions`), the dashboard (`serve::actions`, with the buttons from
//! [`buttons`]) and MCP (`serve::mcp_actions`) are three front doors to the
//! same [`attempt`]. A rollback (`target = "deployment"`) also names a
//! deployment of the history, checked by [`rollback`] against the same
//! fresh report.

pub mod attempt;
pub mod audit;
pub mod buttons;
pub mod resolve;
pub mod rollback;
pub mod send;

/// Where an attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `villa-telemetry act`.
    Cli,
    /// `POST /api/actions/ID`.
    Dashboard,
    /// An MCP tool call (`[mcp] actions = true`): an agent asked, its user
    /// typed the confirm word.
    Agent,
}
