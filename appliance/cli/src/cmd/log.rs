//! Reading the log: `vigil log checkpoint|entries|get|proof|consistency|audit|mirror`.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vigil_cli::audit;
use vigil_cli::exit::Exit;
use vigil_cli::time::{format_time, parse_time};
use vigil_core::wire::{EntriesPage, EntryView};

use super::{
    Ctx, Fail, Res, encode_query, expect_ok, now_secs, print_public, reader, signed_get, usage,
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
        LogCmd::Audit { from, json } => audit_cmd(ctx, from.as_deref(), json),
        LogCmd::Mirror { dir, entries } => mirror_cmd(ctx, &dir, entries),
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

fn audit_cmd(ctx: &Ctx, from: Option<&str>, json: bool) -> Res<()> {
    let vkey = ctx.vkey()?;
    // A mirror keeps its own audit state: it may rightly be behind the appliance.
    let (mut src, state): (Box<dyn audit::Source>, _) = match from {
        Some(from) => {
            let id = vigil_core::sha256(from.as_bytes());
            let sub = id[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>();
            let src: Box<dyn audit::Source> =
                if from.starts_with("http://") || from.starts_with("https://") {
                    Box::new(audit::Url::new(from).map_err(usage)?)
                } else {
                    Box::new(audit::Dir::new(std::path::Path::new(from)))
                };
            (src, ctx.dir.join("audit-from").join(sub))
        }
        None => (Box::new(remote(ctx)?), ctx.dir.join("audit")),
    };
    let mut bar = Bar::new("verifying entries", json);
    let t0 = std::time::Instant::now();
    let report = audit::run(&mut *src, &vkey, &audit::State::new(&state), |d, t| {
        bar.show(d, t)
    });
    bar.finish();
    let secs = t0.elapsed().as_secs_f64();
    match report {
        Ok(r) if json => {
            let v = serde_json::json!({
                "ok": true,
                "origin": r.checkpoint.origin,
                "size": r.checkpoint.size,
                "root": STANDARD.encode(r.checkpoint.root),
                "verified_now": r.verified_now,
                "previous": r.previous,
                "tiles_checked": r.tiles_checked,
                "seconds": secs,
                "entries_per_second": rate(r.verified_now, secs),
            });
            println!("{v}");
            Ok(())
        }
        Ok(r) => {
            println!(
                "ok: {} entries verified up to size {} ({} new this run{}; {} tiles checked; {:.1} s, {}/s)",
                r.checkpoint.size,
                r.checkpoint.size,
                r.verified_now,
                r.previous
                    .map(|p| format!(", consistent with size {p} seen before"))
                    .unwrap_or_default(),
                r.tiles_checked,
                secs,
                rate(r.verified_now, secs),
            );
            Ok(())
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            }
            Err(audit_failure(e))
        }
    }
}

fn mirror_cmd(ctx: &Ctx, dir: &std::path::Path, entries: bool) -> Res<()> {
    let vkey = ctx.vkey()?;
    let mut src = if entries {
        remote(ctx)?
    } else {
        audit::Remote::new(ctx.client()?, None)
    };
    let mut bar = Bar::new("writing the mirror", false);
    let r = audit::mirror(&mut src, &vkey, dir, entries, |d, t| bar.show(d, t));
    bar.finish();
    match r {
        Ok(r) => {
            println!(
                "ok: {} mirrors size {}{} ({} tiles{} written)",
                dir.display(),
                r.checkpoint.size,
                r.previous
                    .map(|p| format!(", consistent with its size {p} before"))
                    .unwrap_or_default(),
                r.tiles_written,
                if entries {
                    format!(", {} entry bundles", r.bundles_written)
                } else {
                    String::new()
                },
            );
            Ok(())
        }
        Err(e) => Err(audit_failure(e)),
    }
}

/// The exit an audit's or a mirror's failure gives: not reached, usage or setup (local state),
/// or verification failed.
fn audit_failure(e: audit::AuditError) -> Fail {
    match e {
        audit::AuditError::Fetch(m) => Fail(Exit::Unreachable, m),
        audit::AuditError::Local(m) => usage(m),
        e @ audit::AuditError::Failed(_) => Fail(Exit::VerificationFailed, e.to_string()),
    }
}

fn rate(n: u64, secs: f64) -> u64 {
    if secs > 0.0 {
        (n as f64 / secs) as u64
    } else {
        0
    }
}

/// A progress bar on a terminal's stderr (nothing when stderr is not a terminal, or for JSON):
/// done/total, the rate and the time left, redrawn at most ten times a second.
struct Bar {
    what: &'static str,
    on: bool,
    t0: std::time::Instant,
    last: Option<std::time::Instant>,
}

impl Bar {
    fn new(what: &'static str, quiet: bool) -> Bar {
        Bar {
            what,
            on: !quiet && std::io::stderr().is_terminal(),
            t0: std::time::Instant::now(),
            last: None,
        }
    }
    fn show(&mut self, done: u64, total: u64) {
        let now = std::time::Instant::now();
        if !self.on
            || (done < total
                && self
                    .last
                    .is_some_and(|l| now - l < Duration::from_millis(100)))
        {
            return;
        }
        self.last = Some(now);
        let line = bar_line(self.what, done, total, (now - self.t0).as_secs_f64());
        eprint!("\r{line}   ");
    }
    fn finish(&self) {
        if self.on && self.last.is_some() {
            eprintln!();
        }
    }
}

/// One progress line: what, a bar of 24, done/total, the rate so far and the time left at it.
fn bar_line(what: &str, done: u64, total: u64, secs: f64) -> String {
    let per_sec = rate(done, secs);
    let filled = ((done.min(total) * 24).checked_div(total).unwrap_or(24)) as usize;
    let eta = (total - done.min(total))
        .checked_div(per_sec)
        .map_or("?".to_owned(), |s| format!("{}:{:02}", s / 60, s % 60));
    format!(
        "{what}: [{}{}] {done}/{total} {per_sec}/s ETA {eta}",
        "#".repeat(filled),
        "-".repeat(24 - filled),
    )
}

fn remote(ctx: &Ctx) -> Res<audit::Remote> {
    let (c, name, key) = reader(ctx)?;
    Ok(audit::Remote::new(c, Some((name, key))))
}

#[cfg(test)]
mod tests {
    use super::bar_line;

    #[test]
    fn the_progress_line_shows_the_share_the_rate_and_the_time_left() {
        assert_eq!(
            bar_line("verifying entries", 50, 100, 2.0),
            "verifying entries: [############------------] 50/100 25/s ETA 0:02"
        );
        assert_eq!(
            bar_line("v", 1_000, 1_000_000, 1.0),
            "v: [------------------------] 1000/1000000 1000/s ETA 16:39"
        );
        // Nothing done yet: no rate, no estimate; done: a full bar.
        assert_eq!(
            bar_line("v", 0, 10, 0.5),
            "v: [------------------------] 0/10 0/s ETA ?"
        );
        assert_eq!(
            bar_line("v", 10, 10, 1.0),
            "v: [########################] 10/10 10/s ETA 0:00"
        );
    }
}
