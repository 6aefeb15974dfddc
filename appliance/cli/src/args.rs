//! The command line: verbs, flags and their help (docs/spec.md §9).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vigil", version, about = "Client for vigil, the signed-alert appliance", after_help = vigil_cli::exit::HELP)]
pub(crate) struct Cli {
    /// Appliance URL (default: the one `vigil trust` saved).
    #[arg(long, env = "VIGIL_URL", global = true)]
    pub(crate) url: Option<String>,
    /// Signing key: an OpenSSH Ed25519 private key file (as `ssh -i`).
    #[arg(
        short = 'i',
        long = "identity",
        env = "VIGIL_IDENTITY",
        global = true,
        value_name = "FILE"
    )]
    pub(crate) key: Option<PathBuf>,
    /// Enrolled name of the key (default: the key file's name).
    #[arg(long, env = "VIGIL_KEY_NAME", global = true)]
    pub(crate) key_name: Option<String>,
    /// Say what happened, also on success.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    /// Retries on 429, 503 and unreachable (back-off 1, 2, 4… s, or the server's Retry-After).
    #[arg(long, default_value_t = 5, global = true, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub(crate) retries: u32,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
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
    /// Check in for a job (a dead-man's switch); wraps a command given after `--`.
    ///
    /// With a command, sends `start`, runs it, then `ok` or `fail` with its exit code and the
    /// end of its output, and exits with the command's own code.
    #[command(
        after_help = "Examples: vigil checkin backup --every 1d --grace 1h -- /usr/local/bin/backup --all
          vigil checkin dump --schedule '30 2 * * *' --tz Europe/Berlin -- pg_dumpall -f /srv/dump.sql
          vigil checkin heartbeat --every 5m        # one `ok`, no command"
    )]
    Checkin(CheckinArgs),
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
    /// Bridges from other alerting systems.
    Bridge {
        #[command(subcommand)]
        cmd: BridgeCmd,
    },
}

#[derive(Subcommand)]
pub(crate) enum BridgeCmd {
    /// Serve Alertmanager's webhook: each alert of a notification is signed and sent as an alert.
    #[command(
        after_help = "Example: vigil -i alertmanager.key bridge alertmanager --listen 127.0.0.1:9095\n         (Alertmanager: webhook_configs: [{url: http://127.0.0.1:9095/, send_resolved: true}])"
    )]
    Alertmanager {
        /// Address to listen on (loopback unless --token-file is given).
        #[arg(long, default_value = "127.0.0.1:9095")]
        listen: std::net::SocketAddr,
        /// A file holding the bearer token every request must carry (owner-only, 16+ characters).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
pub(crate) struct AlertArgs {
    /// info, warning or critical.
    #[arg(long)]
    pub(crate) severity: String,
    /// One line for the display (1-64 characters).
    #[arg(long)]
    pub(crate) title: String,
    /// Topic.
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// Dedup key: a later alert with the same key replaces this one.
    #[arg(long = "key")]
    pub(crate) dedup_key: Option<String>,
    /// Seconds on the display.
    #[arg(long)]
    pub(crate) ttl: Option<u64>,
    /// Send `state: resolved` (clears the alert with this dedup key).
    #[arg(long)]
    pub(crate) resolve: bool,
    /// Body text, or `-` to read standard input.
    pub(crate) body: Option<String>,
}

#[derive(Args, Clone)]
pub(crate) struct CheckinArgs {
    /// The check's name.
    pub(crate) name: String,
    /// At most this long between check-ins (90s, 15m, 1h30m, 1d, 2w).
    #[arg(
        long,
        required_unless_present = "schedule",
        conflicts_with = "schedule"
    )]
    pub(crate) every: Option<String>,
    /// When the job runs: five cron fields (minute hour day-of-month month day-of-week), as a
    /// crontab line says them (`@daily`, `MON-FRI` and `JAN` are taken and signed as numbers).
    #[arg(long)]
    pub(crate) schedule: Option<String>,
    /// The schedule's time zone (IANA name; default UTC).
    #[arg(long, requires = "schedule")]
    pub(crate) tz: Option<String>,
    /// How late a check-in may be (default a tenth of the period, at least 10s).
    #[arg(long)]
    pub(crate) grace: Option<String>,
    /// What a miss or failure shows as: warning or critical (default).
    #[arg(long)]
    pub(crate) severity: Option<String>,
    /// One line for the display (default the check's name).
    #[arg(long)]
    pub(crate) title: Option<String>,
    /// Without a command: start, ok (default) or fail.
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// The command to run, after `--`.
    #[arg(last = true)]
    pub(crate) command: Vec<String>,
}

#[derive(Subcommand)]
pub(crate) enum LogCmd {
    /// The latest signed checkpoint.
    Checkpoint {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Query entries (pages through all results).
    #[command(
        after_help = "Example: vigil log entries --kind alert --severity critical --since 2h\n         vigil log entries --since 2026-11-28T08:00:00+01:00 --until 1h --utc"
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
        /// Received at or after: RFC 3339 (2026-11-28T09:30:00Z) or a span back from now (2h, 3d).
        #[arg(long)]
        since: Option<String>,
        /// Received before: RFC 3339 or a span back from now.
        #[arg(long)]
        until: Option<String>,
        /// Print times in UTC (default: the local zone). JSON output keeps unix ms.
        #[arg(long)]
        utc: bool,
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
    /// Verify every entry, signature and tile of the log; refuse rollbacks and forks. Resumes
    /// where the last audit stopped.
    #[command(
        after_help = "Example: vigil -i auditor log audit\n         vigil log audit --from http://192.0.2.10/vigil --json"
    )]
    Audit {
        /// Read a mirror (made by `vigil log mirror`: a directory, or the http:// or https://
        /// URL a web server publishes it at) instead of the appliance; the pinned vkey still
        /// decides what verifies.
        #[arg(long, value_name = "DIR|URL")]
        from: Option<String>,
        /// Machine-readable output (one JSON object).
        #[arg(long)]
        json: bool,
    },
    /// Write or update a static C2SP tlog-tiles mirror of the log in DIR (checkpoint and hash
    /// tiles; with --entries also the entry bundles, which needs an auditor key).
    #[command(after_help = "Example: vigil -i auditor log mirror /srv/vigil-mirror --entries")]
    Mirror {
        /// The mirror directory (created if missing).
        dir: std::path::PathBuf,
        /// Also write the entry bundles (the alerts' text: publish with care).
        #[arg(long)]
        entries: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AdminCmd {
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
    /// Pause a source's check (no miss until it next checks in) or delete it.
    #[command(after_help = "Example: vigil admin check nas backup pause --comment \"disk swap\"")]
    Check {
        /// The source whose check it is.
        signer: String,
        /// The check.
        check: String,
        /// pause or delete.
        #[arg(value_parser = ["pause", "delete"])]
        action: String,
        /// Why.
        #[arg(long)]
        comment: Option<String>,
    },
}
