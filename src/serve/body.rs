//! Request bodies are read here, before any handler, under a size cap and a
//! deadline for the whole body: a client that sends a body one byte at a
//! time holds its connection slot for `body_timeout` at most.

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::limits::BodyLimits;

/// Reads the body of `req` whole (within `limits`), then hands the request
/// on with the bytes read; a request without a body passes untouched.
pub(super) async fn read_body(
    State(limits): State<BodyLimits>,
    req: Request,
    next: Next,
) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    if let Some(len) = declared_length(&req)
        && len > limits.max as u64
    {
        return too_large(limits.max);
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(limits.timeout, Limited::new(body, limits.max).collect());
    match read.await {
        Ok(Ok(collected)) => {
            let req = Request::from_parts(parts, Body::from(collected.to_bytes()));
            next.run(req).await
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => too_large(limits.max),
        // The client closed or sent a malformed chunk: nobody to answer.
        Ok(Err(_)) => closing(
            StatusCode::BAD_REQUEST,
            "villa-telemetry: the request body could not be read.\n".to_owned(),
        ),
        Err(_) => closing(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "villa-telemetry: the request body did not arrive within {} s; the connection is closed.\n",
                limits.timeout.as_secs_f64()
            ),
        ),
    }
}

/// `Content-Length`, when it is one number.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(max: usize) -> Response {
    closing(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("villa-telemetry: request bodies are limited to {max} bytes.\n"),
    )
}

/// An error answer after which the connection is closed: the rest of the
/// body is not read (HTTP/2 drops the `Connection` header and resets only
/// the stream).
fn closing(status: StatusCode, message: String) -> Response {
    let mut r = (status, message).into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}
