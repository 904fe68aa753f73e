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

/// The `Link` header (RFC 8288) of the dashboard and the status report:
/// where an agent given only the page's URL finds the machine-readable
/// answers. Registered relation types where one fits:
/// - `alternate` (HTML, IANA registry): the same report as JSON and as text;
/// - `describedby` (POWDER, IANA registry): the JSON Schema that describes it;
/// - `service` (RFC 5023, IANA registry) for the MCP endpoint: no registered
///   relation names a protocol endpoint exactly (`service-desc` is for a
///   description document, RFC 8631), so `service` with a `title` saying
///   which protocol.
pub(super) const LINKS: &str = concat!(
    "</api/telemetry/status>; rel=\"alternate\"; type=\"application/json\", ",
    "</api/telemetry/status.txt>; rel=\"alternate\"; type=\"text/plain\", ",
    "</api/telemetry/schema.json>; rel=\"describedby\"; type=\"application/schema+json\", ",
    "</mcp>; rel=\"service\"; title=\"MCP (streamable HTTP)\""
);

/// Sets [`LINKS`] on an answer.
pub(super) fn add_links(h: &mut HeaderMap) {
    h.insert(header::LINK, HeaderValue::from_static(LINKS));
}

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
    fn links_are_a_valid_header_with_one_relation_each() {
        let mut h = HeaderMap::new();
        add_links(&mut h);
        let links: Vec<&str> = h[header::LINK].to_str().unwrap().split(", ").collect();
        assert_eq!(links.len(), 4, "{links:?}");
        for link in links {
            assert!(link.starts_with("</"), "{link}");
            assert_eq!(link.matches("rel=").count(), 1, "{link}");
        }
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
