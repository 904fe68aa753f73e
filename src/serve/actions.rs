//! `POST /api/actions/ID`, and the per-process desk behind it.
//!
//! Only with `[serve] actions = true`. A request must come from the page
//! itself: `Sec-Fetch-Site` (when sent) is `same-origin`, `Origin` names the
//! host it was sent to, the per-process token embedded in the page is in
//! `X-Villa-Csrf`, and the body is JSON `{ "env": …, "confirm": … }`. One run
//! at a time per action. Every refusal is audited like the CLI's. A rollback's
//! body also names `deployment` (its id); it is looked up again in the fresh
//! report, and one that is no longer offered is refused with 409.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::action::Origin;
use crate::action::attempt::{self, Recorder};
use crate::action::audit::{self, AuditOutcome};
use crate::action::buttons::{self, ActionsView};
use crate::action::resolve::{self, Refusal, RefusalKind};
use crate::plan::Plan;
use crate::report::Report;

/// Header that carries the page's token.
pub const CSRF_HEADER: &str = "x-villa-csrf";

/// Per-process state of the actions endpoint.
pub struct ActionDesk {
    token: String,
    recorder: Result<Recorder, String>,
    running: Mutex<HashSet<String>>,
    github_token: OnceLock<Option<String>>,
}

impl std::fmt::Debug for ActionDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionDesk").finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
struct ActBody {
    env: Option<String>,
    confirm: Option<String>,
    /// A rollback's deployment: its id (number or string) or sha.
    deployment: Option<serde_json::Value>,
}

impl ActBody {
    /// The deployment as text, whether the page sent a number or a string.
    fn deployment(&self) -> Option<String> {
        match self.deployment.as_ref()? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// An action marked running; unmarked when dropped.
pub(super) struct Running<'a> {
    desk: &'a ActionDesk,
    id: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.desk
            .running
            .lock()
            .expect("not poisoned")
            .remove(&self.id);
    }
}

impl ActionDesk {
    /// A desk with a fresh random token, auditing attempts as from `origin`
    /// (the dashboard's, or MCP's).
    pub fn new(plan: &Plan, origin: Origin) -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let recorder =
            audit::path_for(plan.actions.audit_path.as_deref()).map(|audit_path| Recorder {
                audit_path,
                origin,
                who: audit::who(&plan.base_dir),
            });
        ActionDesk {
            token,
            recorder,
            running: Mutex::new(HashSet::new()),
            github_token: OnceLock::new(),
        }
    }

    /// The token the page sends back.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Where attempts are audited, or why the audit log cannot be found.
    pub(super) fn recorder(&self) -> Result<&Recorder, &str> {
        self.recorder.as_ref().map_err(String::as_str)
    }

    pub(super) fn github_token(&self) -> Option<String> {
        self.github_token
            .get_or_init(|| crate::probe::github::GithubClient::resolve_token().map(|(t, _)| t))
            .clone()
    }

    /// Buttons for `report`, each enabled or with the reason it is not.
    pub fn view(&self, plan: &Plan, report: &Report) -> ActionsView {
        buttons::view(plan, report, &self.token, || self.github_token())
    }
}

fn answer(
    status: StatusCode,
    ok: bool,
    outcome: &str,
    message: String,
    extra: serde_json::Value,
) -> Response {
    let mut body = json!({ "ok": ok, "outcome": outcome, "message": message });
    if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            b.insert(k.clone(), v.clone());
        }
    }
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

fn status_of(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::UnknownAction | RefusalKind::Environment => StatusCode::NOT_FOUND,
        RefusalKind::Disabled | RefusalKind::Unresolved => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalKind::Forbidden => StatusCode::FORBIDDEN,
        // The page showed a deployment the fresh report no longer offers.
        RefusalKind::Busy | RefusalKind::Deployment => StatusCode::CONFLICT,
    }
}

fn refused(r: &Refusal) -> Response {
    answer(
        status_of(r.kind),
        false,
        "refused",
        r.message.clone(),
        json!({ "refusal": r.kind }),
    )
}

/// Why a request does not come from our own page, if it does not.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site")
        && site != "same-origin"
    {
        return Some(format!(
            "cross-site request refused (Sec-Fetch-Site: {site})"
        ));
    }
    let Some(origin) = get("origin") else {
        return Some(
            "request without an Origin header refused: actions run only from the dashboard page"
                .into(),
        );
    };
    let host = get("host").unwrap_or("");
    let same = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host));
    if !same {
        return Some(format!("cross-origin request refused (Origin: {origin})"));
    }
    None
}

/// Why a request is not a well-formed one from our own page: not same-origin,
/// the wrong CSRF token, or not JSON. `parsed` is the body, when it parsed.
fn check_request(
    desk: &ActionDesk,
    headers: &HeaderMap,
    parsed: Option<ActBody>,
) -> Result<ActBody, String> {
    if let Some(why) = cross_site(headers) {
        return Err(why);
    }
    let sent_token = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(sent_token.ct_eq(desk.token.as_bytes())) {
        return Err("missing or wrong CSRF token: reload the dashboard and try again".into());
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    parsed.filter(|_| is_json).ok_or_else(|| {
        "the body must be JSON (Content-Type: application/json) like {\"env\": \"production\", \"confirm\": \"production\"}".into()
    })
}

impl ActionDesk {
    /// Marks `id` running, or None when it already is.
    pub(super) fn claim(&self, id: &str) -> Option<Running<'_>> {
        let mut running = self.running.lock().expect("not poisoned");
        running.insert(id.to_owned()).then(|| Running {
            desk: self,
            id: id.to_owned(),
        })
    }
}

/// `POST /api/actions/{id}`.
pub async fn post_action(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(desk) = state.actions.clone() else {
        return answer(
            StatusCode::NOT_FOUND,
            false,
            "refused",
            "actions are off: set `[serve] actions = true`".into(),
            json!({}),
        );
    };
    let recorder = match &desk.recorder {
        Ok(r) => r,
        Err(e) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
                "error",
                format!("{e}; nothing was sent"),
                json!({}),
            );
        }
    };
    let parsed: Option<ActBody> = serde_json::from_slice(&body).ok();
    let env = parsed.as_ref().and_then(|b| b.env.clone());
    let env = env.as_deref().filter(|e| !e.is_empty());
    let refuse = |kind: RefusalKind, msg: String| {
        let r = recorder.refuse(&id, env, None, Refusal::new(kind, msg));
        refused(&r)
    };
    let body = match check_request(&desk, &headers, parsed) {
        Ok(b) => b,
        Err(why) => return refuse(RefusalKind::Forbidden, why),
    };
    let action = match resolve::instance(&state.plan.actions, &id, env) {
        Ok(a) => a,
        Err(r) => return refused(&recorder.refuse(&id, env, None, r)),
    };
    let Some(_running) = desk.claim(&id) else {
        return refuse(
            RefusalKind::Busy,
            format!("`{id}` is already running; wait for its result"),
        );
    };
    // Decide on a fresh report, not on what the page happened to show, nor
    // on a run that was already reading its upstreams when this came in.
    let snapshot = state.run_started_now().await;
    let deployment = body.deployment();
    let prepared = match resolve::prepare(
        action,
        env,
        deployment.as_deref(),
        &snapshot.report,
        &state.plan.settings.github_api_url,
        || desk.github_token(),
    ) {
        Ok(p) => p,
        Err(r) => return refused(&recorder.refuse(&id, env, None, r)),
    };
    if let Err(r) = attempt::confirm(&prepared, body.confirm.as_deref().unwrap_or("")) {
        return refused(&recorder.refuse(&id, env, Some(&prepared), r));
    }
    let executed = match recorder.execute(&prepared).await {
        Ok(x) => x,
        Err(e) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
                "error",
                e,
                json!({}),
            );
        }
    };
    let refresh = Arc::clone(&state);
    tokio::spawn(async move { refresh.refresh_now().await });
    executed_answer(&prepared.action, executed)
}

/// The answer for an action that was sent: the upstream's status and body,
/// or why it could not be reached, with any audit warning.
fn executed_answer(action: &str, executed: attempt::Executed) -> Response {
    let outcome = match executed.outcome() {
        AuditOutcome::Succeeded => "succeeded",
        AuditOutcome::Failed => "failed",
        _ => "error",
    };
    let mut note = executed
        .audit_error
        .map(|e| format!(" (warning: {e})"))
        .unwrap_or_default();
    match executed.answer {
        Ok(a) => {
            let ok = a.ok();
            if !ok {
                note.insert_str(0, " — the upstream refused it");
            }
            answer(
                if ok {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_GATEWAY
                },
                ok,
                outcome,
                format!("{action} answered {}{note}", a.status),
                json!({ "status": a.status, "answer": a.body }),
            )
        }
        Err(e) => answer(
            StatusCode::BAD_GATEWAY,
            false,
            outcome,
            format!("{e}{note}"),
            json!({}),
        ),
    }
}
