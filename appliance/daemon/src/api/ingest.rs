//! Statements in (`POST /v1/alerts`, `POST /v1/admin`): cheap checks first, the signature before
//! anything that depends on who signed, then core's admission decision — taken again by the gate
//! at the commit, with the same answer for the same refusal.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vigil_core::registry::Denied;
use vigil_core::sig::{self, SigError, Signature, SshSignature};
use vigil_core::statement::{Content, Kind, MAX_STATEMENT_BYTES, ParseError, Role, Statement};
use vigil_core::wire::Receipt;
use vigil_core::{Entry, Verified};
use vigil_store::{AppendError, QueueFull, Refused, Submission};

use super::error::{ApiError, Code, internal, malformed};
use super::{ApiResult, peer, read_body};
use crate::limits::retry_after_secs;
use crate::state::{AppState, read};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Alerts,
    Checkins,
    Admin,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Alerts => "alerts",
            Endpoint::Checkins => "checkins",
            Endpoint::Admin => "admin",
        }
    }
}

pub(super) async fn post_alert(State(s): State<Arc<AppState>>, req: Request) -> Response {
    submit(s, req, Endpoint::Alerts).await
}

pub(super) async fn post_checkin(State(s): State<Arc<AppState>>, req: Request) -> Response {
    submit(s, req, Endpoint::Checkins).await
}

pub(super) async fn post_admin(State(s): State<Arc<AppState>>, req: Request) -> Response {
    submit(s, req, Endpoint::Admin).await
}

async fn submit(s: Arc<AppState>, req: Request, ep: Endpoint) -> Response {
    match ingest(&s, req, ep).await {
        Ok((status, receipt)) => {
            s.metrics.outcome(
                ep.name(),
                if status == StatusCode::CREATED {
                    "created"
                } else {
                    "duplicate"
                },
            );
            (status, axum::Json(receipt)).into_response()
        }
        Err(e) => {
            s.metrics.outcome(ep.name(), e.code.as_str());
            tracing::info!(
                endpoint = ep.name(),
                code = e.code.as_str(),
                status = e.status().as_u16(),
                "statement refused"
            );
            e.into_response()
        }
    }
}

/// The ingestion pipeline: cheap checks first, the signature before anything that depends on
/// who signed, authorization again at commit time (the gate).
async fn ingest(s: &Arc<AppState>, req: Request, ep: Endpoint) -> ApiResult<(StatusCode, Receipt)> {
    let (parts, body) = read_body(req, s.limits.body_bytes).await?;
    let ip = peer(&parts);
    not_locked_out(s, ip)?;
    let (statement_bytes, form) = split_signed(&parts.headers, &body)?;
    if statement_bytes.len() > MAX_STATEMENT_BYTES {
        return Err(ApiError::new(
            Code::TooLarge,
            "the statement is over 4096 bytes",
        ));
    }
    let st = Statement::parse(statement_bytes).map_err(|e| match e {
        ParseError::Unshowable { .. } => ApiError::new(Code::UnshowableText, e.to_string()),
        e => malformed(e.to_string()),
    })?;
    // Who signed, and does the signature hold?
    let (verified, role) = {
        let shared = read(&s.shared);
        let (signer, key, role, sig) = match form {
            SignedForm::Raw { key_name, sig } => {
                let (key, role) = shared
                    .registry
                    .active_key(&key_name)
                    .map_err(|d| auth_refusal(s, ip, &d))?;
                (key_name, key, role, Signature::Ed25519(sig))
            }
            SignedForm::Ssh(ssh) => {
                let p = shared
                    .registry
                    .by_key(ssh.key())
                    .ok_or_else(|| auth_refusal(s, ip, &Denied::Unknown))?;
                if p.revoked {
                    return Err(auth_refusal(s, ip, &Denied::Revoked(p.name.clone())));
                }
                (
                    p.name.clone(),
                    p.key,
                    Some(p.role),
                    Signature::Sshsig(ssh.blob().to_vec()),
                )
            }
        };
        drop(shared);
        let verified = sig::verify(st, &signer, &key, sig).map_err(|e| {
            s.auth_failures.record(ip);
            let detail = match e {
                SigError::WrongNamespace => {
                    "the SSH signature's namespace must be `vigil` (ssh-keygen -Y sign -n vigil)"
                }
                SigError::Malformed(_) => "the signature is malformed",
                _ => "the signature does not verify for this statement and key",
            };
            ApiError::new(Code::BadSignature, detail)
        })?;
        (verified, role)
    };
    let st = verified.statement();
    check_endpoint(ep, st.kind(), role)?;
    let sub = s.clock.submission(verified);
    let (signer, st) = (sub.verified.signer(), sub.verified.statement());
    // An exact re-submission answers with the existing receipt, without spending quota (from
    // memory: a read of the log would wait for any commit in progress).
    if let Some((index, leaf)) = s.recent.find(signer, &vigil_core::sha256(st.bytes())) {
        return receipt(s, index, leaf).map(|r| (StatusCode::OK, r));
    }
    // Core's decision, the one the gate takes again at the commit.
    let admitted = read(&s.shared).admit(&s.origin, &sub);
    if let Err(why) = admitted {
        return already_logged(s, &sub, &why);
    }
    if let Err(wait) = s.sources.check(signer) {
        return Err(
            ApiError::new(Code::RateLimited, "this key is over its rate")
                .with_retry(retry_after_secs(wait)),
        );
    }
    check_content(s, &sub.verified)?;
    let ticket = s.committer.submit(sub).map_err(|QueueFull| {
        ApiError::new(Code::Overloaded, "the ingest queue is full").with_retry(1)
    })?;
    let appended = match ticket.await {
        Ok(Ok(a)) => a,
        Ok(Err(AppendError::Refused(Refused::Replay(i)))) => {
            return Err(ApiError::new(
                Code::Replay,
                format!("this key already used that nonce for a different statement (entry {i})"),
            ));
        }
        Ok(Err(AppendError::Refused(Refused::Denied(why)))) => return Err(ApiError::from(&why)),
        Ok(Err(AppendError::NotWritable(why))) => {
            tracing::error!(reason = %why, "append refused: log not writable");
            return Err(
                ApiError::new(Code::NotWritable, "the log is not taking writes").with_retry(60),
            );
        }
        Err(_) => {
            return Err(ApiError::new(Code::Unavailable, "shutting down").with_retry(5));
        }
    };
    let status = if appended.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    match appended.receipt {
        // Made inside the batch's transaction: no read that waits for the next commit.
        Some(proof) => Ok((status, Receipt::new(appended.index, appended.leaf, &proof))),
        None => receipt(s, appended.index, appended.leaf).map(|r| (status, r)),
    }
}

/// The receipt of a logged entry, against the current checkpoint.
fn receipt(s: &AppState, index: u64, leaf: vigil_core::Hash) -> ApiResult<Receipt> {
    let proof = s.store.tlog_proof(index).map_err(|e| internal(&e))?;
    Ok(Receipt::new(index, leaf, &proof))
}

/// A refused statement that its signer already logged, byte for byte (a retry whose answer was
/// lost, now stale or past an enrolment it made itself): 200 with its receipt. Anything else:
/// the refusal.
fn already_logged(
    s: &AppState,
    sub: &Submission,
    why: &Denied,
) -> ApiResult<(StatusCode, Receipt)> {
    let v = &sub.verified;
    match s.store.find_logged(v.signer(), v.statement()) {
        Ok(Some(e)) => receipt(s, e.index(), e.leaf_hash()).map(|r| (StatusCode::OK, r)),
        Ok(None) => Err(ApiError::from(why)),
        Err(e) => Err(internal(&e)),
    }
}

/// 429 without verifying anything for a client over its authentication-failure budget.
pub(super) fn not_locked_out(s: &AppState, ip: std::net::IpAddr) -> ApiResult<()> {
    match s.auth_failures.blocked(ip) {
        Some(wait) => Err(
            ApiError::new(Code::RateLimited, "too many failed authentications")
                .with_retry(retry_after_secs(wait)),
        ),
        None => Ok(()),
    }
}

/// 401 for unknown or revoked keys, counted as an authentication failure.
pub(super) fn auth_refusal(s: &AppState, ip: std::net::IpAddr, d: &Denied) -> ApiError {
    s.auth_failures.record(ip);
    ApiError::from(d)
}

enum SignedForm {
    Raw { key_name: String, sig: [u8; 64] },
    Ssh(Box<SshSignature>),
}

/// Finds the signature: `Vigil-Key` + `Vigil-Signature` headers, or an armored SSHSIG after the
/// statement.
fn split_signed<'a>(h: &HeaderMap, body: &'a [u8]) -> ApiResult<(&'a [u8], SignedForm)> {
    let sig_header = h.get("vigil-signature");
    let key_header = h.get("vigil-key");
    match (key_header, sig_header) {
        (Some(k), Some(sg)) => {
            let key_name = k
                .to_str()
                .ok()
                .filter(|n| vigil_core::statement::valid_name(n))
                .ok_or_else(|| malformed("Vigil-Key is not a valid name"))?;
            let raw = sg
                .to_str()
                .ok()
                .and_then(|v| STANDARD.decode(v).ok())
                .ok_or_else(|| malformed("Vigil-Signature is not base64"))?;
            let sig: [u8; 64] = raw
                .try_into()
                .map_err(|_| malformed("Vigil-Signature must be 64 bytes"))?;
            Ok((
                body,
                SignedForm::Raw {
                    key_name: key_name.to_owned(),
                    sig,
                },
            ))
        }
        (None, None) => {
            let (statement, armor) = sig::split_sshsig_body(body).ok_or_else(|| {
                ApiError::new(Code::Unsigned, "the statement carries no signature")
            })?;
            let ssh = SshSignature::from_armor(armor).map_err(|e| match e {
                SigError::Key(_) => {
                    ApiError::new(Code::UnknownKey, "the signature's key is not usable")
                }
                e => malformed(format!("SSH signature: {e}")),
            })?;
            Ok((statement, SignedForm::Ssh(Box::new(ssh))))
        }
        _ => Err(malformed("Vigil-Key and Vigil-Signature go together")),
    }
}

fn check_endpoint(ep: Endpoint, kind: Kind, role: Option<Role>) -> ApiResult<()> {
    let accepted = match ep {
        Endpoint::Alerts => kind == Kind::Alert,
        Endpoint::Checkins => kind == Kind::Checkin,
        Endpoint::Admin => matches!(
            kind,
            Kind::Ack | Kind::Silence | Kind::KeyEnroll | Kind::KeyRevoke | Kind::Check
        ),
    };
    if !accepted {
        return Err(malformed(format!(
            "{} statements are not accepted at /v1/{}",
            kind,
            ep.name()
        )));
    }
    let allowed = match ep {
        Endpoint::Alerts | Endpoint::Checkins => role == Some(Role::Source),
        Endpoint::Admin => role == Some(Role::Admin),
    };
    if !allowed {
        let who = role.map_or("device", Role::name);
        return Err(ApiError::new(
            Code::Forbidden,
            format!("{who} keys may not submit {kind} statements"),
        ));
    }
    Ok(())
}

/// What admission does not judge: the source policy for alerts and check-ins (a check's name is
/// its topic), that an `ack/v1` names an alert of this log (or a check's failure or miss), and
/// that a `check/v1` names a check the appliance knows.
fn check_content(s: &AppState, v: &Verified) -> ApiResult<()> {
    let shared = read(&s.shared);
    match v.statement().content() {
        Content::Alert(a) => shared
            .policy
            .check_alert(v.signer(), &a.topic, a.severity)
            .map_err(|d| ApiError::new(Code::Policy, d.to_string())),
        Content::Checkin(c) => shared
            .policy
            .check_alert(v.signer(), &c.check, c.severity)
            .map_err(|d| ApiError::new(Code::Policy, d.to_string())),
        Content::Ack { entry, .. } => {
            let bytes = s.store.entry(*entry).map_err(|e| internal(&e))?;
            let shows = |e: &Entry| match e.statement().content() {
                Content::Alert(_) | Content::Missed(_) => true,
                Content::Checkin(c) => c.status == vigil_core::checkin::Status::Fail,
                _ => false,
            };
            match bytes.map(|b| Entry::decode(&b)) {
                Some(Ok(e)) if shows(&e) => Ok(()),
                _ => Err(ApiError::new(
                    Code::Invalid,
                    format!(
                        "entry {entry} is not an alert (or a check's failure or miss) in this log"
                    ),
                )),
            }
        }
        Content::Check { signer, check, .. } => {
            if crate::state::lock(&s.checks).get(signer, check).is_some() {
                Ok(())
            } else {
                Err(ApiError::new(
                    Code::NotFound,
                    format!("`{signer}` has no check `{check}`"),
                ))
            }
        }
        // Enrolments and revocations were judged by admission.
        _ => Ok(()),
    }
}
