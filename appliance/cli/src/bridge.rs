//! The Alertmanager bridge's translation (docs/spec.md §9, `vigil bridge alertmanager`): a
//! webhook notification (payload version 4) becomes one `alert/v1` per alert, signed with the
//! bridge's enrolled source key.
//!
//! - title: `annotations.summary`, else `labels.alertname`, cut to 64 characters (ASCII with
//!   `?` for what the display could not show);
//! - severity: `labels.severity` — `critical`, `error`, `page` → critical; `warning`, `warn` →
//!   warning; `info`, `informational`, `none` → info; anything else or none → warning;
//! - topic: `labels.alertname` as a name (lowercase; other characters `-`), else
//!   `alertmanager`; dedup key: the alert's fingerprint; state: firing or resolved;
//! - body: the labels, then the annotations, one `name: value` a line, sorted, cut to fit.
//!
//! Alertmanager retries a notification it could not deliver, and repeats firing alerts: the
//! nonce is derived from the fingerprint, `startsAt` and the status, and the statement first
//! signed for a nonce is kept ([`Sent`]) and sent again byte for byte, so a retry (also after a
//! restart of the bridge) gets the first answer's receipt (200), never a second entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vigil_core::statement::{Builder, MAX_STATEMENT_BYTES, MAX_TITLE_CHARS};
use vigil_core::{Kind, Statement};

use crate::showable;

/// One alert of a notification (fields vigil does not use are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct AmAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started (RFC 3339).
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// Alertmanager's identity of the alert.
    pub fingerprint: String,
}

/// A webhook notification.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    /// The payload version: `4`.
    pub version: String,
    /// The alerts.
    pub alerts: Vec<AmAlert>,
}

/// Why a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    /// Not JSON of the webhook's shape.
    #[error("not an Alertmanager webhook notification: {0}")]
    Malformed(String),
    /// Another payload version.
    #[error("payload version {0} (this bridge reads version 4)")]
    Version(String),
    /// An alert's status is neither firing nor resolved.
    #[error("alert status `{0}` (firing or resolved)")]
    Status(String),
}

/// Reads a notification.
pub fn parse(body: &[u8]) -> Result<Notification, BridgeError> {
    let n: Notification =
        serde_json::from_slice(body).map_err(|e| BridgeError::Malformed(e.to_string()))?;
    if n.version != "4" {
        return Err(BridgeError::Version(n.version.chars().take(16).collect()));
    }
    if let Some(a) = n
        .alerts
        .iter()
        .find(|a| a.status != "firing" && a.status != "resolved")
    {
        return Err(BridgeError::Status(a.status.chars().take(16).collect()));
    }
    Ok(n)
}

/// The severity an alert's `severity` label maps to.
pub fn severity(label: Option<&str>) -> &'static str {
    match label.map(str::to_ascii_lowercase).as_deref() {
        Some("critical" | "error" | "page") => "critical",
        Some("info" | "informational" | "none") => "info",
        _ => "warning",
    }
}

/// `alertname` as a topic name.
pub fn topic(alertname: Option<&str>) -> String {
    let mut t: String = alertname
        .unwrap_or("")
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '@' | '-' => c,
            _ => '-',
        })
        .take(64)
        .collect();
    if !t.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        t = format!("am-{t}").chars().take(64).collect();
    }
    if t == "am-" { "alertmanager".into() } else { t }
}

/// The nonce of an alert: SHA-256 of (fingerprint, startsAt, status), hex.
pub fn nonce(a: &AmAlert) -> String {
    let material = format!(
        "vigil-bridge/alertmanager\0{}\0{}\0{}",
        a.fingerprint, a.starts_at, a.status
    );
    hex::encode(vigil_core::sha256(material.as_bytes()))
}

/// The `alert/v1` for one alert, signed at `ts` for the log `origin`.
pub fn statement(origin: &str, ts: u64, a: &AmAlert) -> Result<String, String> {
    let title_src = a
        .annotations
        .get("summary")
        .or_else(|| a.labels.get("alertname"))
        .map_or("alert", String::as_str);
    let cut: String = title_src
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE_CHARS)
        .collect();
    let base = |title: &str, body: &str| -> Builder {
        let key = Some(&a.fingerprint)
            .filter(|f| !f.is_empty() && f.len() <= 64 && f.chars().all(|c| c.is_ascii_graphic()));
        Statement::builder(Kind::Alert, origin, ts, &nonce(a))
            .header(
                "severity",
                severity(a.labels.get("severity").map(String::as_str)),
            )
            .header("title", title)
            .header(
                "topic",
                topic(a.labels.get("alertname").map(String::as_str)),
            )
            .header_opt("key", key)
            .header_opt("state", (a.status == "resolved").then_some("resolved"))
            .body(body.to_owned())
    };
    let title = showable(
        if cut.trim().is_empty() {
            "alert"
        } else {
            cut.trim()
        },
        |t| base(t, "").build().is_ok(),
    );
    let mut lines: Vec<String> = Vec::new();
    for (what, map) in [("label", &a.labels), ("annotation", &a.annotations)] {
        for (k, v) in map {
            let line: String = format!("{what} {k}: {v}")
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(240)
                .collect();
            lines.push(line);
        }
    }
    let bare = base(&title, "").text();
    let room = MAX_STATEMENT_BYTES.saturating_sub(bare.len() + 1);
    let mut body = String::new();
    for l in lines {
        if body.len() + l.len() + 1 > room {
            break;
        }
        body.push_str(&l);
        body.push('\n');
    }
    let body = showable(&body, |b| base(&title, b).build().is_ok());
    let b = base(&title, &body);
    let text = b.text();
    b.build().map_err(|e| e.to_string())?;
    Ok(text)
}

/// The statements the bridge signed, one file per nonce under a directory, so that a retried
/// notification is answered with the same bytes (and the same entry) after a restart too.
#[derive(Debug, Clone)]
pub struct Sent {
    dir: PathBuf,
}

/// How long a signed statement is kept for retries (Alertmanager's repeat interval is hours).
pub const KEEP_SENT_SECS: u64 = 30 * 86_400;

impl Sent {
    /// The store under `dir` (created owner-only); statements older than [`KEEP_SENT_SECS`]
    /// are forgotten.
    pub fn open(dir: &Path) -> std::io::Result<Sent> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let now = std::time::SystemTime::now();
        for e in std::fs::read_dir(dir)?.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age.as_secs() > KEEP_SENT_SECS);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Sent {
            dir: dir.to_owned(),
        })
    }

    /// The statement for `a`: the one signed before for its nonce, else a new one (kept before
    /// it is sent).
    pub fn statement(&self, origin: &str, now: u64, a: &AmAlert) -> Result<String, String> {
        let path = self.dir.join(nonce(a));
        if let Ok(text) = std::fs::read_to_string(&path)
            && Statement::parse(text.as_bytes()).is_ok_and(|s| s.to() == origin)
        {
            return Ok(text);
        }
        let text = statement(origin, now, a)?;
        // On disk before it is sent: after a crash the retry sends these bytes again (the
        // appliance answers with the entry it logged), not a second statement.
        crate::write_durably(&path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> AmAlert {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        AmAlert {
            status: status.into(),
            labels: m(labels),
            annotations: m(annotations),
            starts_at: "2026-11-29T03:00:00Z".into(),
            fingerprint: "3f1c9a2b7d4e5f60".into(),
        }
    }

    #[test]
    fn an_alert_becomes_a_statement() {
        let a = alert(
            "firing",
            &[
                ("alertname", "DiskFull"),
                ("severity", "page"),
                ("instance", "nas:9100"),
            ],
            &[
                ("summary", "disk full on nas"),
                ("description", "/srv at 96%"),
            ],
        );
        let text = statement("o/log", 100, &a).expect("builds");
        let st = Statement::parse(text.as_bytes()).expect("parses");
        let al = st.alert().expect("an alert");
        assert_eq!(
            (
                al.severity.name(),
                al.title.as_str(),
                al.topic.as_str(),
                al.key.as_deref()
            ),
            (
                "critical",
                "disk full on nas",
                "diskfull",
                Some("3f1c9a2b7d4e5f60")
            )
        );
        assert!(st.body().contains("label instance: nas:9100\n"));
        assert!(st.body().contains("annotation description: /srv at 96%\n"));
        let resolved = statement(
            "o/log",
            100,
            &alert("resolved", &[("alertname", "DiskFull")], &[]),
        )
        .expect("builds");
        let st = Statement::parse(resolved.as_bytes()).expect("parses");
        assert_eq!(st.alert().expect("alert").title, "DiskFull");
        assert!(resolved.contains("state: resolved\n"));
    }

    #[test]
    fn the_nonce_is_the_alerts_and_its_status() {
        let f = alert("firing", &[], &[]);
        let r = alert("resolved", &[], &[]);
        assert_eq!(nonce(&f), nonce(&f.clone()));
        assert_ne!(nonce(&f), nonce(&r));
        let mut later = f.clone();
        later.starts_at = "2026-11-29T04:00:00Z".into();
        assert_ne!(nonce(&f), nonce(&later), "a new firing of the same alert");
        assert_eq!(nonce(&f).len(), 64);
    }

    #[test]
    fn severity_topic_and_title_are_mapped_and_cut() {
        assert_eq!(severity(Some("Critical")), "critical");
        assert_eq!(severity(Some("warn")), "warning");
        assert_eq!(severity(Some("none")), "info");
        assert_eq!(severity(Some("sev2")), "warning");
        assert_eq!(severity(None), "warning");
        assert_eq!(topic(Some("HighCPU Load")), "highcpu-load");
        assert_eq!(topic(Some("_x")), "am-_x");
        assert_eq!(topic(None), "alertmanager");
        let long = "é".repeat(100);
        let text =
            statement("o/log", 1, &alert("firing", &[], &[("summary", &long)])).expect("builds");
        let st = Statement::parse(text.as_bytes()).expect("parses");
        assert_eq!(st.alert().expect("alert").title.chars().count(), 64);
        // A title the display cannot show is sent as ASCII.
        let text = statement(
            "o/log",
            1,
            &alert("firing", &[], &[("summary", "a\u{202e}b")]),
        )
        .expect("builds");
        assert!(text.contains("title: a?b\n"), "{text}");
        // A body too large for a statement is cut to whole lines.
        let big: Vec<(String, String)> = (0..200)
            .map(|i| (format!("l{i:03}"), "v".repeat(100)))
            .collect();
        let labels: Vec<(&str, &str)> = big.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let text = statement("o/log", 1, &alert("firing", &labels, &[])).expect("builds");
        assert!(text.len() <= MAX_STATEMENT_BYTES && text.ends_with('\n'));
    }

    #[test]
    fn payloads_are_read_strictly() {
        assert!(matches!(parse(b"{"), Err(BridgeError::Malformed(_))));
        assert!(matches!(
            parse(br#"{"version":"3","alerts":[]}"#),
            Err(BridgeError::Version(_))
        ));
        assert!(matches!(
            parse(br#"{"version":"4","alerts":[{"status":"pending","startsAt":"x","fingerprint":"f"}]}"#),
            Err(BridgeError::Status(_))
        ));
        let n = parse(br#"{"version":"4","status":"firing","receiver":"r","alerts":[{"status":"firing","labels":{"alertname":"A"},"annotations":{},"startsAt":"x","endsAt":"y","generatorURL":"g","fingerprint":"f"}]}"#)
            .expect("a notification");
        assert_eq!(n.alerts.len(), 1);
    }

    #[test]
    fn a_statement_once_signed_is_sent_again_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = alert("firing", &[("alertname", "A")], &[]);
        let sent = Sent::open(&dir.path().join("sent")).expect("open");
        let first = sent.statement("o/log", 100, &a).expect("statement");
        let again = Sent::open(&dir.path().join("sent"))
            .expect("reopened")
            .statement("o/log", 999, &a)
            .expect("statement");
        assert_eq!(first, again, "the same bytes after a restart");
        assert!(first.contains("ts: 100\n"));
    }
}
