//! MCP (Model Context Protocol) server: read-only tools and a few resources
//! over the same cached report `serve` shows, on stdio (`villa-telemetry
//! mcp`) or streamable HTTP (`/mcp` on `serve`, behind its Host guard).
//!
//! `tools/list` stays under [`TOOLS_LIST_BYTES`]: an output schema longer
//! than [`INLINE_OUTPUT_SCHEMA_BYTES`] is listed as its top-level members
//! only, and served whole as a resource (`villa://schema.json` for the
//! report, `villa://schema/TOOL.json` for the others). Inlined, the report's
//! schema alone was 29 KB of every agent's context.
//!
//! Every tool reads [`AppState::current`]: the report of the last run, one
//! shared run when it is older than `refresh`. A hundred calls while nothing
//! changed run nothing and cost GitHub nothing; `status {refresh: true}` is
//! the one way to force a run.

use std::sync::{Arc, OnceLock};

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CacheScope, Implementation, JsonObject, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{AppState, Snapshot};
use crate::outcome::JourneyAsk;
use crate::redact::Redactor;
use crate::report::journey::Journey;
use crate::report::query::{self, CiOfCommit, Compared, Deployed, Diagnosis, Environments};
use crate::report::{Assessment, Report, only_environments, schema};

/// URI of the report as JSON.
pub const STATUS_JSON: &str = "villa://status.json";
/// URI of the report as plain text.
pub const STATUS_TXT: &str = "villa://status.txt";
/// URI of the report's JSON Schema (the `status` tool's output schema), the
/// same document as `GET /api/telemetry/schema.json`.
pub const SCHEMA_JSON: &str = "villa://schema.json";

/// The most `tools/list` may weigh, as JSON: what every agent reads first.
pub const TOOLS_LIST_BYTES: usize = 8192;

/// How long a client may keep `tools/list` (2026-07-28 cache hint): the
/// tools are fixed for the life of the process, so an hour only bounds how
/// long a client keeps a list from before an upgrade.
pub const TOOLS_LIST_TTL_MS: u64 = 3_600_000;

/// An output schema up to this long is listed whole; a longer one is cut
/// to its top-level members and served whole as a resource.
pub const INLINE_OUTPUT_SCHEMA_BYTES: usize = 1024;

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

/// Arguments of `diagnose`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DiagnoseArgs {
    /// The environment to diagnose, e.g. "staging".
    pub environment: String,
}

/// Arguments of `journey`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct JourneyArgs {
    /// A commit or "#PR"; local HEAD when left out.
    #[serde(default)]
    pub sha: Option<String>,
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

/// A tool's answer with how fresh it is: every tool answers from one cached
/// report, and an agent deciding whether to call `status {refresh: true}`
/// needs its age without reading the whole report.
#[derive(Debug, serde::Serialize, JsonSchema)]
pub struct Stamped<T> {
    /// The answer.
    #[serde(flatten)]
    pub answer: T,
    /// When the report this answer comes from finished its run (RFC 3339).
    pub observed_at: chrono::DateTime<chrono::Utc>,
    /// Seconds since `observed_at` when the answer was sent (0 when the
    /// clock went back).
    pub age_s: u64,
}

impl<T> Stamped<T> {
    /// `answer` as of `report`'s run.
    fn of(report: &Report, answer: T) -> Json<Self> {
        let age = chrono::Utc::now().signed_duration_since(report.timestamp);
        Json(Stamped {
            answer,
            observed_at: report.timestamp,
            age_s: u64::try_from(age.num_seconds()).unwrap_or(0),
        })
    }
}

impl Telemetry {
    /// A server answering from `state`'s cached report.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    async fn snapshot(&self, refresh: bool) -> Arc<Snapshot> {
        if refresh {
            self.state.refresh_limited().await
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
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn status(
        &self,
        Parameters(args): Parameters<StatusArgs>,
    ) -> Result<Json<Stamped<Report>>, String> {
        let s = self.snapshot(args.refresh.unwrap_or(false)).await;
        match args.env.as_deref() {
            None => Ok(Stamped::of(&s.report, Report::clone(&s.report))),
            Some(id) if s.report.environments.contains_key(id) => Ok(Stamped::of(
                &s.report,
                only_environments(&s.report, &[id.to_owned()]),
            )),
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
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn deployed(
        &self,
        Parameters(args): Parameters<DeployedArgs>,
    ) -> Result<Json<Stamped<Deployed>>, String> {
        let s = self.snapshot(false).await;
        query::deployed(&s.report, args.sha.as_deref()).map(|a| Stamped::of(&s.report, a))
    }

    /// How an environment compares with the one it tracks: commits behind and
    /// ahead, the commits in between (sha, message, author), the diff URL.
    #[tool(
        name = "compare",
        annotations(
            title = "Compare two environments",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn compare(
        &self,
        Parameters(args): Parameters<CompareArgs>,
    ) -> Result<Json<Stamped<Compared>>, String> {
        let s = self.snapshot(false).await;
        query::compare(&s.report, &args.environment, args.tracked.as_deref())
            .map(|a| Stamped::of(&s.report, a))
    }

    /// CI of a commit (or of what an environment runs; local HEAD by
    /// default): the combined status and check-run counts with a link, and
    /// the workflow runs on it.
    #[tool(
        name = "ci",
        annotations(
            title = "CI of a commit",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn ci(
        &self,
        Parameters(args): Parameters<CiArgs>,
    ) -> Result<Json<Stamped<CiOfCommit>>, String> {
        let s = self.snapshot(false).await;
        query::ci(&s.report, args.sha.as_deref(), args.environment.as_deref())
            .map(|a| Stamped::of(&s.report, a))
    }

    /// The assessment: a one-sentence headline, local HEAD and where it is
    /// deployed, what is broken and whether that is infrastructure, code or
    /// config, and the next steps in order, each with a reason and a link.
    #[tool(
        name = "next_steps",
        annotations(
            title = "What should I do next",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn next_steps(&self) -> Json<Stamped<Assessment>> {
        let s = self.snapshot(false).await;
        Stamped::of(&s.report, s.report.assessment.clone())
    }

    /// What runs where, in one call: per environment its status, commit and
    /// version (its last known commit while it reports none), how it stands
    /// against the environment it tracks (behind_by, ahead_by, the diff
    /// URL), and the deploy under way to it.
    #[tool(
        name = "environments",
        annotations(
            title = "What runs where",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn environments(&self) -> Json<Stamped<Environments>> {
        let s = self.snapshot(false).await;
        Stamped::of(&s.report, query::environments(&s.report))
    }

    /// "My code or the infrastructure?" for one environment: its broken
    /// checks with cause, confidence, evidence and the rules that matched,
    /// when it began failing, its last good commit, the suspect commits,
    /// its newest timeline events and the next steps that concern it.
    /// A healthy environment answers `healthy: true`.
    #[tool(
        name = "diagnose",
        annotations(
            title = "Why is this environment broken",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn diagnose(
        &self,
        Parameters(args): Parameters<DiagnoseArgs>,
    ) -> Result<Json<Stamped<Diagnosis>>, String> {
        let s = self.snapshot(false).await;
        query::diagnose(&s.report, &args.environment).map(|a| Stamped::of(&s.report, a))
    }

    /// Where a commit is: per environment live since when, or the deploy
    /// bringing it and when.
    #[tool(
        name = "journey",
        annotations(
            title = "Where is my commit",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn journey(
        &self,
        Parameters(args): Parameters<JourneyArgs>,
    ) -> Result<Json<Stamped<Journey>>, String> {
        let ask = JourneyAsk::parse(args.sha.as_deref())?;
        let s = self.snapshot(false).await;
        let mut report = Report::clone(&s.report);
        let state = &self.state;
        let journey =
            crate::pipeline::journey(&state.plan, state.services(), &mut report, ask).await;
        Ok(Stamped::of(&s.report, journey))
    }
}

/// The resource holding `tool`'s whole output schema when `tools/list`
/// carries only its members: the report's schema for `status`.
fn schema_uri(tool: &str) -> String {
    if tool == "status" {
        SCHEMA_JSON.to_owned()
    } else {
        format!("villa://schema/{tool}.json")
    }
}

/// `schema` (an output schema) as `tools/list` carries it: whole when short,
/// else an object schema naming its top-level members and required ones,
/// and where the whole schema is. Every answer that fits the whole schema
/// fits this one.
fn listed_output_schema(tool: &str, schema: &JsonObject) -> JsonObject {
    let whole = serde_json::to_string(schema).map_or(usize::MAX, |s| s.len());
    if whole <= INLINE_OUTPUT_SCHEMA_BYTES {
        return schema.clone();
    }
    let uri = schema_uri(tool);
    let also = if tool == "status" {
        " (on `serve`, also GET /api/telemetry/schema.json)"
    } else {
        ""
    };
    let members: serde_json::Map<String, serde_json::Value> = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .into_iter()
        .flat_map(|p| p.keys())
        .map(|k| (k.clone(), serde_json::json!({})))
        .collect();
    let mut cut = serde_json::json!({
        "type": "object",
        "description": format!("Top-level members only; the whole JSON Schema is the resource {uri}{also}"),
        "properties": members,
    });
    if let Some(required) = schema.get("required") {
        cut["required"] = required.clone();
    }
    match cut {
        serde_json::Value::Object(o) => o,
        _ => unreachable!("built as an object"),
    }
}

/// The text of schema resource `uri`, when it is one.
fn schema_text(uri: &str) -> Option<String> {
    static REPORT: OnceLock<String> = OnceLock::new();
    if uri == SCHEMA_JSON {
        return Some(REPORT.get_or_init(schema::report_schema_json).clone());
    }
    cut_schemas()
        .iter()
        .find(|(u, _)| u == uri)
        .map(|(_, text)| text.clone())
}

/// The tools as `tools/list` answers them, built once.
fn listed_tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        Telemetry::tool_router()
            .list_all()
            .into_iter()
            .map(|mut t| {
                if let Some(out) = &t.output_schema {
                    t.output_schema = Some(Arc::new(listed_output_schema(&t.name, out)));
                }
                t
            })
            .collect()
    })
}

/// The whole output schemas `tools/list` cut, by resource URI; the report's
/// own schema (for `status`) is [`SCHEMA_JSON`], served from
/// [`schema::report_schema_json`].
fn cut_schemas() -> &'static [(String, String)] {
    static CUT: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CUT.get_or_init(|| {
        Telemetry::tool_router()
            .list_all()
            .into_iter()
            .filter(|t| t.name != "status")
            .filter_map(|t| {
                let out = t.output_schema.as_ref()?;
                let compact = serde_json::to_string(out.as_ref()).ok()?;
                if compact.len() <= INLINE_OUTPUT_SCHEMA_BYTES {
                    return None;
                }
                let mut text = serde_json::to_string_pretty(out.as_ref()).ok()?;
                text.push('\n');
                Some((schema_uri(&t.name), text))
            })
            .collect()
    })
}

/// How rmcp starts the message of arguments that do not fit a tool's type.
const ARGUMENT_ERROR: &str = "failed to deserialize parameters:";

/// One sentence naming a tool's arguments and the values they take, for
/// arguments that did not fit (a missing `environment`, `refresh: "yes"`).
fn usage(tool: &str, envs: &[&str]) -> String {
    let envs = envs.join(", ");
    match tool {
        "status" => format!(
            "`status` takes `env` (optional: one of {envs}) and `refresh` (optional: true or false)"
        ),
        "deployed" => {
            "`deployed` takes `sha` (optional: 7 to 40 hex digits; default local HEAD)".to_owned()
        }
        "compare" => format!(
            "`compare` needs `environment` (one of {envs}) and takes `tracked` (optional: one of {envs}; default what it tracks)"
        ),
        "ci" => format!(
            "`ci` takes `sha` (optional: 7 to 40 hex digits) or `environment` (optional: one of {envs})"
        ),
        "diagnose" => format!("`diagnose` needs `environment` (one of {envs})"),
        "environments" => {
            format!("`environments` takes no arguments; it answers for every environment ({envs})")
        }
        other => format!("`{other}` takes no arguments"),
    }
}

fn resource(uri: &str, name: &str, mime: &str, description: &str) -> Resource {
    Resource::new(uri, name)
        .with_mime_type(mime)
        .with_description(description)
}

/// Characters of an argument an error repeats; the rest is cut.
const ECHO_CHARS: usize = 200;

/// Characters of any one error message, whatever it repeats.
const MESSAGE_CHARS: usize = 2000;

/// `value` as an error may repeat it: whole when short, else its first
/// [`ECHO_CHARS`] characters and how long it was.
fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_CHARS) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}… (cut, {} bytes)", &value[..end], value.len()),
    }
}

/// The string values in `args` (at any depth) too long to repeat whole.
fn long_strings(args: Option<&rmcp::model::JsonObject>, out: &mut Vec<String>) {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if s.chars().nth(ECHO_CHARS).is_some() => {
                out.push(s.clone());
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    for v in args.into_iter().flat_map(|a| a.values()) {
        walk(v, out);
    }
}

/// An error `message` about a call whose long arguments are `long`: masked
/// first (a secret pasted into an argument stays hidden), then every repeat
/// of a long argument — as sent, or escaped the way serde quotes it — cut by
/// [`echo`]; then the whole bounded.
fn bounded(redactor: &Redactor, message: &str, long: &[String]) -> String {
    let mut text = redactor.redact(message).into_owned();
    for value in long {
        let value = redactor.redact(value).into_owned();
        let quoted = format!("{value:?}");
        let escaped = &quoted[1..quoted.len() - 1];
        for form in [value.as_str(), escaped] {
            if text.contains(form) {
                text = text.replace(form, &echo(form));
            }
        }
    }
    crate::redact::shorten(&text, MESSAGE_CHARS)
}

impl Telemetry {
    /// [`bounded`] under the run's secrets.
    fn bounded(&self, message: &str, long: &[String]) -> String {
        bounded(self.state.redactor(), message, long)
    }
}

#[tool_handler]
impl ServerHandler for Telemetry {
    /// The tool router's answer, with arguments repeated in an error cut
    /// short: a 2 MB argument must not come back as a 2 MB error.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        if let Some(id) = request.name.strip_prefix(super::mcp_actions::TOOL_PREFIX) {
            match &self.state.agent_actions {
                Some(desk) => {
                    return super::mcp_actions::call(&self.state, desk, request, context).await;
                }
                None if self.state.plan.actions.get(id).is_some() => {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "`{}` is not a tool: actions are MCP tools only with `[mcp] actions = true`; `villa-telemetry act {id}` runs it",
                            request.name
                        ),
                        None,
                    ));
                }
                None => {}
            }
        }
        let mut long = Vec::new();
        long_strings(request.arguments.as_ref(), &mut long);
        let tool = request.name.to_string();
        let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        match Self::tool_router().call(call).await {
            Ok(rmcp::model::CallToolResponse::Complete(mut result))
                if result.is_error == Some(true) =>
            {
                for block in &mut result.content {
                    if let rmcp::model::ContentBlock::Text(text) = block {
                        if let Some(serde) = text.text.strip_prefix(ARGUMENT_ERROR) {
                            let envs = self.snapshot(false).await;
                            let envs: Vec<&str> = envs
                                .report
                                .environments
                                .keys()
                                .map(String::as_str)
                                .collect();
                            text.text = format!("{} ({})", usage(&tool, &envs), serde.trim());
                        }
                        text.text = self.bounded(&text.text, &long);
                    }
                }
                Ok(result.into())
            }
            Ok(answer) => Ok(answer),
            Err(mut e) => {
                e.message = self.bounded(&e.message, &long).into();
                e.data = None;
                Err(e)
            }
        }
    }

    /// The tools with long output schemas cut ([`listed_tools`]), and the
    /// cache hints rmcp's generated `list_tools` would give.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = listed_tools().to_vec();
        if self.state.agent_actions.is_some() {
            tools.extend(super::mcp_actions::tools(&self.state.plan.actions.list));
        }
        let mut result = ListToolsResult::with_all_items(tools);
        if context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
        {
            result.ttl_ms = Some(TOOLS_LIST_TTL_MS);
            result.cache_scope = Some(CacheScope::Public);
        }
        Ok(result)
    }

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
             Start with `next_steps`; `environments` says what runs where (commit, drift, running deploy) in one call; \
             `diagnose {environment}` says whether a broken one is code or infrastructure, with evidence; \
             `status` has everything; `deployed`, `compare` and `ci` answer one question each. \
             Answers come from the cached report (free); `status {refresh: true}` re-checks. \
             Output schemas too long to list are the resources villa://schema.json (the report) and villa://schema/TOOL.json."
                .into(),
        );
        config
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut all = vec![
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
            resource(
                SCHEMA_JSON,
                "schema.json",
                "application/schema+json",
                "JSON Schema (2020-12) of the report: the `status` tool's output, every status word with its meaning",
            ),
        ];
        for (uri, _) in cut_schemas() {
            let name = uri.trim_start_matches("villa://");
            let tool = name.trim_start_matches("schema/").trim_end_matches(".json");
            all.push(resource(
                uri,
                name,
                "application/schema+json",
                &format!(
                    "JSON Schema of the `{tool}` tool's output (tools/list lists its members only)"
                ),
            ));
        }
        Ok(ListResourcesResult::with_all_items(all))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.as_str();
        if let Some(text) = schema_text(uri) {
            return Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type("application/schema+json"),
            ])
            .into());
        }
        let s = self.snapshot(false).await;
        let (body, mime) = match uri {
            STATUS_JSON => (&s.json, "application/json"),
            STATUS_TXT => (&s.text, "text/plain"),
            other => {
                let mut known = vec![STATUS_JSON, STATUS_TXT, SCHEMA_JSON];
                known.extend(cut_schemas().iter().map(|(u, _)| u.as_str()));
                let message = format!("no resource {other}; there are {}", known.join(", "));
                let long = [other.to_owned()];
                return Err(ErrorData::resource_not_found(
                    self.bounded(&message, &long),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_argument_is_masked_then_cut_wherever_it_is_repeated() {
        let secret = "s3cret-token-value";
        let redactor = Redactor::new([secret]);
        let arg = format!("{secret}\n{}", "y".repeat(5000));
        let mut long = Vec::new();
        let args = serde_json::json!({ "env": arg, "deep": [{ "x": arg }], "short": "ok" });
        long_strings(args.as_object(), &mut long);
        assert_eq!(long.len(), 2);
        // As sent, and as serde quotes it (the newline escaped).
        for message in [
            format!("no environment `{arg}`"),
            format!("invalid type: string {arg:?}, expected a boolean"),
        ] {
            let out = bounded(&redactor, &message, &long);
            assert!(!out.contains(secret), "{out}");
            assert!(out.contains("(cut, "), "{out}");
            assert!(out.len() < 400, "{} bytes", out.len());
        }
        assert_eq!(echo("short"), "short");
        assert_eq!(echo(&"é".repeat(200)), "é".repeat(200));
        assert!(echo(&"é".repeat(201)).ends_with("… (cut, 402 bytes)"));
        // A long message that repeats no argument is still bounded.
        let out = bounded(&Redactor::new::<&str>([]), &"z".repeat(10_000), &[]);
        assert_eq!(out.chars().count(), MESSAGE_CHARS);
    }

    /// `tools/list` was 49 KB, 29 KB of it the report's schema (issue 19).
    #[test]
    fn tools_list_stays_under_8_kb_and_every_cut_schema_is_a_resource() {
        let listed =
            serde_json::to_string(&ListToolsResult::with_all_items(listed_tools().to_vec()))
                .unwrap();
        assert!(
            listed.len() < TOOLS_LIST_BYTES,
            "tools/list is {} bytes",
            listed.len()
        );
        let whole = Telemetry::tool_router().list_all();
        assert_eq!(whole.len(), listed_tools().len());
        let before =
            serde_json::to_string(&ListToolsResult::with_all_items(whole.clone())).unwrap();
        eprintln!(
            "tools/list: {} bytes (all schemas inline: {})",
            listed.len(),
            before.len()
        );
        for t in listed_tools() {
            eprintln!(
                "  {}: {} bytes",
                t.name,
                serde_json::to_string(t).unwrap().len()
            );
        }
        let mut cut = 0;
        for (w, l) in whole.iter().zip(listed_tools()) {
            let (w_out, l_out) = (
                w.output_schema.as_ref().unwrap(),
                l.output_schema.as_ref().unwrap(),
            );
            if w_out == l_out {
                assert!(serde_json::to_string(w_out).unwrap().len() <= INLINE_OUTPUT_SCHEMA_BYTES);
                continue;
            }
            cut += 1;
            let uri = schema_uri(&w.name);
            let says = l_out["description"].as_str().unwrap();
            assert!(says.contains(&uri), "{}: {says}", w.name);
            let served: serde_json::Value =
                serde_json::from_str(&schema_text(&uri).unwrap()).unwrap();
            if w.name == "status" {
                assert_eq!(served, schema::report_schema());
            } else {
                assert_eq!(
                    served,
                    serde_json::Value::Object(w_out.as_ref().clone()),
                    "{uri}"
                );
            }
            // The cut schema names every top-level member and keeps `required`.
            assert_eq!(
                l_out["properties"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .collect::<Vec<_>>(),
                w_out["properties"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .collect::<Vec<_>>(),
            );
            assert_eq!(l_out.get("required"), w_out.get("required"), "{}", w.name);
        }
        // Every answer carries `observed_at` and `age_s` (issue 21), which put
        // each whole schema over the inline limit; a short one stays whole.
        assert!(cut >= 1, "{cut} of {} cut", whole.len());
        let short = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(
            listed_output_schema("x", short.as_object().unwrap()),
            *short.as_object().unwrap()
        );
        assert!(schema_text("villa://schema/nope.json").is_none());
    }
}
