//! Writing statements: canonical bytes — the type line, `to`, `ts`, `nonce`, the kind's headers
//! in the order given, then a blank line and the body when there is one — read back by the
//! parser, so what is built is exactly what the appliance accepts. Production code (the CLI, the
//! device's own statements) and tests build statements here instead of formatting text.

use std::fmt::{self, Write as _};

use super::{Kind, ParseError, Statement};

/// A statement being written; [`Builder::build`] parses the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    text: String,
    lines: usize,
    body: String,
    /// The first value that would have broken the line structure (a control character).
    refused: Option<ParseError>,
}

impl Statement {
    /// A statement of `kind` for the log `to`, signed at `ts` (unix seconds), with `nonce`.
    pub fn builder(kind: Kind, to: &str, ts: u64, nonce: &str) -> Builder {
        Builder {
            text: String::with_capacity(256),
            lines: 0,
            body: String::new(),
            refused: None,
        }
        .line(kind.type_line())
        .header("to", to)
        .header("ts", ts)
        .header("nonce", nonce)
    }
}

impl Builder {
    fn line(mut self, l: &str) -> Builder {
        self.lines += 1;
        if let Some(c) = l.chars().find(|c| c.is_control()) {
            self.refused.get_or_insert(ParseError::ControlChar {
                line: self.lines,
                code: c as u32,
            });
        }
        self.text.push_str(l);
        self.text.push('\n');
        self
    }

    /// Adds `name: value`.
    pub fn header(self, name: &str, value: impl fmt::Display) -> Builder {
        let mut l = String::with_capacity(name.len() + 16);
        let _ = write!(l, "{name}: {value}");
        self.line(&l)
    }

    /// Adds `name: value` when there is a value.
    pub fn header_opt<T: fmt::Display>(self, name: &str, value: Option<T>) -> Builder {
        match value {
            Some(v) => self.header(name, v),
            None => self,
        }
    }

    /// Sets the body (free text after the blank line; none when empty).
    pub fn body(mut self, body: impl Into<String>) -> Builder {
        self.body = body.into();
        self
    }

    /// The canonical text, not yet checked by the parser.
    pub fn text(&self) -> String {
        let mut t = self.text.clone();
        if !self.body.is_empty() {
            t.push('\n');
            t.push_str(&self.body);
        }
        t
    }

    /// The statement, as the parser reads the canonical text (or why it does not).
    pub fn build(self) -> Result<Statement, ParseError> {
        if let Some(e) = self.refused.clone() {
            return Err(e);
        }
        Statement::parse(self.text().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Content, Severity};

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn writes_canonical_text_and_reads_it_back() {
        let st = Statement::builder(Kind::Alert, "o/log", 7, NONCE)
            .header("severity", Severity::Warning)
            .header("title", "disk full")
            .header_opt("topic", Some("disk"))
            .header_opt::<&str>("key", None)
            .body("97% used")
            .build()
            .expect("builds");
        assert_eq!(
            st.bytes(),
            format!(
                "alert/v1\nto: o/log\nts: 7\nnonce: {NONCE}\nseverity: warning\ntitle: disk full\ntopic: disk\n\n97% used"
            )
            .as_bytes()
        );
        let a = st.alert().expect("an alert");
        assert_eq!(
            (a.severity, a.title.as_str(), a.topic.as_str()),
            (Severity::Warning, "disk full", "disk")
        );
    }

    #[test]
    fn a_value_cannot_smuggle_a_header() {
        // Without the check this would parse, with a `ttl` the caller never set.
        let e = Statement::builder(Kind::Alert, "o/log", 7, NONCE)
            .header("severity", "info")
            .header("title", "x\nttl: 5")
            .build()
            .expect_err("refused");
        assert_eq!(e, ParseError::ControlChar { line: 6, code: 10 });
    }

    #[test]
    fn what_the_parser_refuses_the_builder_refuses() {
        let e = Statement::builder(Kind::KeyRevoke, "o/log", 7, NONCE)
            .header("name", "nas")
            .build()
            .expect_err("comment is required");
        assert!(
            matches!(
                e,
                ParseError::MissingHeader {
                    name: "comment",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = Statement::builder(Kind::Ack, "o/log", 7, NONCE)
            .header("ref", 3)
            .body("no body on an ack")
            .build()
            .expect_err("no body");
        assert_eq!(e, ParseError::UnexpectedBody(7));
        let ok = Statement::builder(Kind::Ack, "o/log", 7, NONCE)
            .header("ref", 3)
            .build()
            .expect("builds");
        assert!(matches!(ok.content(), Content::Ack { entry: 3, .. }));
    }
}
