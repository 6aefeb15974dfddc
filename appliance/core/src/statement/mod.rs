//! Statements: the signed text a principal sends (docs/spec.md §2).
//!
//! The types live here; `parse` reads bytes strictly (every refusal a distinct [`ParseError`]
//! naming the line), `build` writes canonical bytes and reads them back, `text` holds the value
//! grammar both share.

use std::fmt;

mod build;
mod parse;
mod text;

pub use build::Builder;
pub use text::{MAX_COMBINING_MARKS, glob_match, parse_u64, valid_name, valid_nonce, valid_origin};

/// Largest statement in bytes (docs/spec.md §2).
pub const MAX_STATEMENT_BYTES: usize = 4096;
/// Longest alert title in characters.
pub const MAX_TITLE_CHARS: usize = 64;
/// Longest dedup key in characters.
pub const MAX_DEDUP_KEY_CHARS: usize = 64;
/// Longest `ttl` in seconds (30 days).
pub const MAX_TTL_SECS: u64 = 2_592_000;
/// Longest comment in characters.
pub const MAX_COMMENT_CHARS: usize = 256;

/// The statement types of docs/spec.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `alert/v1`, from a source.
    Alert,
    /// `ack/v1`, from an admin or a touch pad.
    Ack,
    /// `silence/v1`, from an admin.
    Silence,
    /// `key-enroll/v1`, from an admin or the provisioning import.
    KeyEnroll,
    /// `key-revoke/v1`, from an admin.
    KeyRevoke,
    /// `boot/v1`, device only.
    Boot,
    /// `policy/v1`, device only.
    Policy,
    /// `checkin/v1`, from a source: a job checking in (docs/spec.md §2).
    Checkin,
    /// `missed/v1`, device only: a check missed its deadline.
    Missed,
    /// `check/v1`, from an admin: pause or delete a check.
    Check,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 10] = [
        Kind::Alert,
        Kind::Ack,
        Kind::Silence,
        Kind::KeyEnroll,
        Kind::KeyRevoke,
        Kind::Boot,
        Kind::Policy,
        Kind::Checkin,
        Kind::Missed,
        Kind::Check,
    ];

    /// The kind's name as it appears in entries (`kind: alert`) and queries.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Ack => "ack",
            Kind::Silence => "silence",
            Kind::KeyEnroll => "key-enroll",
            Kind::KeyRevoke => "key-revoke",
            Kind::Boot => "boot",
            Kind::Policy => "policy",
            Kind::Checkin => "checkin",
            Kind::Missed => "missed",
            Kind::Check => "check",
        }
    }

    /// The first line of a statement of this kind.
    pub fn type_line(self) -> &'static str {
        match self {
            Kind::Alert => "alert/v1",
            Kind::Ack => "ack/v1",
            Kind::Silence => "silence/v1",
            Kind::KeyEnroll => "key-enroll/v1",
            Kind::KeyRevoke => "key-revoke/v1",
            Kind::Boot => "boot/v1",
            Kind::Policy => "policy/v1",
            Kind::Checkin => "checkin/v1",
            Kind::Missed => "missed/v1",
            Kind::Check => "check/v1",
        }
    }

    /// Parses a kind's name (`alert`, `key-enroll`, …).
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    fn from_type_line(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.type_line() == s)
    }

    /// The headers this kind allows besides the common ones, and whether each is required.
    fn headers(self) -> &'static [(&'static str, bool)] {
        match self {
            Kind::Alert => &[
                ("severity", true),
                ("title", true),
                ("topic", false),
                ("key", false),
                ("state", false),
                ("ttl", false),
            ],
            Kind::Ack => &[("ref", true), ("comment", false)],
            Kind::Silence => &[
                ("match-signer", false),
                ("match-topic", false),
                ("until", true),
                ("comment", true),
            ],
            Kind::KeyEnroll => &[("name", true), ("role", true), ("public-key", true)],
            Kind::KeyRevoke => &[("name", true), ("comment", true)],
            Kind::Boot => &[("version", true), ("image", true)],
            Kind::Policy => &[("sha256", true)],
            Kind::Checkin => &[
                ("check", true),
                ("every", false),
                ("schedule", false),
                ("tz", false),
                ("grace", false),
                ("status", false),
                ("exit", false),
                ("severity", false),
                ("title", false),
            ],
            Kind::Missed => &[
                ("signer", true),
                ("check", true),
                ("deadline", true),
                ("last", true),
                ("reason", true),
                ("severity", true),
                ("title", true),
            ],
            Kind::Check => &[
                ("signer", true),
                ("check", true),
                ("action", true),
                ("comment", false),
            ],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Alert severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// `info`
    Info,
    /// `warning`
    Warning,
    /// `critical`
    Critical,
}

impl Severity {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses a wire name.
    pub fn from_name(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A principal's role (docs/spec.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// May submit alerts within its policy.
    Source,
    /// May read.
    Auditor,
    /// May read and submit admin statements.
    Admin,
}

impl Role {
    /// The wire name (`source`, `auditor`, `admin`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Parses a wire name.
    pub fn from_name(s: &str) -> Option<Role> {
        match s {
            "source" => Some(Role::Source),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Whether an alert fires or resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// The default.
    Firing,
    /// Clears the alert with the same signer, topic and key.
    Resolved,
}

/// The typed content of an `alert/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// How bad.
    pub severity: Severity,
    /// One line for the display.
    pub title: String,
    /// Topic name (default `default`).
    pub topic: String,
    /// Dedup key, if any.
    pub key: Option<String>,
    /// Firing or resolved.
    pub state: AlertState,
    /// Seconds the alert stays on the display.
    pub ttl: Option<u64>,
}

/// The typed content of a statement, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// `alert/v1`
    Alert(Alert),
    /// `ack/v1`
    Ack {
        /// Index of the acknowledged entry.
        entry: u64,
        /// Optional comment.
        comment: Option<String>,
    },
    /// `silence/v1`
    Silence {
        /// Glob over signer names (`*` when absent).
        match_signer: String,
        /// Glob over topics (`*` when absent).
        match_topic: String,
        /// Unix seconds the silence ends.
        until: u64,
        /// Why.
        comment: String,
    },
    /// `key-enroll/v1`
    KeyEnroll {
        /// Name to enrol.
        name: String,
        /// Its role.
        role: Role,
        /// The OpenSSH public-key line, as written.
        public_key: String,
    },
    /// `key-revoke/v1`
    KeyRevoke {
        /// Name to revoke.
        name: String,
        /// Why.
        comment: String,
    },
    /// `boot/v1`
    Boot {
        /// Software version.
        version: String,
        /// Image id.
        image: String,
    },
    /// `policy/v1`: the body is the policy file.
    Policy {
        /// SHA-256 of the body, checked at parse time.
        sha256: [u8; 32],
    },
    /// `checkin/v1`
    Checkin(Box<crate::checkin::CheckIn>),
    /// `missed/v1`
    Missed(Box<Missed>),
    /// `check/v1`
    Check {
        /// The source whose check it is.
        signer: String,
        /// The check.
        check: String,
        /// What to do.
        action: CheckAction,
        /// Why.
        comment: Option<String>,
    },
}

/// The typed content of a `missed/v1`: what the appliance recorded when a check missed its
/// deadline (its severity and title are the check's, so the entry shows without the check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    /// The source whose check it is.
    pub signer: String,
    /// The check.
    pub check: String,
    /// The deadline missed, unix seconds (for `unfinished`: the start plus grace).
    pub deadline: u64,
    /// The index of the check's last check-in.
    pub last: u64,
    /// Why.
    pub reason: crate::checkin::MissReason,
    /// The check's severity.
    pub severity: Severity,
    /// The check's title.
    pub title: String,
}

/// What a `check/v1` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckAction {
    /// No misses until the check's next check-in.
    Pause,
    /// Forget the check (and clear what it shows) until it checks in again.
    Delete,
}

impl CheckAction {
    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            CheckAction::Pause => "pause",
            CheckAction::Delete => "delete",
        }
    }
}

/// A parsed statement: the exact bytes plus their typed reading.
#[derive(Clone, PartialEq, Eq)]
pub struct Statement {
    bytes: Vec<u8>,
    kind: Kind,
    headers: Vec<(String, String)>,
    body_start: usize,
    to: String,
    ts: u64,
    nonce: String,
    content: Content,
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("ts", &self.ts)
            .field("nonce", &self.nonce)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Why a statement was refused; every variant names the 1-based line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Empty input.
    #[error("the statement is empty")]
    Empty,
    /// Over [`MAX_STATEMENT_BYTES`].
    #[error("the statement is {0} bytes, more than the 4096 allowed")]
    TooLarge(usize),
    /// Not UTF-8.
    #[error("line {0}: not valid UTF-8")]
    NotUtf8(usize),
    /// A NUL, CR or other control character (TAB is allowed in the body only).
    #[error("line {line}: control character U+{code:04X} is not allowed")]
    ControlChar {
        /// Line number.
        line: usize,
        /// The code point.
        code: u32,
    },
    /// First line is not a known `type/version`.
    #[error("line 1: unknown statement type `{0}`")]
    UnknownType(String),
    /// A header line without `name: value` form.
    #[error("line {0}: a header must read `name: value`")]
    MalformedHeader(usize),
    /// A header name not allowed for this type.
    #[error("line {line}: unknown header `{name}`")]
    UnknownHeader {
        /// Line number.
        line: usize,
        /// The name.
        name: String,
    },
    /// The same header twice.
    #[error("line {line}: header `{name}` given twice")]
    DuplicateHeader {
        /// Line number.
        line: usize,
        /// The name.
        name: String,
    },
    /// A required header missing.
    #[error("line {line}: missing required header `{name}`")]
    MissingHeader {
        /// The line where the header block ended.
        line: usize,
        /// The name.
        name: &'static str,
    },
    /// A header value that does not fit its field.
    #[error("line {line}: invalid `{name}`: {why}")]
    InvalidValue {
        /// Line number.
        line: usize,
        /// Header name.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Input ends inside a header line (no LF).
    #[error("line {0}: the header block must end with a newline")]
    UnterminatedHeader(usize),
    /// A type that takes no body has one.
    #[error("line {0}: this statement type takes no body")]
    UnexpectedBody(usize),
    /// Text the display would show holds a character it must not show.
    #[error("line {line}: U+{code:04X} is {class}; the display does not show such characters")]
    Unshowable {
        /// Line number.
        line: usize,
        /// The code point.
        code: u32,
        /// Which class of character it is.
        class: &'static str,
    },
    /// `policy/v1` body does not match its `sha256`.
    #[error("line {0}: `sha256` does not match the body")]
    PolicyHashMismatch(usize),
    /// A `checkin/v1` whose headers do not make a check-in.
    #[error("line {line}: {why}")]
    Checkin {
        /// The line of the header concerned (or where the header block ended).
        line: usize,
        /// What is wrong.
        why: String,
    },
}

impl Statement {
    /// The exact bytes, as signed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The statement's type.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The header lines in the order written (common headers included).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    /// A header's value by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body text (may be empty).
    pub fn body(&self) -> &str {
        // Checked UTF-8 at parse time, and body_start is on a char boundary (after an LF).
        std::str::from_utf8(&self.bytes[self.body_start..]).unwrap_or_default()
    }
    /// The audience: the log origin the statement is meant for.
    pub fn to(&self) -> &str {
        &self.to
    }
    /// The signer's unix time in seconds.
    pub fn ts(&self) -> u64 {
        self.ts
    }
    /// The nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
    /// The typed content.
    pub fn content(&self) -> &Content {
        &self.content
    }
    /// The alert, for `alert/v1`.
    pub fn alert(&self) -> Option<&Alert> {
        match &self.content {
            Content::Alert(a) => Some(a),
            _ => None,
        }
    }
}
