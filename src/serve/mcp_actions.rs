//! `[mcp] actions = true`: each `[[actions]]` entry as an MCP tool
//! `act_ID`, the same attempt as `act` and the dashboard's button
//! ([`crate::action::attempt`]) with the same confirm word, asked of the
//! user through the client, never taken from the agent's arguments:
//!
//! - at 2026-07-28 the call answers `input_required` with a form asking for
//!   the word; the client retries with the user's answer in `inputResponses`;
//! - at 2025-11-25 the server asks with `elicitation/create` when the
//!   client declared the capability (stdio: HTTP here is stateless, so it
//!   cannot carry a request to the client);
//! - a client that can do neither is refused and pointed to `act`.
//!
//! Every refusal and attempt is audited with `from: "agent"`. The decision
//! is made on a fresh run, like the dashboard's. Off by default: an agent
//! that also plays the client could type the word itself, so this is for
//! clients that show the question to their user.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchemaBuilder, InputRequest,
    InputRequiredResult, ProtocolVersion, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use super::AppState;
use super::actions::ActionDesk;
use crate::action::attempt::{self, Executed};
use crate::action::audit::AuditOutcome;
use crate::action::resolve::{self, Prepared, Refusal, RefusalKind};
use crate::plan::ActionPlan;

/// Tool names are this and the action's id.
pub const TOOL_PREFIX: &str = "act_";

/// The key of the confirm word in the form and in `inputResponses`.
const CONFIRM: &str = "confirm";

/// The longest the server waits for the user to answer (2025-11-25's
/// `elicitation/create`); a person typing a word, not an upstream.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(180);

/// The tools for `plan`'s actions, in declaration order.
pub fn tools(actions: &[ActionPlan]) -> Vec<Tool> {
    actions.iter().map(tool).collect()
}

fn tool(a: &ActionPlan) -> Tool {
    let instances: Vec<&str> = a.environments.iter().map(String::as_str).collect();
    let mut properties = serde_json::Map::new();
    if a.per_env() {
        properties.insert(
            "env".into(),
            json!({ "type": "string", "enum": instances, "description": "The environment to run it for" }),
        );
    }
    if a.rollback() {
        properties.insert(
            "deployment".into(),
            json!({ "type": "string", "description": "The deployment to roll back to: its id or sha, from the environment's `deployments`" }),
        );
    }
    let required: Vec<&str> = a.per_env().then_some("env").into_iter().collect();
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    let Value::Object(schema) = schema else {
        unreachable!("built as an object")
    };
    let gate = if a.gate {
        " Enabled only while the promotion gate passes."
    } else {
        ""
    };
    let description = format!(
        "Runs the action `{}` ({}). Asks the user to type the confirm word before anything is sent; refused while its `when` does not hold.{gate} Audited.",
        a.id, a.name
    );
    let mut t = Tool::new(format!("{TOOL_PREFIX}{}", a.id), description, schema);
    t.annotations = Some(
        ToolAnnotations::with_title(a.name.clone())
            .read_only(false)
            .destructive(true)
            .idempotent(false)
            .open_world(true),
    );
    t
}

/// The arguments of an action tool.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ActArgs {
    env: Option<String>,
    deployment: Option<String>,
}

/// What the user answered to the confirm question, when they did.
enum Answer {
    Typed(String),
    Declined,
}

/// Calls the action tool `request.name` (starting with [`TOOL_PREFIX`]).
pub async fn call(
    state: &Arc<AppState>,
    desk: &ActionDesk,
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let id = request.name.trim_start_matches(TOOL_PREFIX).to_owned();
    let recorder = match desk.recorder() {
        Ok(r) => r,
        Err(e) => return Ok(error(&format!("{e}; nothing was sent"))),
    };
    let args: ActArgs = match request
        .arguments
        .clone()
        .map(|a| serde_json::from_value(Value::Object(a)))
        .transpose()
    {
        Ok(a) => a.unwrap_or_default(),
        Err(e) => {
            return Ok(error(&format!(
                "`{}` takes `env` and, for a rollback, `deployment` ({e})",
                request.name
            )));
        }
    };
    let env = args.env.as_deref().filter(|e| !e.is_empty());
    let refuse = |r: Refusal, p: Option<&Prepared>| Ok(refused(&recorder.refuse(&id, env, p, r)));
    let action = match resolve::instance(&state.plan.actions, &id, env) {
        Ok(a) => a,
        Err(r) => return refuse(r, None),
    };
    let Some(_running) = desk.claim(&id) else {
        let busy = Refusal::new(
            RefusalKind::Busy,
            format!("`{id}` is already running; wait for its result"),
        );
        return refuse(busy, None);
    };
    let snapshot = state.run_started_now().await;
    let prepared = match resolve::prepare(
        action,
        env,
        args.deployment.as_deref(),
        &snapshot.report,
        &state.plan.settings.github_api_url,
        || desk.github_token(),
    ) {
        Ok(p) => p,
        Err(r) => return refuse(r, None),
    };
    let typed = match ask(&prepared, &request, &context).await {
        Asked::Answer(Answer::Typed(word)) => word,
        Asked::Answer(Answer::Declined) => {
            let no = Refusal::new(RefusalKind::Forbidden, "the user did not confirm");
            return refuse(no, Some(&prepared));
        }
        Asked::Pending(input) => return Ok(CallToolResponse::InputRequired(input)),
        Asked::Cannot(why) => {
            return refuse(Refusal::new(RefusalKind::Forbidden, why), Some(&prepared));
        }
    };
    if let Err(r) = attempt::confirm(&prepared, &typed) {
        return refuse(r, Some(&prepared));
    }
    let executed = match recorder.execute(&prepared).await {
        Ok(x) => x,
        Err(e) => return Ok(error(&e)),
    };
    let refresh = Arc::clone(state);
    tokio::spawn(async move { refresh.refresh_now().await });
    Ok(executed_answer(&prepared, executed).into())
}

/// Where asking for the word stands.
enum Asked {
    /// The user answered.
    Answer(Answer),
    /// 2026-07-28: the client must ask and call again.
    Pending(InputRequiredResult),
    /// The client cannot ask its user.
    Cannot(String),
}

/// The question the user answers.
fn question(p: &Prepared) -> ElicitRequestParams {
    let target = p.env.as_deref().unwrap_or("everything");
    let schema = ElicitationSchemaBuilder::new()
        .required_string_property(CONFIRM, |s| {
            s.description(format!("Type `{}` to confirm", p.confirm_word))
        })
        .build()
        .expect("the one required property is defined");
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "An agent asks to run `{}` for {target}: {}. Type `{}` to send it.",
            p.action,
            p.summary(),
            p.confirm_word
        ),
        requested_schema: schema,
    }
}

/// The user's answer: from the retried call's `inputResponses`, else by
/// asking now (2025-11-25), else an `input_required` answer (2026-07-28).
async fn ask(
    p: &Prepared,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Asked {
    if let Some(answer) = request
        .input_responses
        .as_ref()
        .and_then(|r| r.get(CONFIRM))
    {
        return match serde_json::from_value::<ElicitResult>(answer.clone()) {
            Ok(r) => Asked::Answer(answer_of(r)),
            Err(e) => Asked::Cannot(format!(
                "the client's answer to `{CONFIRM}` is not an elicitation result ({e})"
            )),
        };
    }
    let modern = context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    if modern {
        let mut asks = rmcp::model::InputRequests::new();
        asks.insert(
            CONFIRM.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(question(p))),
        );
        return Asked::Pending(InputRequiredResult::from_input_requests(asks));
    }
    let cannot = || {
        let how = match &p.env {
            Some(env) => format!("villa-telemetry act {} --env {env}", p.action),
            None => format!("villa-telemetry act {}", p.action),
        };
        format!(
            "this client cannot ask its user for the confirm word (it offers no elicitation on this connection); run `{how}` in a terminal"
        )
    };
    if !context
        .peer
        .supported_elicitation_modes()
        .contains(&rmcp::service::ElicitationMode::Form)
    {
        return Asked::Cannot(cannot());
    }
    match context
        .peer
        .create_elicitation_with_timeout(question(p), Some(CONFIRM_TIMEOUT))
        .await
    {
        Ok(r) => Asked::Answer(answer_of(r)),
        Err(e) => Asked::Cannot(format!("{}: {e}", cannot())),
    }
}

fn answer_of(r: ElicitResult) -> Answer {
    let typed = r
        .content
        .as_ref()
        .and_then(|c| c.get(CONFIRM))
        .and_then(Value::as_str);
    match (r.action, typed) {
        (ElicitationAction::Accept, Some(word)) => Answer::Typed(word.to_owned()),
        _ => Answer::Declined,
    }
}

/// A tool error with `message`.
fn error(message: &str) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message.to_owned())]).into()
}

/// A refusal as a tool error, with its kind for the agent.
fn refused(r: &Refusal) -> CallToolResponse {
    let body =
        json!({ "ok": false, "outcome": "refused", "refusal": r.kind, "message": r.message });
    CallToolResult::structured_error(body).into()
}

/// The upstream's answer (secrets masked by [`attempt`]), or why none came.
fn executed_answer(p: &Prepared, executed: Executed) -> CallToolResult {
    let outcome = match executed.outcome() {
        AuditOutcome::Succeeded => "succeeded",
        AuditOutcome::Failed => "failed",
        _ => "error",
    };
    let succeeded = matches!(executed.outcome(), AuditOutcome::Succeeded);
    let warning = executed.audit_error.as_ref().map(ToString::to_string);
    let body = match &executed.answer {
        Ok(a) => json!({
            "ok": a.ok(), "outcome": outcome, "status": a.status,
            "message": format!("{} answered {}", p.action, a.status),
            "answer": a.body, "audit_warning": warning,
        }),
        Err(e) => {
            json!({ "ok": false, "outcome": outcome, "message": e, "audit_warning": warning })
        }
    };
    if succeeded {
        CallToolResult::structured(body)
    } else {
        CallToolResult::structured_error(body)
    }
}
