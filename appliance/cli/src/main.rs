//! `vigil`: the client (docs/spec.md §9). This file is glue: parse the command line, build the
//! context, hand the verb to `cmd`. Exit codes: `vigil_cli::exit::Exit`.

use std::process::ExitCode;

use clap::Parser as _;
use vigil_cli::client;
use vigil_cli::config;

mod args;
mod cmd;

use args::{Cli, Cmd};
use cmd::keys::{keygen, trust_cmd};
use cmd::log::log_cmd;
use cmd::send::{admin, alert_statement, send, verify_receipt};
use cmd::{Ctx, Fail, Res, reader, signed_get, usage};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(exit, msg)) => {
            eprintln!("vigil: {msg}");
            ExitCode::from(exit.code())
        }
    }
}

/// Runs the verb; the exit status is 0 but for `vigil checkin` with a command (the command's).
fn run(cli: Cli) -> Res<u8> {
    let dir = config::config_dir();
    let file = config::load(&dir).map_err(usage)?;
    let ctx = Ctx {
        dir,
        file,
        url: cli.url,
        key: cli.key,
        key_name: cli.key_name,
        verbose: cli.verbose,
        retries: cli.retries,
    };
    match cli.cmd {
        Cmd::Checkin(a) => cmd::checkin::run(&ctx, &a),
        other => verb(&ctx, other).map(|()| 0),
    }
}

fn verb(ctx: &Ctx, cmd: Cmd) -> Res<()> {
    match cmd {
        // `run` takes it first, to pass on the command's exit status.
        Cmd::Checkin(a) => cmd::checkin::run(ctx, &a).map(drop),
        Cmd::Keygen { name, dir } => keygen(&name, &dir),
        Cmd::Trust { url, fingerprint } => trust_cmd(ctx, &url, fingerprint),
        Cmd::Alert(a) => {
            let (name, key) = ctx.signing_key()?;
            let st = alert_statement(ctx, &a)?;
            send(ctx, "/v1/alerts", &st, &name, &key)
        }
        Cmd::Sign { alert, out } => {
            let (name, key) = ctx.signing_key()?;
            let st = alert_statement(ctx, &alert)?;
            std::fs::write(&out, &st).map_err(|e| usage(format!("{}: {e}", out.display())))?;
            for (k, v) in client::statement_headers(st.as_bytes(), &name, &key) {
                println!("{k}: {v}");
            }
            Ok(())
        }
        Cmd::Log { cmd } => log_cmd(ctx, cmd),
        Cmd::VerifyReceipt { receipt } => verify_receipt(ctx, &receipt),
        Cmd::Display { out } => {
            let (c, name, key) = reader(ctx)?;
            let a = signed_get(&c, &name, &key, "/v1/display.png")?;
            std::fs::write(&out, &a.body).map_err(|e| usage(format!("{}: {e}", out.display())))?;
            eprintln!("{} ({} bytes)", out.display(), a.body.len());
            Ok(())
        }
        Cmd::Admin { cmd } => admin(ctx, cmd),
        Cmd::Bridge {
            cmd: args::BridgeCmd::Alertmanager { listen, token_file },
        } => cmd::bridge::run(ctx, listen, token_file.as_deref()),
    }
}
