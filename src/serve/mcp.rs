//! MCP (Model Context Protocol) server: read-only tools and two resources
//! over the same cached report `serve` shows, on stdio (`villa-telemetry
//! mcp`) or streamable HTTP (`/mcp` on `serve`, behind its Host guard).
//!
//! Every tool reads [`AppState::current`]: the report of the last run, one
//! shared run when it is older than `refresh`. A hundred calls while nothing
//! changed run nothing and cost GitHub nothing; `status {refresh: true}` is
//! the one way to force a run.

use std::sync::Arc;

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    Implementation, ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{AppState, Snapshot};
use crate::report::query::{self, CiOfCommit, Compared, Deployed};
use crate::report::{Assessment, Report, only_environments};

/// URI of the report as JSON.
pub const STATUS_JSON: &str = "villa://status.json";
/// URI of the report as plain text.
pub const STATUS_TXT: &str = "villa://status.txt";

/// The MCP server: tools over one shared [`AppState`].
#[derive(Clone)]
pub struct Telemetry {
    state: Arc<AppState>,
}

/// Arguments of `status`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct StatusArgs {
    /// Only this environment's part (an id from the config, e.g. "staging").
    #[serde(default)]
    pub env: Option<String>,
    /// Re-check everything before answering instead of using the cached report.
    #[serde(default)]
    pub refresh: Option<bool>,
}

/// Arguments of `deployed`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DeployedArgs {
    /// The commit (7 to 40 hex digits); local HEAD when left out.
    #[serde(default)]
    pub sha: Option<String>,
}

/// Arguments of `compare`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CompareArgs {
    /// The environment to compare, e.g. "production".
    pub environment: String,
    /// What to compare it with; the environment it `tracks` when left out.
    #[serde(default)]
    pub tracked: Option<String>,
}

/// Arguments of `ci`: a commit, or an environment (its running commit).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CiArgs {
    /// The commit; local HEAD when neither this nor `environment` is given.
    #[serde(default)]
    pub sha: Option<String>,
    /// An environment: the CI of the commit it runs.
    #[serde(default)]
    pub environment: Option<String>,
}

impl Telemetry {
    /// A server answering from `state`'s cached report.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    async fn snapshot(&self, refresh: bool) -> Arc<Snapshot> {
        if refresh {
            self.state.refresh_now().await
        } else {
            self.state.current().await
        }
    }
}

#[tool_router]
impl Telemetry {
    /// The whole report (environments, CI, drift, local repository, checks,
    /// assessment), or one environment's part with `env`.
    #[tool(
        name = "status",
        annotations(
            title = "Infrastructure status",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn status(
        &self,
        Parameters(args): Parameters<StatusArgs>,
    ) -> Result<Json<Report>, String> {
        let s = self.snapshot(args.refresh.unwrap_or(false)).await;
        match args.env.as_deref() {
            None => Ok(Json(Report::clone(&s.report))),
            Some(id) if s.report.environments.contains_key(id) => {
                Ok(Json(only_environments(&s.report, &[id.to_owned()])))
            }
            Some(id) => Err(format!(
                "no environment `{id}` (known: {})",
                s.report
                    .environments
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Where a commit runs (default: local HEAD): per environment true, false
    /// or null (unknown), each with a sentence.
    #[tool(
        name = "deployed",
        annotations(
            title = "Where is this commit deployed",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn deployed(
        &self,
        Parameters(args): Parameters<DeployedArgs>,
    ) -> Result<Json<Deployed>, String> {
        let s = self.snapshot(false).await;
        query::deployed(&s.report, args.sha.as_deref()).map(Json)
    }

    /// How an environment compares with the one it tracks: commits behind and
    /// ahead, the commits in between (sha, message, author), the diff URL.
    #[tool(
        name = "compare",
        annotations(
            title = "Compare two environments",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn compare(
        &self,
        Parameters(args): Parameters<CompareArgs>,
    ) -> Result<Json<Compared>, String> {
        let s = self.snapshot(false).await;
        query::compare(&s.report, &args.environment, args.tracked.as_deref()).map(Json)
    }

    /// CI of a commit (or of what an environment runs; local HEAD by
    /// default): the combined status and check-run counts with a link, and
    /// the workflow runs on it.
    #[tool(
        name = "ci",
        annotations(
            title = "CI of a commit",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn ci(&self, Parameters(args): Parameters<CiArgs>) -> Result<Json<CiOfCommit>, String> {
        let s = self.snapshot(false).await;
        query::ci(&s.report, args.sha.as_deref(), args.environment.as_deref()).map(Json)
    }

    /// The assessment: a one-sentence headline, local HEAD and where it is
    /// deployed, what is broken and whether that is infrastructure, code or
    /// config, and the next steps in order, each with a reason and a link.
    #[tool(
        name = "next_steps",
        annotations(
            title = "What should I do next",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn next_steps(&self) -> Json<Assessment> {
        let s = self.snapshot(false).await;
        Json(s.report.assessment.clone())
    }
}

fn resource(uri: &str, name: &str, mime: &str, description: &str) -> Resource {
    Resource::new(uri, name)
        .with_mime_type(mime)
        .with_description(description)
}

#[tool_handler]
impl ServerHandler for Telemetry {
    fn get_info(&self) -> ServerConfig {
        let mut config = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        );
        config.server_info = Implementation::new("villa-telemetry", env!("CARGO_PKG_VERSION"));
        config.instructions = Some(
            "Read-only infrastructure status: what each environment runs, drift, CI, what is broken. \
             Start with `next_steps`; `status` has everything; `deployed`, `compare` and `ci` answer one question each. \
             Answers come from the cached report (free); `status {refresh: true}` re-checks."
                .into(),
        );
        config
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            resource(
                STATUS_JSON,
                "status.json",
                "application/json",
                "The report as JSON (the `status` tool's answer)",
            ),
            resource(
                STATUS_TXT,
                "status.txt",
                "text/plain",
                "The report as plain text, for people and short contexts",
            ),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let s = self.snapshot(false).await;
        let (body, mime) = match request.uri.as_str() {
            STATUS_JSON => (&s.json, "application/json"),
            STATUS_TXT => (&s.text, "text/plain"),
            other => {
                return Err(ErrorData::resource_not_found(
                    format!("no resource {other}; there are {STATUS_JSON} and {STATUS_TXT}"),
                    None,
                ));
            }
        };
        let text = String::from_utf8_lossy(body).into_owned();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri.clone()).with_mime_type(mime),
        ])
        .into())
    }
}

/// `/mcp` on `serve`: streamable HTTP, stateless, plain JSON answers (no
/// long-lived streams to hold graceful shutdown).
pub fn http_service(
    state: &Arc<AppState>,
) -> StreamableHttpService<Telemetry, LocalSessionManager> {
    let state = Arc::clone(state);
    // serve's own Host guard sits in front of this route with serve's exact
    // list; a second, differently spelled list here could only disagree.
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .disable_allowed_hosts();
    StreamableHttpService::new(
        move || Ok(Telemetry::new(Arc::clone(&state))),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// Answers MCP on stdin/stdout until the client closes it.
pub async fn serve_stdio(state: Arc<AppState>) -> Result<(), String> {
    use rmcp::ServiceExt;
    let running = Telemetry::new(state)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP over stdio: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("MCP over stdio: {e}"))?;
    Ok(())
}
