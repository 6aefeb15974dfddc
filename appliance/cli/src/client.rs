//! HTTPS to one appliance, trusting only its CA (never the system's roots), HTTP/1.1, bounded
//! responses, no redirects followed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use vigil_core::SigningKey;

/// Largest response body read.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The appliance could not be reached (connection, TLS, timeout).
    #[error("cannot reach {url}: {why}")]
    Unreachable {
        /// Where.
        url: String,
        /// Why.
        why: String,
    },
    /// The CA certificate given is not usable.
    #[error("the pinned CA certificate is not a PEM certificate")]
    BadCa,
    /// No certificate authority in the system's store, for an https:// mirror.
    #[error(
        "the system has no certificate authorities (install ca-certificates) to check an https:// mirror"
    )]
    NoSystemRoots,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` seconds, if given.
    pub retry_after: Option<u64>,
    /// Content type.
    pub content_type: Option<String>,
    /// `Strict-Transport-Security`, if given.
    pub hsts: Option<String>,
    /// `Cache-Control`, if given.
    pub cache_control: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// One line for a person: the refusal's code and detail, or the status and body.
    pub fn summary(&self) -> String {
        match serde_json::from_slice::<vigil_core::wire::ErrorBody>(&self.body) {
            Ok(e) => format!("refused ({} {}): {}", self.status, e.error, e.detail),
            Err(_) => format!("HTTP {}: {}", self.status, self.text().trim()),
        }
    }
    /// The stable error code of a JSON error body.
    pub fn error_code(&self) -> Option<String> {
        serde_json::from_slice::<vigil_core::wire::ErrorBody>(&self.body)
            .ok()
            .map(|e| e.error)
    }
}

/// A client bound to one base URL.
#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

/// Builds the TLS configuration that trusts `ca_pem` only, or nothing at all verified
/// (`None`, used once by `vigil trust` to fetch the CA whose fingerprint the user then checks).
fn tls_config(ca_pem: Option<&str>) -> Result<TlsConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = TlsConfig::builder().unversioned_rustls_crypto_provider(provider);
    Ok(match ca_pem {
        Some(pem) => {
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem.as_bytes())
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(ClientError::BadCa);
            }
            b.root_certs(RootCerts::Specific(Arc::new(certs))).build()
        }
        None => b.disable_verification(true).build(),
    })
}

impl Client {
    /// A client for `base` (e.g. `https://127.0.0.1:8443`) trusting only `ca_pem`.
    pub fn new(base: &str, ca_pem: &str) -> Result<Client, ClientError> {
        Client::build(base, Some(ca_pem))
    }

    /// A client that does not verify the server: only for the first `vigil trust` fetch, whose
    /// result the user checks by fingerprint before anything is trusted.
    pub fn unverified(base: &str) -> Result<Client, ClientError> {
        Client::build(base, None)
    }

    /// A client for a public server (a static mirror of the log) trusting the system's
    /// certificate authorities (`/etc/ssl/certs`).
    pub fn with_system_roots(base: &str) -> Result<Client, ClientError> {
        let found = rustls_native_certs::load_native_certs();
        let certs: Vec<Certificate<'static>> = found
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if certs.is_empty() && base.starts_with("https://") {
            return Err(ClientError::NoSystemRoots);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = TlsConfig::builder()
            .unversioned_rustls_crypto_provider(provider)
            .root_certs(RootCerts::Specific(Arc::new(certs)))
            .build();
        Client::with_tls(base, tls)
    }

    fn build(base: &str, ca_pem: Option<&str>) -> Result<Client, ClientError> {
        Client::with_tls(base, tls_config(ca_pem)?)
    }

    fn with_tls(base: &str, tls: TlsConfig) -> Result<Client, ClientError> {
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn finish(
        &self,
        url: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, ClientError> {
        let mut r = r.map_err(|e| ClientError::Unreachable {
            url: url.to_owned(),
            why: e.to_string(),
        })?;
        let h = r.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after = get("retry-after").and_then(|v| v.parse().ok());
        let content_type = get("content-type");
        let hsts = get("strict-transport-security");
        let cache_control = get("cache-control");
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| ClientError::Unreachable {
                url: url.to_owned(),
                why: e.to_string(),
            })?;
        Ok(Answer {
            status,
            retry_after,
            content_type,
            hsts,
            cache_control,
            body,
        })
    }

    /// GET `path` (with query).
    pub fn get(&self, path: &str) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let r = self.agent.get(&url).call();
        self.finish(&url, r)
    }

    /// GET `path` with extra headers.
    pub fn get_with_headers(
        &self,
        path: &str,
        headers: &[(String, String)],
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let r = req.call();
        self.finish(&url, r)
    }

    /// POST `body` to `path` with extra headers.
    pub fn post(
        &self,
        path: &str,
        body: &[u8],
        headers: &[(String, String)],
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .agent
            .post(&url)
            .header("content-type", "text/plain; charset=utf-8");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let r = req.send(body);
        self.finish(&url, r)
    }

    /// A signed GET (auditor or admin key), docs/spec.md §5.
    pub fn signed_get(
        &self,
        path: &str,
        key_name: &str,
        key: &SigningKey,
        now_secs: u64,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in request_headers("GET", path, b"", key_name, key, now_secs, &random_nonce()) {
            req = req.header(k.as_str(), v.as_str());
        }
        let r = req.call();
        self.finish(&url, r)
    }
}

/// The headers of a signed request.
pub fn request_headers(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    key_name: &str,
    key: &SigningKey,
    date: u64,
    nonce: &str,
) -> Vec<(String, String)> {
    let msg = vigil_core::request_message(method, path_and_query, date, nonce, body);
    let sig = vigil_core::sig::sign_raw(msg.as_bytes(), key);
    vec![
        ("Vigil-Key".into(), key_name.into()),
        ("Vigil-Date".into(), date.to_string()),
        ("Vigil-Nonce".into(), nonce.into()),
        ("Vigil-Signature".into(), sig.to_base64()),
    ]
}

/// Headers of a raw-signed statement submission.
pub fn statement_headers(
    statement: &[u8],
    key_name: &str,
    key: &SigningKey,
) -> Vec<(String, String)> {
    let sig = vigil_core::sig::sign_raw(statement, key);
    vec![
        ("Vigil-Key".into(), key_name.into()),
        ("Vigil-Signature".into(), STANDARD.encode(sig.bytes())),
    ]
}

/// 128 random bits as 32 lowercase hex characters.
pub fn random_nonce() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        panic!("the operating system's random number generator failed");
    }
    hex::encode(b)
}
