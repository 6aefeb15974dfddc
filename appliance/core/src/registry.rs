//! Enrolled principals, as a fold over the log's `key-enroll/v1` and `key-revoke/v1` entries,
//! and the admission rule for every statement kind (docs/spec.md §1).
//!
//! Decisions: a name or key, once enrolled, is never enrolled again (not even after revocation),
//! so an entry's signer name always means one key; the device itself is the built-in principal
//! `device` whose key is the log key.

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::VerifyingKey;

use crate::entry::Entry;
use crate::sig::{self, Verified};
use crate::statement::{Content, Kind, Role, Statement};

/// The signer name of the appliance itself.
pub const DEVICE: &str = "device";

/// An enrolled principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Enrolled name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Public key.
    pub key: VerifyingKey,
    /// True once a `key-revoke/v1` for it is committed.
    pub revoked: bool,
}

/// Why a statement may not be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No such enrolled name or key.
    #[error("unknown key")]
    Unknown,
    /// The key was revoked.
    #[error("the key `{0}` has been revoked")]
    Revoked(String),
    /// The signer's role may not send this kind.
    #[error("{role} keys may not submit {kind} statements")]
    Role {
        /// Role of the signer (`device` for the appliance).
        role: &'static str,
        /// Statement kind.
        kind: Kind,
    },
    /// An enrolment that would reuse a name or key.
    #[error("{0}")]
    Conflict(String),
    /// A revocation of a name that is not enrolled (or already revoked).
    #[error("{0}")]
    Invalid(String),
    /// Addressed to another log.
    #[error("the statement is addressed to `{to}`, this log is `{origin}`")]
    WrongAudience {
        /// The statement's `to`.
        to: String,
        /// This log's origin.
        origin: String,
    },
    /// `ts` outside the window around the appliance clock.
    #[error("ts is {off_secs} s from the appliance clock; at most {allowed_secs} s allowed")]
    Stale {
        /// How far `ts` is from the clock.
        off_secs: u64,
        /// The allowed skew.
        allowed_secs: u64,
    },
}

/// Enrolled keys.
#[derive(Debug, Clone)]
pub struct Registry {
    device: VerifyingKey,
    by_name: BTreeMap<String, Principal>,
    by_key: HashMap<[u8; 32], String>,
}

impl Registry {
    /// An empty registry for a device with log key `device`.
    pub fn new(device: VerifyingKey) -> Registry {
        Registry {
            device,
            by_name: BTreeMap::new(),
            by_key: HashMap::new(),
        }
    }

    /// The device key.
    pub fn device_key(&self) -> &VerifyingKey {
        &self.device
    }

    /// A principal by name (the device is not listed).
    pub fn by_name(&self, name: &str) -> Option<&Principal> {
        self.by_name.get(name)
    }

    /// A principal by key.
    pub fn by_key(&self, key: &VerifyingKey) -> Option<&Principal> {
        self.by_key
            .get(key.as_bytes())
            .and_then(|n| self.by_name.get(n))
    }

    /// Every principal, by name.
    pub fn principals(&self) -> impl Iterator<Item = &Principal> {
        self.by_name.values()
    }

    /// The active key for a signer name, for verification: the device key for `device`.
    pub fn active_key(&self, name: &str) -> Result<(VerifyingKey, Option<Role>), Denied> {
        if name == DEVICE {
            return Ok((self.device, None));
        }
        let p = self.by_name.get(name).ok_or(Denied::Unknown)?;
        if p.revoked {
            return Err(Denied::Revoked(p.name.clone()));
        }
        Ok((p.key, Some(p.role)))
    }

    /// Whether `v`'s signer is active, its key the enrolled one, and its role may send `v`'s kind
    /// (one step of [`crate::admission::admit`]).
    pub fn authorize(&self, v: &Verified) -> Result<(), Denied> {
        let (key, role) = self.active_key(v.signer())?;
        if key != *v.key() {
            return Err(Denied::Unknown);
        }
        let kind = v.statement().kind();
        let allowed = matches!(
            (role, kind),
            (
                None,
                Kind::Boot | Kind::Policy | Kind::Ack | Kind::KeyEnroll | Kind::Missed
            ) | (Some(Role::Source), Kind::Alert | Kind::Checkin)
                | (
                    Some(Role::Admin),
                    Kind::Ack | Kind::Silence | Kind::KeyEnroll | Kind::KeyRevoke | Kind::Check
                )
        );
        if !allowed {
            let role = role.map_or("device", Role::name);
            return Err(Denied::Role { role, kind });
        }
        Ok(())
    }

    /// For enrolments and revocations: whether the change is valid now (one step of
    /// [`crate::admission::admit`]); other kinds change nothing and pass.
    pub fn check_change(&self, st: &Statement) -> Result<(), Denied> {
        match st.content() {
            Content::KeyEnroll {
                name, public_key, ..
            } => {
                if name == DEVICE || self.by_name.contains_key(name) {
                    return Err(Denied::Conflict(format!(
                        "the name `{name}` is already enrolled or was revoked"
                    )));
                }
                let key = sig::parse_openssh_public_key(public_key)
                    .map_err(|e| Denied::Invalid(e.to_string()))?;
                if key == self.device || self.by_key.contains_key(key.as_bytes()) {
                    return Err(Denied::Conflict(
                        "that key is already enrolled or was revoked".into(),
                    ));
                }
                Ok(())
            }
            Content::KeyRevoke { name, .. } => match self.by_name.get(name) {
                Some(p) if !p.revoked => Ok(()),
                Some(_) => Err(Denied::Invalid(format!("`{name}` is already revoked"))),
                None => Err(Denied::Invalid(format!("`{name}` is not enrolled"))),
            },
            _ => Ok(()),
        }
    }

    /// Applies a committed entry (enrolments and revocations; other kinds change nothing).
    pub fn apply(&mut self, e: &Entry) {
        match e.statement().content() {
            Content::KeyEnroll {
                name,
                role,
                public_key,
            } => {
                if let Ok(key) = sig::parse_openssh_public_key(public_key) {
                    self.by_key.insert(*key.as_bytes(), name.clone());
                    self.by_name.insert(
                        name.clone(),
                        Principal {
                            name: name.clone(),
                            role: *role,
                            key,
                            revoked: false,
                        },
                    );
                }
            }
            Content::KeyRevoke { name, .. } => {
                if let Some(p) = self.by_name.get_mut(name) {
                    p.revoked = true;
                }
            }
            _ => {}
        }
    }
}
