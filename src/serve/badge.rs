//! `GET /api/badge/ENV.json` and `/api/badge/commit/SHA.json`: shields.io
//! endpoint badges from the cached report (a README or pull request shows
//! what an environment runs, and where a commit is live).
//!
//! The path names an environment or a commit; it is matched against the
//! report's ids or checked as hex, never used to build anything else.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::report::badge::{self, Badge};

/// Shields asks again after this; the report itself refreshes on its own.
const CACHE: &str = "max-age=30";

fn answer(status: StatusCode, b: &Badge) -> Response {
    let body = serde_json::to_string(b).expect("a badge serializes");
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    r
}

fn json_name(file: &str) -> Option<&str> {
    file.strip_suffix(".json").filter(|s| !s.is_empty())
}

/// `GET /api/badge/{ENV}.json`.
pub async fn environment(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    let s = state.current().await;
    let Some(id) = json_name(&file) else {
        return answer(
            StatusCode::NOT_FOUND,
            &Badge::error("badge", "use /api/badge/ENV.json"),
        );
    };
    match badge::environment(&s.report, id) {
        Some(b) => answer(StatusCode::OK, &b),
        None => answer(
            StatusCode::NOT_FOUND,
            &Badge::error("badge", "no such environment"),
        ),
    }
}

/// `GET /api/badge/commit/{SHA}.json`.
pub async fn commit(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    let s = state.current().await;
    let Some(sha) = json_name(&file) else {
        return answer(
            StatusCode::NOT_FOUND,
            &Badge::error("badge", "use /api/badge/commit/SHA.json"),
        );
    };
    match badge::commit(&s.report, sha) {
        Ok(b) => answer(StatusCode::OK, &b),
        Err(_) => answer(
            StatusCode::BAD_REQUEST,
            &Badge::error("commit", "not a commit sha (7 to 40 hex digits)"),
        ),
    }
}
