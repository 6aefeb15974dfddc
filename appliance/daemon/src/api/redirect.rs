//! The plain-HTTP port: every request is answered with 308 to the same path on HTTPS.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Answers a plain-HTTP request with 308 to the same path on this host's HTTPS port.
pub fn redirect(https_port: u16, req: &axum::http::Request<Body>) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_only)
        .unwrap_or_else(|| "localhost".to_owned());
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // Only a path may follow the authority; anything else would let a client steer the redirect.
    let path = if path.starts_with('/') && !path.starts_with("//") {
        path
    } else {
        "/"
    };
    let location = format!("https://{host}:{https_port}{path}");
    let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The host part of a Host header, if it is a plain DNS name or IP literal.
fn host_only(h: &str) -> Option<String> {
    let host = if let Some(rest) = h.strip_prefix('[') {
        let end = rest.find(']')?;
        let ip: std::net::Ipv6Addr = rest[..end].parse().ok()?;
        return Some(format!("[{ip}]"));
    } else {
        h.rsplit_once(':').map_or(h, |(a, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                a
            } else {
                h
            }
        })
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| host.to_ascii_lowercase())
}
