//! Headers every answer carries, whatever the route or the error: no page
//! of ours may be framed by another site (clickjacking a dashboard whose
//! buttons run actions), and no answer is content-sniffed into a type it
//! does not declare.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The CSP directive that forbids framing.
const FRAME_ANCESTORS: &str = "frame-ancestors 'none'";

/// The same headers as raw HTTP/1 lines, for the 503 written to a socket
/// that is never served.
pub(super) const RAW: &str = "x-frame-options: DENY\r\nx-content-type-options: nosniff\r\ncontent-security-policy: frame-ancestors 'none'\r\n";

/// Adds the headers to whatever the routes answered.
pub(super) async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    add(r.headers_mut());
    r
}

/// `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, and
/// `frame-ancestors 'none'` in the Content-Security-Policy (added to the
/// directives one already has, never replacing them).
pub(super) fn add(h: &mut HeaderMap) {
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let csp = merged_csp(h.get(header::CONTENT_SECURITY_POLICY));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
}

/// `existing` with its `frame-ancestors` directive (if any) replaced by
/// `frame-ancestors 'none'`, every other directive kept in order.
fn merged_csp(existing: Option<&HeaderValue>) -> HeaderValue {
    let Some(text) = existing.and_then(|v| v.to_str().ok()) else {
        return HeaderValue::from_static(FRAME_ANCESTORS);
    };
    let mut directives: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| {
            let name = d.split_ascii_whitespace().next().unwrap_or_default();
            !name.eq_ignore_ascii_case("frame-ancestors")
        })
        .collect();
    directives.push(FRAME_ANCESTORS);
    // Made of a valid header's parts and a constant: still valid.
    HeaderValue::from_str(&directives.join("; "))
        .unwrap_or_else(|_| HeaderValue::from_static(FRAME_ANCESTORS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_joins_an_existing_policy() {
        let merged = |v: &str| {
            merged_csp(Some(&HeaderValue::from_str(v).unwrap()))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(merged_csp(None), FRAME_ANCESTORS);
        assert_eq!(
            merged("default-src 'self'; script-src 'self' 'nonce-abc'"),
            "default-src 'self'; script-src 'self' 'nonce-abc'; frame-ancestors 'none'"
        );
        assert_eq!(
            merged("default-src 'self'; Frame-Ancestors *;"),
            "default-src 'self'; frame-ancestors 'none'"
        );
    }

    #[test]
    fn every_header_is_set() {
        let mut h = HeaderMap::new();
        add(&mut h);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], FRAME_ANCESTORS);
        for line in RAW.split("\r\n").filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(": ").unwrap();
            assert_eq!(h[name], value, "{name}");
        }
    }
}
