//! `policy.toml`: per-source rules and the appliance's resource limits (docs/spec.md §6).
//! Every field is documented in `policies/README.md`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::statement::{Severity, glob_match, valid_name};

/// The built-in default policy (`policies/default.toml`).
pub const DEFAULT_POLICY: &str = include_str!("../../../policies/default.toml");

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not valid TOML, an unknown field, or a wrong type (the message names line and column).
    #[error("{0}")]
    Syntax(String),
    /// A value out of its range.
    #[error("`{field}`: {why}")]
    Invalid {
        /// Dotted field path.
        field: String,
        /// What is wrong.
        why: String,
    },
}

/// Resource limits; each is enforced by the daemon and exceeded by a test.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Requests per client IP (IPv6 per /64): burst.
    pub ip_burst: u32,
    /// Requests per client IP: sustained per second.
    pub ip_per_second: u32,
    /// Authentication failures per IP: burst.
    pub auth_fail_burst: u32,
    /// Authentication failures per IP: sustained per minute.
    pub auth_fail_per_minute: u32,
    /// Statements per source key: burst (sources without their own `burst`).
    pub source_burst: u32,
    /// Statements per source key: sustained per minute.
    pub source_per_minute: u32,
    /// Largest request body.
    pub body_bytes: usize,
    /// Largest request header block.
    pub header_bytes: usize,
    /// Whole-request time limit.
    pub request_timeout_secs: u64,
    /// Concurrent connections.
    pub max_connections: usize,
    /// Concurrent connections from one client address (IPv6: one /64), checked at accept
    /// before any TLS work.
    pub max_connections_per_address: usize,
    /// Statements waiting to be committed; beyond it, 503.
    pub queue: usize,
    /// TLS handshake time limit.
    pub tls_handshake_timeout_secs: u64,
    /// Allowed distance between a signer's `ts` (or `Vigil-Date`) and the appliance clock.
    pub clock_skew_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ip_burst: 60,
            ip_per_second: 1,
            auth_fail_burst: 10,
            auth_fail_per_minute: 1,
            source_burst: 20,
            source_per_minute: 30,
            body_bytes: 16 * 1024,
            header_bytes: 8 * 1024,
            request_timeout_secs: 10,
            max_connections: 256,
            max_connections_per_address: 32,
            queue: 4096,
            tls_handshake_timeout_secs: 10,
            clock_skew_secs: 300,
        }
    }
}

/// Rules for sources.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRule {
    /// Topic globs the source may use.
    #[serde(default = "any_topic")]
    pub topics: Vec<String>,
    /// Highest severity it may send.
    #[serde(default = "critical", deserialize_with = "severity")]
    pub max_severity: Severity,
    /// Own burst (defaults to `limits.source_burst`).
    pub burst: Option<u32>,
    /// Own sustained rate per minute (defaults to `limits.source_per_minute`).
    pub per_minute: Option<u32>,
}

impl Default for SourceRule {
    fn default() -> Self {
        SourceRule {
            topics: any_topic(),
            max_severity: Severity::Critical,
            burst: None,
            per_minute: None,
        }
    }
}

fn any_topic() -> Vec<String> {
    vec!["*".to_owned()]
}
fn critical() -> Severity {
    Severity::Critical
}
fn severity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
    let s = String::deserialize(d)?;
    Severity::from_name(&s).ok_or_else(|| {
        serde::de::Error::custom(format!("unknown severity `{s}` (info, warning, critical)"))
    })
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Rules for sources without a section of their own.
    #[serde(default)]
    pub defaults: SourceRule,
    /// Per-source rules, by enrolled name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceRule>,
}

/// Why a policy forbids an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyDenial {
    /// The topic matches none of the source's globs.
    #[error("topic `{0}` is not allowed for this source")]
    Topic(String),
    /// Severity above the source's maximum.
    #[error("severity {got} is above this source's maximum, {max}")]
    Severity {
        /// Sent.
        got: Severity,
        /// Allowed.
        max: Severity,
    },
}

impl Policy {
    /// Parses and validates a policy file.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text)
            .map_err(|e| PolicyError::Syntax(e.to_string().trim_end().to_owned()))?;
        p.validate()?;
        Ok(p)
    }

    /// The built-in default.
    pub fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY).unwrap_or_else(|_| Policy {
            limits: Limits::default(),
            defaults: SourceRule::default(),
            sources: BTreeMap::new(),
        })
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let l = &self.limits;
        let range = |field: &str, v: u64, lo: u64, hi: u64| -> Result<(), PolicyError> {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(PolicyError::Invalid {
                    field: format!("limits.{field}"),
                    why: format!("{v} is outside {lo}..={hi}"),
                })
            }
        };
        range("ip_burst", l.ip_burst.into(), 1, 100_000)?;
        range("ip_per_second", l.ip_per_second.into(), 1, 100_000)?;
        range("auth_fail_burst", l.auth_fail_burst.into(), 1, 10_000)?;
        range(
            "auth_fail_per_minute",
            l.auth_fail_per_minute.into(),
            1,
            10_000,
        )?;
        range("source_burst", l.source_burst.into(), 1, 100_000)?;
        range(
            "source_per_minute",
            l.source_per_minute.into(),
            1,
            1_000_000,
        )?;
        range("body_bytes", l.body_bytes as u64, 4608, 1 << 20)?;
        range("header_bytes", l.header_bytes as u64, 1024, 64 * 1024)?;
        range("request_timeout_secs", l.request_timeout_secs, 1, 300)?;
        range("max_connections", l.max_connections as u64, 1, 65_536)?;
        range(
            "max_connections_per_address",
            l.max_connections_per_address as u64,
            1,
            65_536,
        )?;
        range("queue", l.queue as u64, 1, 1 << 20)?;
        range(
            "tls_handshake_timeout_secs",
            l.tls_handshake_timeout_secs,
            1,
            300,
        )?;
        range("clock_skew_secs", l.clock_skew_secs, 1, 86_400)?;
        let rules = std::iter::once(("defaults".to_owned(), &self.defaults)).chain(
            self.sources
                .iter()
                .map(|(n, r)| (format!("sources.\"{n}\""), r)),
        );
        for (path, r) in rules {
            if path != "defaults"
                && !valid_name(path.trim_start_matches("sources.\"").trim_end_matches('"'))
            {
                return Err(PolicyError::Invalid {
                    field: path,
                    why: "not a valid source name".into(),
                });
            }
            if r.topics.is_empty() {
                return Err(PolicyError::Invalid {
                    field: format!("{path}.topics"),
                    why: "empty: the source could send nothing".into(),
                });
            }
            for t in &r.topics {
                let ok = !t.is_empty()
                    && t.len() <= 64
                    && t.bytes().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || b"._@-*?".contains(&c)
                    });
                if !ok {
                    return Err(PolicyError::Invalid {
                        field: format!("{path}.topics"),
                        why: format!("`{t}` is not a topic pattern"),
                    });
                }
            }
            if r.burst == Some(0) || r.per_minute == Some(0) {
                return Err(PolicyError::Invalid {
                    field: path,
                    why: "rates must be at least 1".into(),
                });
            }
        }
        Ok(())
    }

    /// The rule that applies to a source.
    pub fn rule(&self, source: &str) -> &SourceRule {
        self.sources.get(source).unwrap_or(&self.defaults)
    }

    /// (burst, per minute) for a source.
    pub fn rate(&self, source: &str) -> (u32, u32) {
        let r = self.rule(source);
        (
            r.burst.unwrap_or(self.limits.source_burst),
            r.per_minute.unwrap_or(self.limits.source_per_minute),
        )
    }

    /// Whether a source may send an alert with this topic and severity.
    pub fn check_alert(
        &self,
        source: &str,
        topic: &str,
        severity: Severity,
    ) -> Result<(), PolicyDenial> {
        let r = self.rule(source);
        if !r.topics.iter().any(|g| glob_match(g, topic)) {
            return Err(PolicyDenial::Topic(topic.to_owned()));
        }
        if severity > r.max_severity {
            return Err(PolicyDenial::Severity {
                got: severity,
                max: r.max_severity,
            });
        }
        Ok(())
    }
}
