//! `vigil checkin NAME (--every D | --schedule CRON [--tz ZONE]) [-- CMD ARGS…]`: a dead-man's
//! switch for a job (docs/spec.md §2 `checkin/v1`).
//!
//! Without a command it sends one check-in (`ok`, or `--status`). With one, it sends `start`,
//! runs the command (its output passes through), then sends `ok` or `fail` with the exit code,
//! the time it took and the last lines of its output, and exits with the command's own code.
//! The command runs whatever happens to the check-ins: an appliance that cannot be reached costs
//! a message on standard error after the retries, never the job (the appliance's `missed/v1`
//! then tells the truth).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use vigil_cli::client;
use vigil_core::statement::MAX_STATEMENT_BYTES;
use vigil_core::{Kind, Statement};

use super::send::{checked, send};
use super::{Ctx, Fail, Res, now_secs, usage};
use crate::args::CheckinArgs;

/// How much of the command's output is kept (the statement holds at most 4096 bytes).
const KEEP_OUTPUT: usize = 8192;

/// Runs the verb; returns the process exit status.
pub(crate) fn run(ctx: &Ctx, a: &CheckinArgs) -> Res<u8> {
    let a = &with_canonical_schedule(a)?;
    let (name, key) = ctx.signing_key()?;
    let origin = ctx.vkey()?.name().to_owned();
    let statement = |status: &str, exit: Option<i32>, body: &str| -> Res<String> {
        build(&origin, a, status, exit, body)
    };
    let Some((program, args)) = a.command.split_first() else {
        let st = statement(a.status.as_deref().unwrap_or("ok"), None, "")?;
        send(ctx, "/v1/checkins", &st, &name, &key)?;
        return Ok(0);
    };
    if a.status.is_some() {
        return Err(usage(
            "--status goes without a command (with one, it is the command's)",
        ));
    }
    // Everything the check-ins need is checked before the job runs.
    let start = statement("start", None, "")?;
    // `start` goes out beside the command, never before it: an appliance that cannot be
    // reached (and the retries' back-off) must not delay the job. It is in the log before the
    // result, which waits for it.
    std::thread::scope(|scope| {
        let started = scope.spawn(|| {
            report(ctx, send(ctx, "/v1/checkins", &start, &name, &key), "start");
        });
        let began = Instant::now();
        let (code, exit, tail) = match spawn_and_wait(program, args) {
            Ok((code, tail)) => (code, code_of(code), tail),
            Err(e) => {
                eprintln!("vigil: cannot run {program}: {e}");
                (None, 127, format!("cannot run {program}: {e}\n"))
            }
        };
        let took = began.elapsed().as_secs_f64();
        let _ = started.join();
        let status = if exit == 0 { "ok" } else { "fail" };
        let head = format!("exit {exit} after {took:.1} s\n");
        let st = fit(
            &origin,
            a,
            status,
            Some(code.unwrap_or(exit as i32)),
            &head,
            &tail,
        )?;
        report(ctx, send(ctx, "/v1/checkins", &st, &name, &key), status);
        Ok(exit)
    })
}

/// The exit status `vigil` passes on: the command's code, or 128 + the signal that ended it.
fn code_of(code: Option<i32>) -> u8 {
    code.map_or(128 + 9, |c| (c & 0xff) as u8)
}

/// The arguments with `--schedule` in the one spelling a statement takes: a crontab line's
/// `@daily` or `0 3 * * MON-FRI` is signed as `0 0 * * *` or `0 3 * * 1-5`.
fn with_canonical_schedule(a: &CheckinArgs) -> Res<CheckinArgs> {
    let mut a = a.clone();
    if let Some(s) = &a.schedule {
        let canonical = vigil_core::checkin::canonical_schedule(s)
            .map_err(|e| usage(format!("--schedule {s:?}: {e}")))?;
        a.schedule = Some(canonical);
    }
    Ok(a)
}

/// A check-in that could not be sent is a message, never the job's failure.
fn report(ctx: &Ctx, sent: Res<()>, what: &str) {
    match sent {
        Ok(()) => {
            if ctx.verbose {
                eprintln!("vigil: check-in `{what}` logged");
            }
        }
        Err(Fail(_, why)) => eprintln!("vigil: check-in `{what}` not logged: {why}"),
    }
}

fn build(
    origin: &str,
    a: &CheckinArgs,
    status: &str,
    exit: Option<i32>,
    body: &str,
) -> Res<String> {
    let st = Statement::builder(Kind::Checkin, origin, now_secs(), &client::random_nonce())
        .header("check", &a.name)
        .header_opt("every", a.every.as_ref())
        .header_opt("schedule", a.schedule.as_ref())
        .header_opt("tz", a.tz.as_ref())
        .header_opt("grace", a.grace.as_ref())
        .header("status", status)
        .header_opt("exit", exit)
        .header_opt("severity", a.severity.as_ref())
        .header_opt("title", a.title.as_ref())
        .body(body);
    checked(st)
}

/// The final check-in with as many of the output's last lines as fit the statement limit (and
/// the display: output it cannot show is sent as ASCII, other characters as `?`).
fn fit(
    origin: &str,
    a: &CheckinArgs,
    status: &str,
    exit: Option<i32>,
    head: &str,
    tail: &str,
) -> Res<String> {
    let bare = build(origin, a, status, exit, head)?;
    let room = MAX_STATEMENT_BYTES.saturating_sub(bare.len() + 1);
    let lines = last_lines(tail, room);
    let body = vigil_cli::showable(&format!("{head}{lines}"), |b| {
        build(origin, a, status, exit, b).is_ok()
    });
    build(origin, a, status, exit, &body).or(Ok(bare))
}

/// The last whole lines of `text` that fit in `room` bytes, with carriage returns and other
/// control characters but TAB and LF dropped.
fn last_lines(text: &str, room: usize) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let mut out: Vec<&str> = Vec::new();
    let mut used = 0;
    for line in clean.lines().rev() {
        if used + line.len() + 1 > room {
            break;
        }
        used += line.len() + 1;
        out.push(line);
    }
    out.reverse();
    let mut s = out.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

/// Runs the command with its output passed through and the end of it kept; returns its exit
/// code (`None` when a signal ended it) and that end.
fn spawn_and_wait(program: &str, args: &[String]) -> std::io::Result<(Option<i32>, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let kept = Arc::new(Mutex::new(Vec::<u8>::new()));
    let pump = |from: Box<dyn Read + Send>, to: fn() -> Box<dyn Write>| {
        let kept = kept.clone();
        std::thread::spawn(move || {
            let mut from = from;
            let mut to = to();
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = to.write_all(&buf[..n]);
                let _ = to.flush();
                let mut k = kept
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                k.extend_from_slice(&buf[..n]);
                if k.len() > 2 * KEEP_OUTPUT {
                    let cut = k.len() - KEEP_OUTPUT;
                    k.drain(..cut);
                }
            }
        })
    };
    let out = child
        .stdout
        .take()
        .map(|o| pump(Box::new(o), || Box::new(std::io::stdout())));
    let err = child
        .stderr
        .take()
        .map(|e| pump(Box::new(e), || Box::new(std::io::stderr())));
    let status = child.wait()?;
    for t in [out, err].into_iter().flatten() {
        let _ = t.join();
    }
    let kept = kept
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let from = kept.len().saturating_sub(KEEP_OUTPUT);
    Ok((
        status.code(),
        String::from_utf8_lossy(&kept[from..]).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_that_fit_and_no_control_characters() {
        let text = "one\ntwo\r\nthree \u{1b}[31mred\u{1b}[0m\nfour\n";
        assert_eq!(last_lines(text, 100), "one\ntwo\nthree [31mred[0m\nfour\n");
        assert_eq!(last_lines(text, 5), "four\n");
        assert_eq!(last_lines(text, 4), "");
        assert_eq!(last_lines("", 100), "");
    }

    #[test]
    fn a_signal_is_128_plus_and_codes_wrap_as_a_shell_s() {
        assert_eq!(code_of(Some(0)), 0);
        assert_eq!(code_of(Some(3)), 3);
        assert_eq!(code_of(Some(256 + 7)), 7);
        assert_eq!(code_of(None), 137);
    }
}
