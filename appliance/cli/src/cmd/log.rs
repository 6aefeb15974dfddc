//! Reading the log: `vigil log checkpoint|entries|get|proof|consistency|audit`.

use std::io::{IsTerminal as _, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vigil_cli::audit;
use vigil_cli::client::Client;
use vigil_cli::exit::Exit;
use vigil_cli::time::{format_time, parse_time};
use vigil_core::SigningKey;
use vigil_core::wire::{EntriesPage, EntryView};

use super::{
    Ctx, Fail, Res, describe, encode_query, expect_ok, now_secs, print_public, reader, signed_get,
    usage,
};
use crate::args::LogCmd;

/// Runs one `vigil log` verb.
pub(crate) fn log_cmd(ctx: &Ctx, cmd: LogCmd) -> Res<()> {
    match cmd {
        LogCmd::Checkpoint { json } => checkpoint(ctx, json),
        LogCmd::Entries {
            from,
            max,
            kind,
            signer,
            severity,
            topic,
            since,
            until,
            utc,
            json,
        } => {
            let now_ms = now_secs() * 1000;
            let time = |flag: &str, v: Option<String>| -> Res<Option<u64>> {
                v.map(|v| parse_time(&v, now_ms).map_err(|e| usage(format!("--{flag}: {e}"))))
                    .transpose()
            };
            let mut query: Vec<String> = [
                ("kind", kind),
                ("signer", signer),
                ("severity", severity),
                ("topic", topic),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode_query(&v))))
            .collect();
            for (k, v) in [
                ("since", time("since", since)?),
                ("until", time("until", until)?),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={v}"));
                }
            }
            let out = if json {
                Output::Json
            } else {
                Output::Text { utc }
            };
            entries(ctx, &query, from.unwrap_or(0), max, out)
        }
        LogCmd::Get { index } => {
            let (c, name, key) = reader(ctx)?;
            let a = signed_get(&c, &name, &key, &format!("/v1/log/entries/{index}"))?;
            std::io::stdout()
                .write_all(&a.body)
                .map_err(|e| Fail(Exit::VerificationFailed, e.to_string()))
        }
        LogCmd::Proof { index } => print_public(ctx, &format!("/v1/log/proof/{index}")),
        LogCmd::Consistency { from, to } => {
            print_public(ctx, &format!("/v1/log/consistency?from={from}&to={to}"))
        }
        LogCmd::Audit => audit_cmd(ctx),
    }
}

fn checkpoint(ctx: &Ctx, json: bool) -> Res<()> {
    let note = expect_ok(
        ctx.client()?
            .get("/v1/log/checkpoint")
            .map_err(|e| Fail(Exit::Unreachable, e.to_string()))?,
    )?
    .text();
    let cp = vigil_core::Checkpoint::verify(&note, &ctx.vkey()?).map_err(|e| {
        Fail(
            Exit::VerificationFailed,
            format!("checkpoint does not verify: {e}"),
        )
    })?;
    let root = STANDARD.encode(cp.root);
    if json {
        println!(
            "{}",
            serde_json::json!({"origin": cp.origin, "size": cp.size, "root": root, "note": note})
        );
    } else {
        println!(
            "{}: {} entries, root {root} (signature verified)",
            cp.origin, cp.size
        );
    }
    Ok(())
}

/// How entries are printed.
#[derive(Clone, Copy)]
enum Output {
    /// One JSON object a line, as the appliance sent it (times in unix ms).
    Json,
    /// One line an entry for people, times as RFC 3339.
    Text { utc: bool },
}

/// Pages through `GET /v1/log/entries` from `from`, printing at most `max`.
fn entries(ctx: &Ctx, query: &[String], from: u64, max: Option<u64>, out: Output) -> Res<()> {
    let (c, name, key) = reader(ctx)?;
    let mut next = from;
    let mut shown = 0u64;
    loop {
        let mut parts = query.to_vec();
        parts.push(format!("from={next}"));
        let a = signed_get(
            &c,
            &name,
            &key,
            &format!("/v1/log/entries?{}", parts.join("&")),
        )?;
        let page: EntriesPage = serde_json::from_slice(&a.body)
            .map_err(|e| Fail(Exit::Unreachable, format!("unexpected answer: {e}")))?;
        for e in &page.entries {
            if max.is_some_and(|m| shown >= m) {
                return Ok(());
            }
            match out {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string(e).map_err(|e| Fail(Exit::Usage, e.to_string()))?
                ),
                Output::Text { utc } => println!("{}", line(e, utc)),
            }
            shown += 1;
        }
        match page.next {
            Some(n) => next = n,
            None => return Ok(()),
        }
    }
}

/// `INDEX  TIME  KIND  SIGNER  WHAT`: an alert's severity and title, other kinds' own headers.
fn line(e: &EntryView, utc: bool) -> String {
    let what = if e.kind == "alert" {
        let h = |k: &str| e.headers.get(k).map_or("", String::as_str);
        format!("{} {}", h("severity"), h("title"))
    } else {
        e.headers
            .iter()
            .filter(|(k, _)| !["to", "ts", "nonce"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "{:>6}  {}  {:<10}  {:<16}  {what}",
        e.index,
        format_time(e.received, utc),
        e.kind,
        e.signer
    )
}

fn audit_cmd(ctx: &Ctx) -> Res<()> {
    let (c, name, key) = reader(ctx)?;
    let vkey = ctx.vkey()?;
    let mut src = Remote { c, name, key };
    let state = audit::State::new(&ctx.dir.join("audit"));
    let tty = std::io::stderr().is_terminal();
    let report = audit::run(&mut src, &vkey, &state, |done, total| {
        if tty && (done % 50 == 0 || done == total) {
            eprint!(
                "\rverifying entries: {done}/{total} ({}%)",
                done * 100 / total.max(1)
            );
        }
    });
    if tty {
        eprintln!();
    }
    match report {
        Ok(r) => {
            println!(
                "ok: {} entries verified up to size {} ({} new this run{})",
                r.checkpoint.size,
                r.checkpoint.size,
                r.verified_now,
                r.previous
                    .map(|p| format!(", consistent with size {p} seen before"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Err(audit::AuditError::Fetch(m)) => Err(Fail(Exit::Unreachable, m)),
        Err(audit::AuditError::Local(m)) => Err(usage(m)),
        Err(e @ audit::AuditError::Failed(_)) => Err(Fail(Exit::VerificationFailed, e.to_string())),
    }
}

/// The appliance, as the audit reads it.
struct Remote {
    c: Client,
    name: String,
    key: SigningKey,
}

impl audit::Source for Remote {
    fn checkpoint(&mut self) -> Result<String, String> {
        let a = self
            .c
            .get("/v1/log/checkpoint")
            .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(describe(&a));
        }
        Ok(a.text())
    }
    fn consistency(&mut self, old: u64, new: u64) -> Result<Vec<vigil_core::Hash>, String> {
        let a = self
            .c
            .get(&format!("/v1/log/consistency?from={old}&to={new}"))
            .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(describe(&a));
        }
        vigil_core::wire::parse_hash_lines(&a.text())
            .ok_or_else(|| "a consistency proof line is not a hash".to_string())
    }
    fn entry(&mut self, index: u64) -> Result<Vec<u8>, String> {
        let a = self
            .c
            .signed_get(
                &format!("/v1/log/entries/{index}"),
                &self.name,
                &self.key,
                now_secs(),
            )
            .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(describe(&a));
        }
        Ok(a.body)
    }
}
