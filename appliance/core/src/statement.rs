//! Statements: the signed text a principal sends (docs/spec.md §2).
//!
//! Parsing is strict and byte-exact: the statement keeps the bytes it was parsed from, and every
//! rejection is a distinct [`ParseError`] that names the offending line.

use std::fmt;

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
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 7] = [
        Kind::Alert,
        Kind::Ack,
        Kind::Silence,
        Kind::KeyEnroll,
        Kind::KeyRevoke,
        Kind::Boot,
        Kind::Policy,
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
        }
    }

    /// Parses a kind's name (`alert`, `key-enroll`, …).
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    fn from_type_line(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.type_line() == s)
    }

    /// True for the kinds only the appliance itself may sign.
    pub fn device_only(self) -> bool {
        matches!(self, Kind::Boot | Kind::Policy)
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
    /// `policy/v1` body does not match its `sha256`.
    #[error("line {0}: `sha256` does not match the body")]
    PolicyHashMismatch(usize),
}

impl Statement {
    /// Parses and validates statement bytes.
    pub fn parse(bytes: &[u8]) -> Result<Statement, ParseError> {
        if bytes.is_empty() {
            return Err(ParseError::Empty);
        }
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(ParseError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ParseError::NotUtf8(line)
        })?;

        // Header block: every line ends with LF; it ends at an empty line or end of input.
        let mut pos = 0usize;
        let mut line_no = 0usize;
        let mut lines: Vec<(usize, &str)> = Vec::new();
        let mut body_start = None;
        while pos < text.len() {
            line_no += 1;
            let Some(nl) = text[pos..].find('\n') else {
                check_chars(&text[pos..], line_no, false)?;
                return Err(ParseError::UnterminatedHeader(line_no));
            };
            let line = &text[pos..pos + nl];
            pos += nl + 1;
            check_chars(line, line_no, false)?;
            if line.is_empty() {
                body_start = Some((pos, line_no + 1));
                break;
            }
            lines.push((line_no, line));
        }
        let (body_start, body_line) = body_start.unwrap_or((text.len(), line_no + 1));
        // Body: free text, TAB allowed.
        let body = &text[body_start..];
        for (i, l) in body.split('\n').enumerate() {
            check_chars(l, body_line + i, true)?;
        }

        let Some(&(_, first)) = lines.first() else {
            return Err(ParseError::UnknownType(String::new()));
        };
        let kind = Kind::from_type_line(first)
            .ok_or_else(|| ParseError::UnknownType(first.chars().take(40).collect()))?;

        let allowed = kind.headers();
        let mut headers: Vec<(String, String)> = Vec::with_capacity(lines.len());
        let mut at: Vec<(&str, usize, &str)> = Vec::new();
        for &(n, line) in &lines[1..] {
            let (name, value) = line
                .split_once(": ")
                .ok_or(ParseError::MalformedHeader(n))?;
            if name.is_empty()
                || !name.as_bytes()[0].is_ascii_lowercase()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                || value.is_empty()
                || value.trim() != value
            {
                return Err(ParseError::MalformedHeader(n));
            }
            let known = COMMON.contains(&name) || allowed.iter().any(|(h, _)| *h == name);
            if !known {
                return Err(ParseError::UnknownHeader {
                    line: n,
                    name: name.to_owned(),
                });
            }
            if at.iter().any(|(h, _, _)| *h == name) {
                return Err(ParseError::DuplicateHeader {
                    line: n,
                    name: name.to_owned(),
                });
            }
            at.push((name, n, value));
            headers.push((name.to_owned(), value.to_owned()));
        }
        let end_line = lines.last().map_or(1, |l| l.0) + 1;
        let h = Headers { at: &at, end_line };
        for name in COMMON
            .iter()
            .copied()
            .chain(allowed.iter().filter(|h| h.1).map(|h| h.0))
        {
            if h.get(name).is_none() {
                return Err(ParseError::MissingHeader {
                    line: end_line,
                    name,
                });
            }
        }

        let to = h.parse(
            "to",
            |v| valid_origin(v).then(|| v.to_owned()),
            "not a log origin",
        )?;
        let ts = h.parse("ts", parse_u64, "not a unix time in seconds")?;
        let nonce = h.parse(
            "nonce",
            |v| valid_nonce(v).then(|| v.to_owned()),
            "must be 32-64 lowercase hex characters",
        )?;
        let content = match kind {
            Kind::Alert => Content::Alert(Alert {
                severity: h.parse(
                    "severity",
                    Severity::from_name,
                    "must be info, warning or critical",
                )?,
                title: h.parse("title", valid_title, "must be 1-64 printable characters")?,
                topic: h
                    .opt(
                        "topic",
                        |v| valid_name(v).then(|| v.to_owned()),
                        "not a valid name",
                    )?
                    .unwrap_or_else(|| "default".to_owned()),
                key: h.opt(
                    "key",
                    valid_dedup_key,
                    "must be 1-64 printable characters without spaces",
                )?,
                state: h
                    .opt("state", parse_state, "must be firing or resolved")?
                    .unwrap_or(AlertState::Firing),
                ttl: h.opt(
                    "ttl",
                    |v| parse_u64(v).filter(|t| (1..=MAX_TTL_SECS).contains(t)),
                    "must be 1-2592000 seconds",
                )?,
            }),
            Kind::Ack => Content::Ack {
                entry: h.parse("ref", parse_u64, "not an entry index")?,
                comment: h.opt("comment", valid_comment, "longer than 256 characters")?,
            },
            Kind::Silence => {
                let match_signer = h.opt("match-signer", valid_glob, "not a name pattern")?;
                let match_topic = h.opt("match-topic", valid_glob, "not a name pattern")?;
                if match_signer.is_none() && match_topic.is_none() {
                    return Err(ParseError::MissingHeader {
                        line: end_line,
                        name: "match-signer` or `match-topic",
                    });
                }
                Content::Silence {
                    match_signer: match_signer.unwrap_or_else(|| "*".to_owned()),
                    match_topic: match_topic.unwrap_or_else(|| "*".to_owned()),
                    until: h.parse("until", parse_u64, "not a unix time in seconds")?,
                    comment: h.parse("comment", valid_comment, "longer than 256 characters")?,
                }
            }
            Kind::KeyEnroll => Content::KeyEnroll {
                name: h.parse(
                    "name",
                    |v| valid_name(v).then(|| v.to_owned()),
                    "not a valid name",
                )?,
                role: h.parse("role", Role::from_name, "must be source, auditor or admin")?,
                public_key: h.parse(
                    "public-key",
                    |v| {
                        crate::sig::parse_openssh_public_key(v)
                            .ok()
                            .map(|_| v.to_owned())
                    },
                    "not a usable OpenSSH ssh-ed25519 public key",
                )?,
            },
            Kind::KeyRevoke => Content::KeyRevoke {
                name: h.parse(
                    "name",
                    |v| valid_name(v).then(|| v.to_owned()),
                    "not a valid name",
                )?,
                comment: h.parse("comment", valid_comment, "longer than 256 characters")?,
            },
            Kind::Boot => Content::Boot {
                version: h.parse("version", valid_comment, "longer than 256 characters")?,
                image: h.parse("image", valid_comment, "longer than 256 characters")?,
            },
            Kind::Policy => {
                let sha256 = h.parse(
                    "sha256",
                    parse_hash_hex,
                    "must be 64 lowercase hex characters",
                )?;
                if crate::sha256(body.as_bytes()) != sha256 {
                    return Err(ParseError::PolicyHashMismatch(h.line("sha256")));
                }
                Content::Policy { sha256 }
            }
        };
        if !body.is_empty()
            && matches!(
                kind,
                Kind::Ack | Kind::KeyEnroll | Kind::KeyRevoke | Kind::Boot
            )
        {
            return Err(ParseError::UnexpectedBody(body_line));
        }

        Ok(Statement {
            bytes: bytes.to_vec(),
            kind,
            headers,
            body_start,
            to,
            ts,
            nonce,
            content,
        })
    }

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

const COMMON: [&str; 3] = ["to", "ts", "nonce"];

struct Headers<'a> {
    at: &'a [(&'a str, usize, &'a str)],
    end_line: usize,
}

impl Headers<'_> {
    fn get(&self, name: &str) -> Option<(usize, &str)> {
        self.at
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, l, v)| (l, v))
    }
    fn line(&self, name: &str) -> usize {
        self.get(name).map_or(self.end_line, |(l, _)| l)
    }
    fn opt<T>(
        &self,
        name: &str,
        f: impl Fn(&str) -> Option<T>,
        why: &'static str,
    ) -> Result<Option<T>, ParseError> {
        match self.get(name) {
            None => Ok(None),
            Some((line, v)) => f(v).map(Some).ok_or_else(|| ParseError::InvalidValue {
                line,
                name: name.to_owned(),
                why,
            }),
        }
    }
    fn parse<T>(
        &self,
        name: &'static str,
        f: impl Fn(&str) -> Option<T>,
        why: &'static str,
    ) -> Result<T, ParseError> {
        self.opt(name, f, why)?.ok_or(ParseError::MissingHeader {
            line: self.end_line,
            name,
        })
    }
}

fn check_chars(line: &str, line_no: usize, tab_ok: bool) -> Result<(), ParseError> {
    match line
        .chars()
        .find(|&c| c.is_control() && !(tab_ok && c == '\t'))
    {
        Some(c) => Err(ParseError::ControlChar {
            line: line_no,
            code: c as u32,
        }),
        None => Ok(()),
    }
}

/// Decimal without sign or leading zeros.
pub fn parse_u64(v: &str) -> Option<u64> {
    if v.is_empty()
        || v.len() > 20
        || !v.bytes().all(|b| b.is_ascii_digit())
        || (v.len() > 1 && v.starts_with('0'))
    {
        return None;
    }
    v.parse().ok()
}

fn parse_state(v: &str) -> Option<AlertState> {
    match v {
        "firing" => Some(AlertState::Firing),
        "resolved" => Some(AlertState::Resolved),
        _ => None,
    }
}

fn parse_hash_hex(v: &str) -> Option<[u8; 32]> {
    if v.len() != 64 || v.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(v, &mut out).ok()?;
    Some(out)
}

/// A principal or topic name: `[a-z0-9][a-z0-9._@-]{0,63}`.
pub fn valid_name(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._@-".contains(&c))
}

/// A name pattern: name characters plus `*` and `?`.
fn valid_glob(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._@-*?".contains(&c));
    ok.then(|| v.to_owned())
}

/// A log origin: printable ASCII without spaces or `+`, 1–128 bytes.
pub fn valid_origin(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic() && b != b'+')
}

/// 32–64 lowercase hex characters.
pub fn valid_nonce(v: &str) -> bool {
    (32..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_title(v: &str) -> Option<String> {
    let n = v.chars().count();
    ((1..=MAX_TITLE_CHARS).contains(&n)).then(|| v.to_owned())
}

fn valid_dedup_key(v: &str) -> Option<String> {
    let n = v.chars().count();
    ((1..=MAX_DEDUP_KEY_CHARS).contains(&n) && !v.contains(' ')).then(|| v.to_owned())
}

fn valid_comment(v: &str) -> Option<String> {
    (v.chars().count() <= MAX_COMMENT_CHARS).then(|| v.to_owned())
}

/// Glob match over names (`*` any run, `?` one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}
