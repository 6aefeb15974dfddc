//! `vigil`: the client. Exit codes: 0 done, 1 verification failed (audit, receipt), 2 usage or
//! local setup, 3 refused by the appliance (4xx), 4 not reached or overloaded.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use vigil_cli::audit;
use vigil_cli::client::{self, Answer, Client};
use vigil_cli::config::{self, FileConfig};
use vigil_cli::trust;
use vigil_core::{Kind, NoteVerifier, SigningKey, Statement, TlogProof, keyfile, sig};

const EXIT_CODES: &str = "Exit codes: 0 done, 1 verification failed, 2 usage or setup, 3 refused by the appliance (4xx), 4 not reached or overloaded.";

#[derive(Parser)]
#[command(name = "vigil", version, about = "Client for vigil, the signed-alert appliance", after_help = EXIT_CODES)]
struct Cli {
    /// Appliance URL (default: the one `vigil trust` saved).
    #[arg(long, env = "VIGIL_URL", global = true)]
    url: Option<String>,
    /// Signing key: an OpenSSH Ed25519 private key file (as `ssh -i`).
    #[arg(
        short = 'i',
        long = "identity",
        env = "VIGIL_IDENTITY",
        global = true,
        value_name = "FILE"
    )]
    key: Option<PathBuf>,
    /// Enrolled name of the key (default: the key file's name).
    #[arg(long, env = "VIGIL_KEY_NAME", global = true)]
    key_name: Option<String>,
    /// Say what happened, also on success.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Retries on 429, 503 and unreachable (back-off 1, 2, 4… s, or the server's Retry-After).
    #[arg(long, default_value_t = 5, global = true, value_parser = clap::value_parser!(u32).range(0..=20))]
    retries: u32,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make an Ed25519 key pair (private 0600) and print the .pub line to enrol.
    #[command(
        after_help = "Example: vigil keygen backup@nas   # then copy backup@nas.pub to keys/sources/"
    )]
    Keygen {
        /// Enrolled name, also the file name.
        name: String,
        /// Directory to write into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Fetch and pin the appliance's CA and log key on first contact.
    #[command(
        after_help = "Example: vigil trust https://vigil.lan:8443 --fingerprint SHA256:p3Xx…"
    )]
    Trust {
        /// Appliance URL.
        url: String,
        /// Expected CA fingerprint (as on the LCD); without it, asks on the terminal.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Sign an alert and send it; retries with back-off, stores the receipt.
    #[command(
        after_help = "Example: vigil alert --severity warning --title \"disk full\" --topic disk - < df.txt"
    )]
    Alert(AlertArgs),
    /// Print a signed alert for use with curl (statement to --out, headers to stdout).
    #[command(
        after_help = "Example: vigil sign --severity info --title done --out alert.txt > headers.txt\n         curl --cacert ca.pem -H @headers.txt --data-binary @alert.txt $URL/v1/alerts"
    )]
    Sign {
        #[command(flatten)]
        alert: AlertArgs,
        /// Where to write the statement.
        #[arg(long)]
        out: PathBuf,
    },
    /// Read and audit the log.
    Log {
        #[command(subcommand)]
        cmd: LogCmd,
    },
    /// Check a stored receipt offline against the pinned log key.
    #[command(after_help = "Example: vigil verify-receipt ~/.config/vigil/receipts/42.json")]
    VerifyReceipt {
        /// Receipt file (JSON as the appliance returned it).
        receipt: PathBuf,
    },
    /// Save what the appliance's LCD shows now, as PNG (auditor or admin key).
    #[command(after_help = "Example: vigil display -o lcd.png")]
    Display {
        /// Where to write the PNG.
        #[arg(short, long, default_value = "display.png")]
        out: PathBuf,
    },
    /// Admin statements.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
}

#[derive(Args, Clone)]
struct AlertArgs {
    /// info, warning or critical.
    #[arg(long)]
    severity: String,
    /// One line for the display (1-64 characters).
    #[arg(long)]
    title: String,
    /// Topic.
    #[arg(long)]
    topic: Option<String>,
    /// Dedup key: a later alert with the same key replaces this one.
    #[arg(long = "key")]
    dedup_key: Option<String>,
    /// Seconds on the display.
    #[arg(long)]
    ttl: Option<u64>,
    /// Send `state: resolved` (clears the alert with this dedup key).
    #[arg(long)]
    resolve: bool,
    /// Body text, or `-` to read standard input.
    body: Option<String>,
}

#[derive(Subcommand)]
enum LogCmd {
    /// The latest signed checkpoint.
    Checkpoint {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Query entries (pages through all results).
    #[command(
        after_help = "Example: vigil log entries --kind alert --severity critical --since 1795340000000"
    )]
    Entries {
        /// First index.
        #[arg(long)]
        from: Option<u64>,
        /// Stop after this many entries.
        #[arg(long)]
        max: Option<u64>,
        /// Kind (alert, ack, silence, key-enroll, key-revoke, boot, policy).
        #[arg(long)]
        kind: Option<String>,
        /// Signer name.
        #[arg(long)]
        signer: Option<String>,
        /// Severity.
        #[arg(long)]
        severity: Option<String>,
        /// Topic.
        #[arg(long)]
        topic: Option<String>,
        /// Received at or after (unix ms).
        #[arg(long)]
        since: Option<u64>,
        /// Received before (unix ms).
        #[arg(long)]
        until: Option<u64>,
        /// JSON lines output.
        #[arg(long)]
        json: bool,
    },
    /// One entry's raw bytes.
    Get {
        /// Index.
        index: u64,
    },
    /// The inclusion proof (tlog-proof) of an entry.
    Proof {
        /// Index.
        index: u64,
    },
    /// The consistency proof between two tree sizes.
    Consistency {
        /// Older size.
        from: u64,
        /// Newer size.
        to: u64,
    },
    /// Download and verify every entry, signature and proof; refuse rollbacks and forks.
    Audit,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Enrol a key.
    #[command(
        after_help = "Example: vigil admin enroll web01 --role source --public-key web01.pub"
    )]
    Enroll {
        /// Name.
        name: String,
        /// source, auditor or admin.
        #[arg(long)]
        role: String,
        /// The .pub file.
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Revoke a key.
    #[command(after_help = "Example: vigil admin revoke web01 --comment \"laptop stolen\"")]
    Revoke {
        /// Name.
        name: String,
        /// Why.
        #[arg(long)]
        comment: String,
    },
    /// Acknowledge an alert entry.
    #[command(after_help = "Example: vigil admin ack 42 --comment \"on it\"")]
    Ack {
        /// Index of the alert entry.
        index: u64,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Silence matching alerts until a time.
    #[command(
        after_help = "Example: vigil admin silence --match-topic 'backup*' --for 2h --comment maintenance"
    )]
    Silence {
        /// Signer glob.
        #[arg(long)]
        match_signer: Option<String>,
        /// Topic glob.
        #[arg(long)]
        match_topic: Option<String>,
        /// For how long: 90s, 30m, 2h, 1d.
        #[arg(long = "for")]
        duration: String,
        /// Why.
        #[arg(long)]
        comment: String,
    },
}

/// A failure with its exit code.
struct Fail(u8, String);

type Res<T> = Result<T, Fail>;

fn usage(m: impl Into<String>) -> Fail {
    Fail(2, m.into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            eprintln!("vigil: {msg}");
            ExitCode::from(code)
        }
    }
}

struct Ctx {
    dir: PathBuf,
    file: FileConfig,
    url: Option<String>,
    key: Option<PathBuf>,
    key_name: Option<String>,
    verbose: bool,
    retries: u32,
}

impl Ctx {
    fn url(&self) -> Res<String> {
        self.url
            .clone()
            .or_else(|| self.file.url.clone())
            .ok_or_else(|| usage("no appliance URL: run `vigil trust URL` or pass --url"))
    }
    fn ca(&self) -> Res<String> {
        std::fs::read_to_string(self.dir.join("ca.pem"))
            .map_err(|_| usage("no pinned CA: run `vigil trust URL` first"))
    }
    fn vkey(&self) -> Res<NoteVerifier> {
        let t = std::fs::read_to_string(self.dir.join("log.vkey"))
            .map_err(|_| usage("no pinned log key: run `vigil trust URL` first"))?;
        NoteVerifier::from_vkey(t.trim()).map_err(|e| usage(format!("pinned log key: {e}")))
    }
    fn client(&self) -> Res<Client> {
        Client::new(&self.url()?, &self.ca()?).map_err(|e| usage(e.to_string()))
    }
    fn signing_key(&self) -> Res<(String, SigningKey)> {
        let path = self
            .key
            .clone()
            .or_else(|| self.file.identity.clone())
            .ok_or_else(|| usage("no signing key: pass -i FILE or set VIGIL_IDENTITY"))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let key = keyfile::decode(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let name = self
            .key_name
            .clone()
            .or_else(|| self.file.key_name.clone())
            .or_else(|| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .map(|n| n.trim_end_matches(".key").to_owned())
            })
            .ok_or_else(|| usage("cannot tell the key's enrolled name: pass --key-name"))?;
        Ok((name, key))
    }
}

fn run(cli: Cli) -> Res<()> {
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
        Cmd::Keygen { name, dir } => keygen(&name, &dir),
        Cmd::Trust { url, fingerprint } => trust_cmd(&ctx, &url, fingerprint),
        Cmd::Alert(a) => {
            let (name, key) = ctx.signing_key()?;
            let st = alert_statement(&ctx, &a)?;
            send(&ctx, "/v1/alerts", &st, &name, &key)
        }
        Cmd::Sign { alert, out } => {
            let (name, key) = ctx.signing_key()?;
            let st = alert_statement(&ctx, &alert)?;
            std::fs::write(&out, &st).map_err(|e| usage(format!("{}: {e}", out.display())))?;
            for (k, v) in client::statement_headers(st.as_bytes(), &name, &key) {
                println!("{k}: {v}");
            }
            Ok(())
        }
        Cmd::Log { cmd } => log_cmd(&ctx, cmd),
        Cmd::VerifyReceipt { receipt } => verify_receipt(&ctx, &receipt),
        Cmd::Display { out } => {
            let (c, name, key) = reader(&ctx)?;
            let a = signed_get(&c, &name, &key, "/v1/display.png")?;
            std::fs::write(&out, &a.body).map_err(|e| usage(format!("{}: {e}", out.display())))?;
            eprintln!("{} ({} bytes)", out.display(), a.body.len());
            Ok(())
        }
        Cmd::Admin { cmd } => admin(&ctx, cmd),
    }
}

fn keygen(name: &str, dir: &Path) -> Res<()> {
    if !vigil_core::statement::valid_name(name) {
        return Err(usage(format!(
            "`{name}` is not a valid name ([a-z0-9][a-z0-9._@-]{{0,63}})"
        )));
    }
    let (priv_path, pub_path) = (dir.join(name), dir.join(format!("{name}.pub")));
    for p in [&priv_path, &pub_path] {
        if p.exists() {
            return Err(usage(format!(
                "{} exists; refusing to overwrite",
                p.display()
            )));
        }
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| Fail(1, format!("random number generator: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let text = keyfile::encode(&key, name).map_err(|e| Fail(1, e.to_string()))?;
    write_private(&priv_path, text.as_bytes())?;
    let line = sig::openssh_public_key_line(&key.verifying_key(), name);
    std::fs::write(&pub_path, format!("{line}\n"))
        .map_err(|e| usage(format!("{}: {e}", pub_path.display())))?;
    println!("{line}");
    eprintln!(
        "wrote {} (private, 0600) and {}",
        priv_path.display(),
        pub_path.display()
    );
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Res<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    f.write_all(data)
        .map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn trust_cmd(ctx: &Ctx, url: &str, fingerprint: Option<String>) -> Res<()> {
    let url = url.trim_end_matches('/').to_owned();
    let ca = trust::fetch_ca(&url).map_err(|e| Fail(4, e))?;
    let fp = trust::fingerprint_pem(&ca)
        .ok_or_else(|| Fail(4, "the CA certificate is unreadable".into()))?;
    println!("CA fingerprint: {fp}");
    match fingerprint {
        Some(want) if want.trim() == fp => {}
        Some(want) => {
            return Err(Fail(
                1,
                format!(
                    "fingerprint mismatch: expected {want}, the appliance presented {fp}; nothing saved"
                ),
            ));
        }
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(usage(
                    "not a terminal: pass --fingerprint (as shown on the LCD) to pin non-interactively",
                ));
            }
            print!("Does this match the fingerprint on the appliance's screen? [y/N] ");
            let _ = std::io::stdout().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Err(Fail(1, "not confirmed; nothing saved".into()));
            }
        }
    }
    // From here on, only that CA is trusted.
    let c = Client::new(&url, &ca).map_err(|e| usage(e.to_string()))?;
    let vkey = expect_ok(c.get("/v1/log/vkey").map_err(|e| Fail(4, e.to_string()))?)?.text();
    let v = NoteVerifier::from_vkey(vkey.trim())
        .map_err(|e| Fail(1, format!("the appliance's vkey: {e}")))?;
    println!("log key: {}", v.vkey());
    println!(
        "log key fingerprint: {} (also on the LCD at first boot)",
        sig::fingerprint(v.key())
    );
    std::fs::create_dir_all(&ctx.dir).map_err(|e| usage(format!("{}: {e}", ctx.dir.display())))?;
    std::fs::write(ctx.dir.join("ca.pem"), &ca).map_err(|e| usage(e.to_string()))?;
    std::fs::write(ctx.dir.join("log.vkey"), format!("{}\n", v.vkey()))
        .map_err(|e| usage(e.to_string()))?;
    let mut file = ctx.file.clone();
    file.url = Some(url);
    config::save(&ctx.dir, &file).map_err(usage)?;
    println!("saved to {}", ctx.dir.display());
    Ok(())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn alert_statement(ctx: &Ctx, a: &AlertArgs) -> Res<String> {
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
fn checked(st: vigil_core::statement::Builder) -> Res<String> {
    let text = st.text();
    st.build().map_err(|e| usage(format!("statement: {e}")))?;
    Ok(text)
}

fn expect_ok(a: Answer) -> Res<Answer> {
    match a.status {
        200..=299 => Ok(a),
        400..=499 if a.status != 429 => Err(Fail(3, describe(&a))),
        _ => Err(Fail(4, describe(&a))),
    }
}

fn describe(a: &Answer) -> String {
    match serde_json::from_slice::<serde_json::Value>(&a.body) {
        Ok(v) if v.get("error").is_some() => format!(
            "refused ({} {}): {}",
            a.status,
            v["error"].as_str().unwrap_or_default(),
            v["detail"].as_str().unwrap_or_default()
        ),
        _ => format!("HTTP {}: {}", a.status, a.text().trim()),
    }
}

/// Sends with retries: on 429, 503 and unreachable, waits (Retry-After, else 1, 2, 4… s).
fn send(ctx: &Ctx, path: &str, st: &str, name: &str, key: &SigningKey) -> Res<()> {
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
                    return Err(Fail(4, describe(&a)));
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
            Ok(a) => return Err(Fail(3, describe(&a))),
            Err(e) => {
                if last {
                    return Err(Fail(4, e.to_string()));
                }
                if ctx.verbose {
                    eprintln!("{e}; retrying in {} s", wait.as_secs());
                }
                std::thread::sleep(wait);
            }
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
    Err(Fail(4, "gave up".into()))
}

fn store_receipt(ctx: &Ctx, a: &Answer) -> Res<()> {
    let v: serde_json::Value =
        serde_json::from_slice(&a.body).map_err(|_| Fail(4, "the receipt is not JSON".into()))?;
    let index = v["index"]
        .as_u64()
        .ok_or_else(|| Fail(4, "the receipt has no index".into()))?;
    check_receipt(&ctx.vkey()?, &v)?;
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

fn check_receipt(vkey: &NoteVerifier, v: &serde_json::Value) -> Res<vigil_core::Checkpoint> {
    let bad = |m: &str| Fail(1, format!("receipt does not verify: {m}"));
    let index = v["index"].as_u64().ok_or_else(|| bad("no index"))?;
    let leaf: [u8; 32] = v["entry_hash"]
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("entry_hash is not a base64 SHA-256"))?;
    let proof = TlogProof::parse(v["proof"].as_str().ok_or_else(|| bad("no proof"))?)
        .map_err(|e| bad(&e.to_string()))?;
    if proof.index != index {
        return Err(bad("the proof is for another index"));
    }
    proof.verify(&leaf, vkey).map_err(|e| bad(&e.to_string()))
}

fn verify_receipt(ctx: &Ctx, path: &Path) -> Res<()> {
    let text = std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|_| Fail(1, format!("{}: not a receipt (JSON)", path.display())))?;
    let cp = check_receipt(&ctx.vkey()?, &v)?;
    println!(
        "ok: entry {} is in {} at size {} (root {})",
        v["index"],
        cp.origin,
        cp.size,
        base64::engine::general_purpose::STANDARD.encode(cp.root)
    );
    Ok(())
}

fn reader(ctx: &Ctx) -> Res<(Client, String, SigningKey)> {
    let (name, key) = ctx.signing_key()?;
    Ok((ctx.client()?, name, key))
}

fn signed_get(c: &Client, name: &str, key: &SigningKey, path: &str) -> Res<Answer> {
    expect_ok(
        c.signed_get(path, name, key, now_secs())
            .map_err(|e| Fail(4, e.to_string()))?,
    )
}

fn log_cmd(ctx: &Ctx, cmd: LogCmd) -> Res<()> {
    match cmd {
        LogCmd::Checkpoint { json } => {
            let note = expect_ok(
                ctx.client()?
                    .get("/v1/log/checkpoint")
                    .map_err(|e| Fail(4, e.to_string()))?,
            )?
            .text();
            let cp = vigil_core::Checkpoint::verify(&note, &ctx.vkey()?)
                .map_err(|e| Fail(1, format!("checkpoint does not verify: {e}")))?;
            let root = base64::engine::general_purpose::STANDARD.encode(cp.root);
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
        LogCmd::Entries {
            from,
            max,
            kind,
            signer,
            severity,
            topic,
            since,
            until,
            json,
        } => {
            let (c, name, key) = reader(ctx)?;
            let mut q: Vec<String> = Vec::new();
            for (k, v) in [
                ("kind", kind),
                ("signer", signer),
                ("severity", severity),
                ("topic", topic),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", encode_query(&v)));
                }
            }
            for (k, v) in [("since", since), ("until", until)] {
                if let Some(v) = v {
                    q.push(format!("{k}={v}"));
                }
            }
            let mut next = from.unwrap_or(0);
            let mut shown = 0u64;
            loop {
                let mut parts = q.clone();
                parts.push(format!("from={next}"));
                let a = signed_get(
                    &c,
                    &name,
                    &key,
                    &format!("/v1/log/entries?{}", parts.join("&")),
                )?;
                let v: serde_json::Value = serde_json::from_slice(&a.body)
                    .map_err(|_| Fail(4, "unexpected answer".into()))?;
                for e in v["entries"].as_array().into_iter().flatten() {
                    if max.is_some_and(|m| shown >= m) {
                        return Ok(());
                    }
                    if json {
                        println!("{e}");
                    } else {
                        let h = &e["headers"];
                        let what = match e["kind"].as_str() {
                            Some("alert") => format!(
                                "{} {}",
                                h["severity"].as_str().unwrap_or(""),
                                h["title"].as_str().unwrap_or("")
                            ),
                            _ => h
                                .as_object()
                                .map(|o| {
                                    o.iter()
                                        .filter(|(k, _)| {
                                            !["to", "ts", "nonce"].contains(&k.as_str())
                                        })
                                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                })
                                .unwrap_or_default(),
                        };
                        println!(
                            "{:>6}  {}  {:<10}  {:<16}  {what}",
                            e["index"],
                            e["received"],
                            e["kind"].as_str().unwrap_or(""),
                            e["signer"].as_str().unwrap_or("")
                        );
                    }
                    shown += 1;
                }
                match v["next"].as_u64() {
                    Some(n) => next = n,
                    None => return Ok(()),
                }
            }
        }
        LogCmd::Get { index } => {
            let (c, name, key) = reader(ctx)?;
            let a = signed_get(&c, &name, &key, &format!("/v1/log/entries/{index}"))?;
            std::io::stdout()
                .write_all(&a.body)
                .map_err(|e| Fail(1, e.to_string()))
        }
        LogCmd::Proof { index } => print_public(ctx, &format!("/v1/log/proof/{index}")),
        LogCmd::Consistency { from, to } => {
            print_public(ctx, &format!("/v1/log/consistency?from={from}&to={to}"))
        }
        LogCmd::Audit => {
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
                Err(audit::AuditError::Fetch(m)) => Err(Fail(4, m)),
                Err(audit::AuditError::Local(m)) => Err(usage(m)),
                Err(e @ audit::AuditError::Failed(_)) => Err(Fail(1, e.to_string())),
            }
        }
    }
}

/// Prints an unauthenticated GET's text answer.
fn print_public(ctx: &Ctx, path: &str) -> Res<()> {
    let a = expect_ok(
        ctx.client()?
            .get(path)
            .map_err(|e| Fail(4, e.to_string()))?,
    )?;
    print!("{}", a.text());
    Ok(())
}

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
        a.text()
            .lines()
            .map(|l| {
                base64::engine::general_purpose::STANDARD
                    .decode(l)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| "a consistency proof line is not a hash".to_string())
            })
            .collect()
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

fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn admin(ctx: &Ctx, cmd: AdminCmd) -> Res<()> {
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
            let secs = parse_duration(&duration)
                .ok_or_else(|| usage(format!("--for `{duration}`: use 90s, 30m, 2h or 1d")))?;
            start(Kind::Silence)
                .header_opt("match-signer", match_signer)
                .header_opt("match-topic", match_topic)
                .header("until", now_secs() + secs)
                .header("comment", comment)
        }
    };
    let st = checked(st)?;
    let (name, key) = ctx.signing_key()?;
    send(ctx, "/v1/admin", &st, &name, &key)
}

fn parse_duration(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mul).filter(|&v| v > 0)
}
