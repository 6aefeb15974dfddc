//! The parser (docs/spec.md §2): strict and byte-exact. The statement keeps the bytes it was
//! parsed from; every refusal is a distinct [`ParseError`] naming the offending line.

use super::text::{
    check_chars, check_showable, parse_hash_hex, parse_state, parse_u64, valid_comment,
    valid_dedup_key, valid_glob, valid_name, valid_nonce, valid_origin, valid_title,
};
use super::{
    Alert, AlertState, CheckAction, Content, Kind, MAX_STATEMENT_BYTES, MAX_TTL_SECS, Missed,
    ParseError, Role, Severity, Statement,
};
use crate::checkin::{CheckIn, CheckinError, MissReason};

/// The headers every statement carries, in this order, before its own.
pub(super) const COMMON: [&str; 3] = ["to", "ts", "nonce"];

impl Statement {
    /// Parses and validates statement bytes.
    pub fn parse(bytes: &[u8]) -> Result<Statement, ParseError> {
        let text = checked_text(bytes)?;
        let block = Block::split(text)?;
        let Some(&(_, first)) = block.lines.first() else {
            return Err(ParseError::UnknownType(String::new()));
        };
        let kind = Kind::from_type_line(first)
            .ok_or_else(|| ParseError::UnknownType(first.chars().take(40).collect()))?;
        let (headers, at) = read_headers(kind, &block.lines[1..])?;
        let end_line = block.lines.last().map_or(1, |l| l.0) + 1;
        let h = Headers { at: &at, end_line };
        h.require(kind)?;
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
        let content = content(kind, &h, block.body)?;
        if matches!(kind, Kind::Alert | Kind::Checkin | Kind::Missed) {
            // What the LCD shows: the title and the body's lines.
            let (line, title) = h.get("title").unwrap_or((end_line, ""));
            check_showable(title, line)?;
            check_showable(block.body, block.body_line)?;
        }
        if !block.body.is_empty()
            && matches!(
                kind,
                Kind::Ack | Kind::KeyEnroll | Kind::KeyRevoke | Kind::Boot | Kind::Check
            )
        {
            return Err(ParseError::UnexpectedBody(block.body_line));
        }
        Ok(Statement {
            bytes: bytes.to_vec(),
            kind,
            headers,
            body_start: block.body_start,
            to,
            ts,
            nonce,
            content,
        })
    }
}

/// Size and UTF-8, the line of the first bad byte named.
fn checked_text(bytes: &[u8]) -> Result<&str, ParseError> {
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(ParseError::TooLarge(bytes.len()));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ParseError::NotUtf8(line)
    })
}

/// The header lines (numbered) and the body.
struct Block<'a> {
    lines: Vec<(usize, &'a str)>,
    body: &'a str,
    body_start: usize,
    body_line: usize,
}

impl<'a> Block<'a> {
    /// Every header line ends with LF; the block ends at an empty line or the end of input. The
    /// body is free text where TAB is allowed; no line anywhere holds another control character.
    fn split(text: &'a str) -> Result<Block<'a>, ParseError> {
        let mut pos = 0usize;
        let mut line_no = 0usize;
        let mut lines = Vec::new();
        let mut body_at = None;
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
                body_at = Some((pos, line_no + 1));
                break;
            }
            lines.push((line_no, line));
        }
        let (body_start, body_line) = body_at.unwrap_or((text.len(), line_no + 1));
        let body = &text[body_start..];
        for (i, l) in body.split('\n').enumerate() {
            check_chars(l, body_line + i, true)?;
        }
        Ok(Block {
            lines,
            body,
            body_start,
            body_line,
        })
    }
}

/// Where each header was: (name, line, value).
type At<'a> = Vec<(&'a str, usize, &'a str)>;

/// `name: value` lines: lowercase names this kind knows, each once, values without outer spaces.
fn read_headers<'a>(
    kind: Kind,
    lines: &[(usize, &'a str)],
) -> Result<(Vec<(String, String)>, At<'a>), ParseError> {
    let allowed = kind.headers();
    let mut headers = Vec::with_capacity(lines.len());
    let mut at: At<'a> = Vec::with_capacity(lines.len());
    for &(n, line) in lines {
        let (name, value) = line
            .split_once(": ")
            .ok_or(ParseError::MalformedHeader(n))?;
        let name_ok = name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok || value.is_empty() || value.trim() != value {
            return Err(ParseError::MalformedHeader(n));
        }
        if !(COMMON.contains(&name) || allowed.iter().any(|(h, _)| *h == name)) {
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
    Ok((headers, at))
}

/// The typed reading of a kind's own headers (and, for `policy/v1`, its body).
fn content(kind: Kind, h: &Headers<'_>, body: &str) -> Result<Content, ParseError> {
    let name = |v: &str| valid_name(v).then(|| v.to_owned());
    Ok(match kind {
        Kind::Alert => Content::Alert(alert(h)?),
        Kind::Ack => Content::Ack {
            entry: h.parse("ref", parse_u64, "not an entry index")?,
            comment: h.opt("comment", valid_comment, "longer than 256 characters")?,
        },
        Kind::Silence => {
            let match_signer = h.opt("match-signer", valid_glob, "not a name pattern")?;
            let match_topic = h.opt("match-topic", valid_glob, "not a name pattern")?;
            if match_signer.is_none() && match_topic.is_none() {
                return Err(ParseError::MissingHeader {
                    line: h.end_line,
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
            name: h.parse("name", name, "not a valid name")?,
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
            name: h.parse("name", name, "not a valid name")?,
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
        Kind::Checkin => Content::Checkin(Box::new(
            CheckIn::from_headers(|n| h.get(n).map(|(_, v)| v)).map_err(|e| {
                let line = match &e {
                    CheckinError::Invalid { name, .. } => h.line(name),
                    _ => h.end_line,
                };
                ParseError::Checkin {
                    line,
                    why: e.to_string(),
                }
            })?,
        )),
        Kind::Missed => Content::Missed(Box::new(Missed {
            signer: h.parse("signer", name, "not a valid name")?,
            check: h.parse("check", name, "not a valid name")?,
            deadline: h.parse("deadline", parse_u64, "not a unix time in seconds")?,
            last: h.parse("last", parse_u64, "not an entry index")?,
            reason: h.parse(
                "reason",
                |v| match v {
                    "late" => Some(MissReason::Late),
                    "unfinished" => Some(MissReason::Unfinished),
                    _ => None,
                },
                "must be late or unfinished",
            )?,
            severity: h.parse(
                "severity",
                |v| Severity::from_name(v).filter(|s| *s != Severity::Info),
                "must be warning or critical",
            )?,
            title: h.parse("title", valid_title, "must be 1-64 printable characters")?,
        })),
        Kind::Check => Content::Check {
            signer: h.parse("signer", name, "not a valid name")?,
            check: h.parse("check", name, "not a valid name")?,
            action: h.parse(
                "action",
                |v| match v {
                    "pause" => Some(CheckAction::Pause),
                    "delete" => Some(CheckAction::Delete),
                    _ => None,
                },
                "must be pause or delete",
            )?,
            comment: h.opt("comment", valid_comment, "longer than 256 characters")?,
        },
    })
}

fn alert(h: &Headers<'_>) -> Result<Alert, ParseError> {
    Ok(Alert {
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
    })
}

/// The headers of one statement, by name, with the line each is on.
struct Headers<'a> {
    at: &'a [(&'a str, usize, &'a str)],
    end_line: usize,
}

impl Headers<'_> {
    /// Every common header and every header the kind requires is present.
    fn require(&self, kind: Kind) -> Result<(), ParseError> {
        let required = kind.headers().iter().filter(|h| h.1).map(|h| h.0);
        match COMMON
            .iter()
            .copied()
            .chain(required)
            .find(|n| self.get(n).is_none())
        {
            Some(name) => Err(ParseError::MissingHeader {
                line: self.end_line,
                name,
            }),
            None => Ok(()),
        }
    }

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
