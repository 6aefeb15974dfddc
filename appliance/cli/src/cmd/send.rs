//! Statements out: `vigil alert`, `vigil sign`, `vigil admin …`, with retries and receipts
//! (kept and checked), and `vigil verify-receipt`.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use vigil_cli::client::{self, Answer};
use vigil_cli::exit::Exit;
use vigil_core::wire::Receipt;
use vigil_core::{Kind, NoteVerifier, SigningKey, Statement, TlogProof};

use super::{Ctx, Fail, Res, describe, now_secs, usage};
use crate::args::{AdminCmd, AlertArgs};

pub(crate) fn alert_statement(ctx: &Ctx, a: &AlertArgs) -> Res<String> {
    let origin = ctx.vkey()?.name().to_owned();
    let body = match a.body.as_deref() {
        None => String::new(),
        Some("-") => {
            let mut b = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut b)
                .map_err(|e| usage(format!("standard input: {e}")))?;
            b
        }
        Some(b) => format!("{b}\n"),
    };
    let st = Statement::builder(Kind::Alert, &origin, now_secs(), &client::random_nonce())
        .header("severity", &a.severity)
        .header("title", &a.title)
        .header_opt("topic", a.topic.as_ref())
        .header_opt("key", a.dedup_key.as_ref())
        .header_opt("ttl", a.ttl)
        .header_opt("state", a.resolve.then_some("resolved"))
        .body(body);
    checked(st)
}

/// The statement's text, refused locally (with the appliance's message) when it would be there.
pub(crate) fn checked(st: vigil_core::statement::Builder) -> Res<String> {
    let text = st.text();
    st.build().map_err(|e| usage(format!("statement: {e}")))?;
    Ok(text)
}

pub(crate) fn send(ctx: &Ctx, path: &str, st: &str, name: &str, key: &SigningKey) -> Res<()> {
    let c = ctx.client()?;
    let headers = client::statement_headers(st.as_bytes(), name, key);
    let attempts = ctx.retries + 1;
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=attempts {
        let last = attempt == attempts;
        match c.post(path, st.as_bytes(), &headers) {
            Ok(a) if a.status == 201 || a.status == 200 => return store_receipt(ctx, &a),
            Ok(a) if a.status == 429 || a.status == 503 => {
                if last {
                    return Err(Fail(Exit::Unreachable, describe(&a)));
                }
                let w = a
                    .retry_after
                    .map_or(wait, Duration::from_secs)
                    .min(Duration::from_secs(120));
                if ctx.verbose {
                    eprintln!("{}; retrying in {} s", describe(&a), w.as_secs());
                }
                std::thread::sleep(w);
            }
            Ok(a) => return Err(Fail(Exit::Refused, describe(&a))),
            Err(e) => {
                if last {
                    return Err(Fail(Exit::Unreachable, e.to_string()));
                }
                if ctx.verbose {
                    eprintln!("{e}; retrying in {} s", wait.as_secs());
                }
                std::thread::sleep(wait);
            }
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
    Err(Fail(Exit::Unreachable, "gave up".into()))
}

fn store_receipt(ctx: &Ctx, a: &Answer) -> Res<()> {
    let receipt: Receipt = serde_json::from_slice(&a.body).map_err(|e| {
        Fail(
            Exit::Unreachable,
            format!("the answer is not a receipt: {e}"),
        )
    })?;
    let index = receipt.index;
    check_receipt(&ctx.vkey()?, &receipt)?;
    let dir = ctx.dir.join("receipts");
    std::fs::create_dir_all(&dir).map_err(|e| usage(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("{index}.json"));
    std::fs::write(&path, &a.body).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    if ctx.verbose {
        let what = if a.status == 201 {
            "logged"
        } else {
            "already logged"
        };
        println!("{what} as entry {index}; receipt {}", path.display());
    }
    Ok(())
}

fn check_receipt(vkey: &NoteVerifier, r: &Receipt) -> Res<vigil_core::Checkpoint> {
    let bad = |m: &str| {
        Fail(
            Exit::VerificationFailed,
            format!("receipt does not verify: {m}"),
        )
    };
    let leaf = r
        .leaf()
        .ok_or_else(|| bad("entry_hash is not a base64 SHA-256"))?;
    let proof = TlogProof::parse(&r.proof).map_err(|e| bad(&e.to_string()))?;
    if proof.index != r.index {
        return Err(bad("the proof is for another index"));
    }
    proof.verify(&leaf, vkey).map_err(|e| bad(&e.to_string()))
}

pub(crate) fn verify_receipt(ctx: &Ctx, path: &Path) -> Res<()> {
    let text = std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let r: Receipt = serde_json::from_slice(&text).map_err(|e| {
        Fail(
            Exit::VerificationFailed,
            format!("{}: not a receipt: {e}", path.display()),
        )
    })?;
    let cp = check_receipt(&ctx.vkey()?, &r)?;
    println!(
        "ok: entry {} is in {} at size {} (root {})",
        r.index,
        cp.origin,
        cp.size,
        base64::engine::general_purpose::STANDARD.encode(cp.root)
    );
    Ok(())
}

pub(crate) fn admin(ctx: &Ctx, cmd: AdminCmd) -> Res<()> {
    let origin = ctx.vkey()?.name().to_owned();
    let start = |kind| Statement::builder(kind, &origin, now_secs(), &client::random_nonce());
    let st = match cmd {
        AdminCmd::Enroll {
            name,
            role,
            public_key,
        } => {
            let line = std::fs::read_to_string(&public_key)
                .map_err(|e| usage(format!("{}: {e}", public_key.display())))?;
            start(Kind::KeyEnroll)
                .header("name", name)
                .header("role", role)
                .header("public-key", line.trim_end())
        }
        AdminCmd::Revoke { name, comment } => start(Kind::KeyRevoke)
            .header("name", name)
            .header("comment", comment),
        AdminCmd::Ack { index, comment } => start(Kind::Ack)
            .header("ref", index)
            .header_opt("comment", comment),
        AdminCmd::Silence {
            match_signer,
            match_topic,
            duration,
            comment,
        } => {
            let secs = vigil_cli::time::parse_span(&duration)
                .ok_or_else(|| usage(format!("--for `{duration}`: use 90s, 30m, 2h or 1d")))?;
            start(Kind::Silence)
                .header_opt("match-signer", match_signer)
                .header_opt("match-topic", match_topic)
                .header("until", now_secs() + secs)
                .header("comment", comment)
        }
        AdminCmd::Check {
            signer,
            check,
            action,
            comment,
        } => start(Kind::Check)
            .header("signer", signer)
            .header("check", check)
            .header("action", action)
            .header_opt("comment", comment),
    };
    let st = checked(st)?;
    let (name, key) = ctx.signing_key()?;
    send(ctx, "/v1/admin", &st, &name, &key)
}
