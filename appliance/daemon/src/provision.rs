//! Provisioning (docs/spec.md §1, §9): the keys and policy an operator places in the provisioning
//! directory are imported as device-signed, logged entries. Re-importing an unchanged set logs
//! nothing; a file that contradicts the log (same name, other key or role) refuses the start.

use std::path::{Path, PathBuf};

use vigil_core::statement::{Kind, Role, valid_name};
use vigil_core::{Policy, SigningKey, Verified, keyfile, sig};

use crate::files;
use crate::state::{Shared, device_statement};

/// The role folders under `keys/`.
pub const ROLE_DIRS: [(&str, Role); 3] = [
    ("sources", Role::Source),
    ("auditors", Role::Auditor),
    ("admins", Role::Admin),
];

/// A provisioning problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct ProvisionError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub why: String,
}

fn perr(path: &Path, why: impl std::fmt::Display) -> ProvisionError {
    ProvisionError {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

/// One key file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// Enrolled name (the file name without `.pub`).
    pub name: String,
    /// Role from the folder.
    pub role: Role,
    /// The OpenSSH line.
    pub line: String,
    /// Where it came from.
    pub path: PathBuf,
}

/// Reads `keys/{sources,auditors,admins}/*.pub`, validating names and keys.
pub fn read_keys(dir: &Path) -> Result<Vec<KeyFile>, ProvisionError> {
    let mut out = Vec::new();
    for (sub, role) in ROLE_DIRS {
        let d = dir.join("keys").join(sub);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let Some(name) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pub"))
            else {
                continue;
            };
            if !valid_name(name) {
                return Err(perr(
                    &p,
                    "the file name must be a valid principal name ([a-z0-9][a-z0-9._@-]*) followed by .pub",
                ));
            }
            let text = std::fs::read_to_string(&p).map_err(|e| perr(&p, e))?;
            let line = text.trim_end_matches('\n');
            if line.contains('\n') {
                return Err(perr(&p, "a .pub file holds exactly one key line"));
            }
            sig::parse_openssh_public_key(line).map_err(|e| perr(&p, e))?;
            out.push(KeyFile {
                name: name.to_owned(),
                role,
                line: line.to_owned(),
                path: p,
            });
        }
    }
    let mut names: Vec<&str> = out.iter().map(|k| k.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(perr(
            &dir.join("keys"),
            format!("`{}` appears under two roles", w[0]),
        ));
    }
    Ok(out)
}

/// Reads `policy.toml` if present: its text and parsed form.
pub fn read_policy(dir: &Path) -> Result<Option<(String, Policy)>, ProvisionError> {
    let p = dir.join("policy.toml");
    match std::fs::read_to_string(&p) {
        Ok(text) => {
            let policy = Policy::parse(&text).map_err(|e| perr(&p, e))?;
            Ok(Some((text, policy)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(perr(&p, e)),
    }
}

/// Creates one INSECURE dev key pair per role under `dir/keys/` (embedded default only).
/// Returns the names made.
pub fn make_dev_keys(dir: &Path) -> Result<Vec<PathBuf>, ProvisionError> {
    let mut made = Vec::new();
    for (sub, role) in ROLE_DIRS {
        let name = format!("{}-dev", role.name());
        let priv_path = dir.join("keys").join(sub).join(&name);
        let key = SigningKey::from_bytes(&files::random_seed());
        let comment = format!("{name} INSECURE development key");
        let text = keyfile::encode(&key, &comment).map_err(|e| perr(&priv_path, e))?;
        files::write_secret(&priv_path, text.as_bytes()).map_err(|e| perr(&priv_path, e))?;
        let line = format!(
            "{}\n",
            sig::openssh_public_key_line(&key.verifying_key(), &comment)
        );
        let pub_path = priv_path.with_file_name(format!("{name}.pub"));
        files::write_public(&pub_path, line.as_bytes()).map_err(|e| perr(&pub_path, e))?;
        made.push(priv_path);
    }
    Ok(made)
}

/// The device statements that bring the log in line with the provisioning files, checked
/// against the current projection. Unchanged files yield nothing.
pub fn plan_import(
    shared: &Shared,
    keys: &[KeyFile],
    policy_text: &str,
    device: &SigningKey,
    origin: &str,
    now_secs: u64,
) -> Result<Vec<Verified>, ProvisionError> {
    let mut out = Vec::new();
    for k in keys {
        let key = sig::parse_openssh_public_key(&k.line).map_err(|e| perr(&k.path, e))?;
        match shared.registry.by_name(&k.name) {
            Some(p) if p.key == key && p.role == k.role => {}
            Some(p) => {
                return Err(perr(
                    &k.path,
                    format!(
                        "`{}` is already enrolled as a {} with another key{}; names are never reused — pick a new name",
                        k.name,
                        p.role.name(),
                        if p.revoked { " (revoked)" } else { "" }
                    ),
                ));
            }
            None => {
                if let Some(other) = shared.registry.by_key(&key) {
                    return Err(perr(
                        &k.path,
                        format!("this key is already enrolled as `{}`", other.name),
                    ));
                }
                let v = device_statement(
                    device,
                    origin,
                    now_secs,
                    Kind::KeyEnroll,
                    &[
                        ("name", &k.name),
                        ("role", k.role.name()),
                        ("public-key", &k.line),
                    ],
                    "",
                )
                .map_err(|e| perr(&k.path, e))?;
                out.push(v);
            }
        }
    }
    let sha = vigil_core::sha256(policy_text.as_bytes());
    if shared.policy_sha != Some(sha) {
        let v = device_statement(
            device,
            origin,
            now_secs,
            Kind::Policy,
            &[("sha256", &hex::encode(sha))],
            policy_text,
        )
        .map_err(|e| perr(Path::new("policy.toml"), e))?;
        out.push(v);
    }
    Ok(out)
}
