//! Refusals as the client sees them: one [`Code`] per kind of refusal with its HTTP status, the
//! JSON body `{"error": code, "detail": sentence}` (docs/api.md lists every code), and the one
//! mapping from core's typed refusal ([`Denied`]) to a response, whatever stage refused it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_core::Denied;
use vigil_core::wire::ErrorBody;
use vigil_store::StoreError;

/// Every error code the daemon answers with (docs/api.md, "Error codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 400: a request or statement that does not parse, or a bad parameter.
    Malformed,
    /// 400: text the display would show holds a character it must not show.
    UnshowableText,
    /// 401: a POST with no signature.
    Unsigned,
    /// 401: a read without the signed-request headers.
    Unauthenticated,
    /// 401: no enrolled key matches.
    UnknownKey,
    /// 401: the key was revoked.
    RevokedKey,
    /// 401: the signature does not verify.
    BadSignature,
    /// 403: the key's role may not do this.
    Forbidden,
    /// 403: the source policy refuses the topic or severity.
    Policy,
    /// 404: no such route, entry or tree size.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 408: the request did not arrive in time.
    Timeout,
    /// 409: a nonce reused for other bytes.
    Replay,
    /// 409: an enrolment of a name or key that is or was enrolled.
    Conflict,
    /// 413: a body or statement over its bound.
    TooLarge,
    /// 431: a header block over its bound (answered below the router: `framing`).
    HeadersTooLarge,
    /// 422: addressed to another log.
    WrongAudience,
    /// 422: `ts` or `Vigil-Date` outside the window.
    Stale,
    /// 422: a well-formed statement that makes no sense for this log.
    Invalid,
    /// 429: a rate limit.
    RateLimited,
    /// 503: the ingest queue or a bounded cache is full.
    Overloaded,
    /// 503: the log refuses writes.
    NotWritable,
    /// 503: a transient failure inside the appliance (storage read, shutdown).
    Unavailable,
}

impl Code {
    /// Every code, in the order docs/api.md lists them.
    pub const ALL: [Code; 23] = [
        Code::Malformed,
        Code::UnshowableText,
        Code::Unsigned,
        Code::Unauthenticated,
        Code::UnknownKey,
        Code::RevokedKey,
        Code::BadSignature,
        Code::Forbidden,
        Code::Policy,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::Timeout,
        Code::Replay,
        Code::Conflict,
        Code::TooLarge,
        Code::HeadersTooLarge,
        Code::WrongAudience,
        Code::Stale,
        Code::Invalid,
        Code::RateLimited,
        Code::Overloaded,
        Code::NotWritable,
        Code::Unavailable,
    ];

    /// The stable string clients match on.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Malformed => "malformed",
            Code::UnshowableText => "unshowable_text",
            Code::Unsigned => "unsigned",
            Code::Unauthenticated => "unauthenticated",
            Code::UnknownKey => "unknown_key",
            Code::RevokedKey => "revoked_key",
            Code::BadSignature => "bad_signature",
            Code::Forbidden => "forbidden",
            Code::Policy => "policy",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Timeout => "timeout",
            Code::Replay => "replay",
            Code::Conflict => "conflict",
            Code::TooLarge => "too_large",
            Code::HeadersTooLarge => "headers_too_large",
            Code::WrongAudience => "wrong_audience",
            Code::Stale => "stale",
            Code::Invalid => "invalid",
            Code::RateLimited => "rate_limited",
            Code::Overloaded => "overloaded",
            Code::NotWritable => "not_writable",
            Code::Unavailable => "unavailable",
        }
    }

    /// Its HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Code::Malformed | Code::UnshowableText => StatusCode::BAD_REQUEST,
            Code::Unsigned
            | Code::Unauthenticated
            | Code::UnknownKey
            | Code::RevokedKey
            | Code::BadSignature => StatusCode::UNAUTHORIZED,
            Code::Forbidden | Code::Policy => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::Timeout => StatusCode::REQUEST_TIMEOUT,
            Code::Replay | Code::Conflict => StatusCode::CONFLICT,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Code::WrongAudience | Code::Stale | Code::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::Overloaded | Code::NotWritable | Code::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The code an error status gets when something outside the handlers (an extractor, a
    /// layer) answered with a bare status.
    pub fn for_status(status: StatusCode) -> Code {
        match status {
            StatusCode::NOT_FOUND => Code::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => Code::Timeout,
            StatusCode::PAYLOAD_TOO_LARGE => Code::TooLarge,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Code::HeadersTooLarge,
            StatusCode::TOO_MANY_REQUESTS => Code::RateLimited,
            s if s.is_server_error() => Code::Unavailable,
            _ => Code::Malformed,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: its code, one human sentence, optional Retry-After.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Stable code (and through it the status).
    pub code: Code,
    /// Human sentence (never internals).
    pub detail: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A refusal without Retry-After.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }
    /// Adds a Retry-After.
    pub fn with_retry(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
    /// The JSON body: `{"error": code, "detail": sentence}`.
    pub fn json(&self) -> String {
        serde_json::to_string(&ErrorBody {
            error: self.code.as_str().to_owned(),
            detail: self.detail.clone(),
        })
        .unwrap_or_default()
    }
}

/// 400 `malformed`.
pub fn malformed(detail: impl Into<String>) -> ApiError {
    ApiError::new(Code::Malformed, detail)
}

/// A storage problem: logged in full, answered without internals.
pub fn internal(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "storage error while serving a request");
    ApiError::new(Code::Unavailable, "the log could not be read; try again").with_retry(5)
}

impl From<&Denied> for ApiError {
    /// The one answer to each of core's refusals, whether the pre-check or the gate at the
    /// commit found it.
    fn from(d: &Denied) -> ApiError {
        let code = match d {
            Denied::Unknown => Code::UnknownKey,
            Denied::Revoked(_) => Code::RevokedKey,
            Denied::Role { .. } => Code::Forbidden,
            Denied::Conflict(_) => Code::Conflict,
            Denied::Invalid(_) => Code::Invalid,
            Denied::WrongAudience { .. } => Code::WrongAudience,
            Denied::Stale { .. } => Code::Stale,
        };
        let detail = match d {
            Denied::Unknown => "no enrolled key matches".to_owned(),
            Denied::Revoked(_) => "this key has been revoked".to_owned(),
            other => other.to_string(),
        };
        ApiError::new(code, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.json();
        let mut r = (
            self.code.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// Marks an error answer whose plain body is the answer itself (`/healthz`'s 503 names why the
/// log is not writable, for probes and people): [`json_errors`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct PlainOnPurpose;

/// Middleware: an error answer that is not already the JSON error (an extractor's rejection, the
/// timeout layer's bare 408) becomes one, with the status of its code and the other headers kept.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let r = next.run(req).await;
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let on_purpose = r.extensions().get::<PlainOnPurpose>().is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_json || on_purpose {
        return r;
    }
    let code = Code::for_status(status);
    let detail = match code {
        Code::Timeout => "the request did not arrive in time",
        Code::NotFound => "no such endpoint",
        Code::MethodNotAllowed => "method not allowed here",
        Code::TooLarge => "the request body is over its bound",
        Code::Malformed => "the request is malformed",
        _ => "the request could not be served; try again",
    };
    let (parts, _) = r.into_parts();
    let mut out = ApiError::new(code, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/api.md's table: (status, code) per row.
    fn documented() -> Vec<(u16, String)> {
        let doc = include_str!("../../../../docs/api.md");
        let table = doc
            .split("## Error codes")
            .nth(1)
            .expect("docs/api.md has an error code section");
        table
            .lines()
            .skip_while(|l| !l.starts_with("| status"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].parse().expect("a status"),
                    cells[2].trim_matches('`').to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn every_code_is_documented_with_its_status_and_nothing_else_is() {
        let ours: Vec<(u16, String)> = Code::ALL
            .iter()
            .map(|c| (c.status().as_u16(), c.as_str().to_owned()))
            .collect();
        assert_eq!(documented(), ours);
    }

    #[test]
    fn codes_are_distinct_and_statuses_map_back_for_bare_answers() {
        let names: std::collections::HashSet<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for c in [
            Code::NotFound,
            Code::MethodNotAllowed,
            Code::Timeout,
            Code::TooLarge,
            Code::RateLimited,
        ] {
            assert_eq!(Code::for_status(c.status()), c);
        }
        assert_eq!(Code::for_status(StatusCode::BAD_REQUEST), Code::Malformed);
        assert_eq!(Code::for_status(StatusCode::URI_TOO_LONG), Code::Malformed);
    }
}
