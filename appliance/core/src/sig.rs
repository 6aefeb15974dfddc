//! Keys and signatures (docs/spec.md §3): raw Ed25519 and OpenSSH SSHSIG, both checked with
//! `verify_strict`. Verification returns [`Verified`], the only thing the log accepts.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use ssh_encoding::Decode as _;
use ssh_key::{HashAlg, SshSig};

use crate::statement::Statement;

/// The SSHSIG namespace vigil requires.
pub const SSHSIG_NAMESPACE: &str = "vigil";
const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const ARMOR_END: &str = "-----END SSH SIGNATURE-----";
/// Largest armored SSHSIG accepted (an Ed25519 one is about 300 bytes).
pub const MAX_ARMOR_BYTES: usize = 2048;

/// A key that cannot be enrolled or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not an OpenSSH public-key line.
    #[error("not an OpenSSH public key line")]
    Malformed,
    /// A key of another algorithm.
    #[error("only ssh-ed25519 keys are accepted")]
    NotEd25519,
    /// Not a point on the curve.
    #[error("the key is not a valid Ed25519 point")]
    InvalidPoint,
    /// A small-order key, which would verify forged signatures.
    #[error("the key is a weak (small-order) Ed25519 key")]
    Weak,
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The signature does not verify for this key and statement.
    #[error("the signature does not verify")]
    BadSignature,
    /// The signature is not well formed.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// SSHSIG namespace other than `vigil`.
    #[error("the SSH signature's namespace must be `vigil`")]
    WrongNamespace,
    /// SSHSIG made by another key than the one it is checked against.
    #[error("the SSH signature was made by another key")]
    KeyMismatch,
    /// The signer's key is weak.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Parses an `ssh-ed25519 AAAA… [comment]` line into a usable Ed25519 key, refusing weak keys.
pub fn parse_openssh_public_key(line: &str) -> Result<VerifyingKey, KeyError> {
    let line = line.trim_end_matches('\n');
    if line.len() > 1024 || line.contains(['\n', '\r', '\0']) {
        return Err(KeyError::Malformed);
    }
    match line.split(' ').next() {
        Some("ssh-ed25519") => {}
        Some(alg)
            if alg.starts_with("ssh-") || alg.starts_with("ecdsa-") || alg.starts_with("sk-") =>
        {
            return Err(KeyError::NotEd25519);
        }
        _ => return Err(KeyError::Malformed),
    }
    let key = ssh_key::PublicKey::from_openssh(line).map_err(|_| KeyError::Malformed)?;
    let ed = key.key_data().ed25519().ok_or(KeyError::NotEd25519)?;
    checked_key(&ed.0)
}

/// Builds a key from 32 raw bytes, refusing invalid and weak keys.
pub fn checked_key(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    let vk = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint)?;
    if vk.is_weak() {
        return Err(KeyError::Weak);
    }
    Ok(vk)
}

/// The SSH wire blob of an Ed25519 public key.
fn openssh_blob(vk: &VerifyingKey) -> Vec<u8> {
    let mut blob = Vec::with_capacity(51);
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, vk.as_bytes());
    blob
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// The OpenSSH public-key line for a key.
pub fn openssh_public_key_line(vk: &VerifyingKey, comment: &str) -> String {
    let b64 = STANDARD.encode(openssh_blob(vk));
    if comment.is_empty() {
        format!("ssh-ed25519 {b64}")
    } else {
        format!("ssh-ed25519 {b64} {comment}")
    }
}

/// The key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
pub fn fingerprint(vk: &VerifyingKey) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(crate::sha256(&openssh_blob(vk)))
    )
}

/// How a statement was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigKind {
    /// Raw Ed25519 over the statement bytes.
    Ed25519,
    /// OpenSSH SSHSIG, namespace `vigil`.
    Sshsig,
}

impl SigKind {
    /// The entry's `sig-kind` value.
    pub fn name(self) -> &'static str {
        match self {
            SigKind::Ed25519 => "ed25519",
            SigKind::Sshsig => "sshsig",
        }
    }
    /// Parses a `sig-kind` value.
    pub fn from_name(s: &str) -> Option<SigKind> {
        match s {
            "ed25519" => Some(SigKind::Ed25519),
            "sshsig" => Some(SigKind::Sshsig),
            _ => None,
        }
    }
}

/// A signature as carried in a request and stored in an entry.
#[derive(Clone, PartialEq, Eq)]
pub enum Signature {
    /// The 64-byte Ed25519 signature.
    Ed25519([u8; 64]),
    /// The un-armored SSHSIG blob.
    Sshsig(Vec<u8>),
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature::{}({})", self.kind().name(), self.to_base64())
    }
}

impl Signature {
    /// Which form.
    pub fn kind(&self) -> SigKind {
        match self {
            Signature::Ed25519(_) => SigKind::Ed25519,
            Signature::Sshsig(_) => SigKind::Sshsig,
        }
    }
    /// The signature bytes (64 bytes, or the SSHSIG blob).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Signature::Ed25519(s) => s,
            Signature::Sshsig(b) => b,
        }
    }
    /// Base64 of [`Signature::bytes`].
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes())
    }
    /// Rebuilds a signature from its kind and base64 bytes.
    pub fn from_base64(kind: SigKind, b64: &str) -> Result<Signature, SigError> {
        if b64.len() > MAX_ARMOR_BYTES {
            return Err(SigError::Malformed("signature too long"));
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| SigError::Malformed("not base64"))?;
        match kind {
            SigKind::Ed25519 => {
                Ok(Signature::Ed25519(raw.try_into().map_err(|_| {
                    SigError::Malformed("an Ed25519 signature is 64 bytes")
                })?))
            }
            SigKind::Sshsig => {
                SshSignature::from_blob(&raw)?;
                Ok(Signature::Sshsig(raw))
            }
        }
    }
}

/// A decoded SSHSIG: its blob and the parts vigil checks.
#[derive(Debug, Clone)]
pub struct SshSignature {
    blob: Vec<u8>,
    key: VerifyingKey,
    namespace: String,
    hash_alg: HashAlg,
    sig: [u8; 64],
}

impl SshSignature {
    /// Decodes an armored signature (`-----BEGIN SSH SIGNATURE-----` … `-----END SSH SIGNATURE-----`,
    /// optionally followed by one LF).
    pub fn from_armor(armor: &[u8]) -> Result<SshSignature, SigError> {
        if armor.len() > MAX_ARMOR_BYTES {
            return Err(SigError::Malformed("armored signature too long"));
        }
        let text =
            std::str::from_utf8(armor).map_err(|_| SigError::Malformed("armor is not text"))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = text.split('\n');
        if lines.next() != Some(ARMOR_BEGIN) {
            return Err(SigError::Malformed("missing BEGIN SSH SIGNATURE line"));
        }
        let mut b64 = String::new();
        let mut ended = false;
        for line in lines {
            if ended {
                return Err(SigError::Malformed("data after END SSH SIGNATURE"));
            }
            if line == ARMOR_END {
                ended = true;
            } else if line.len() <= 76
                && line
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            {
                b64.push_str(line);
            } else {
                return Err(SigError::Malformed("bad line in SSH signature armor"));
            }
        }
        if !ended {
            return Err(SigError::Malformed("missing END SSH SIGNATURE line"));
        }
        let blob = STANDARD
            .decode(&b64)
            .map_err(|_| SigError::Malformed("armor is not base64"))?;
        SshSignature::from_blob(&blob)
    }

    /// Decodes an un-armored SSHSIG blob; only Ed25519, SHA-256/512, empty reserved field.
    pub fn from_blob(blob: &[u8]) -> Result<SshSignature, SigError> {
        let mut reader = blob;
        let sig =
            SshSig::decode(&mut reader).map_err(|_| SigError::Malformed("not an SSHSIG blob"))?;
        if !reader.is_empty() {
            return Err(SigError::Malformed("trailing bytes after SSHSIG"));
        }
        let ed = sig
            .public_key()
            .ed25519()
            .ok_or(SigError::Key(KeyError::NotEd25519))?;
        let key = checked_key(&ed.0)?;
        if !sig.reserved().is_empty() {
            return Err(SigError::Malformed("SSHSIG reserved field must be empty"));
        }
        if sig.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(SigError::Malformed("SSHSIG signature is not ssh-ed25519"));
        }
        let raw: [u8; 64] = sig
            .signature_bytes()
            .try_into()
            .map_err(|_| SigError::Malformed("an Ed25519 signature is 64 bytes"))?;
        Ok(SshSignature {
            blob: blob.to_vec(),
            key,
            namespace: sig.namespace().to_owned(),
            hash_alg: sig.hash_alg(),
            sig: raw,
        })
    }

    /// The key that made the signature (to look up the enrolled signer).
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
    /// The un-armored blob.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }
    /// The namespace it was made for.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

/// Splits a request body of the SSHSIG form into (statement, armor): the armor starts at the
/// last line that reads `-----BEGIN SSH SIGNATURE-----`. `None` when there is no such line.
pub fn split_sshsig_body(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let marker = ARMOR_BEGIN.as_bytes();
    let mut at = None;
    for i in 0..body.len().saturating_sub(marker.len() - 1) {
        if (i == 0 || body[i - 1] == b'\n') && body[i..].starts_with(marker) {
            at = Some(i);
        }
    }
    at.map(|i| body.split_at(i))
}

/// A statement whose signature verified against an enrolled key. Only this module makes one.
#[derive(Debug, Clone)]
pub struct Verified {
    statement: Statement,
    signer: String,
    key: VerifyingKey,
    signature: Signature,
}

impl Verified {
    /// The verified statement.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }
    /// The enrolled name of the signer.
    pub fn signer(&self) -> &str {
        &self.signer
    }
    /// The signer's key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

/// Checks `signature` over the statement's exact bytes with `key` (enrolled as `signer`).
pub fn verify(
    statement: Statement,
    signer: &str,
    key: &VerifyingKey,
    signature: Signature,
) -> Result<Verified, SigError> {
    verify_bytes(statement.bytes(), key, &signature)?;
    Ok(Verified {
        statement,
        signer: signer.to_owned(),
        key: *key,
        signature,
    })
}

/// Checks a signature over raw bytes (used by [`verify`] and by log audits).
pub fn verify_bytes(msg: &[u8], key: &VerifyingKey, signature: &Signature) -> Result<(), SigError> {
    if key.is_weak() {
        return Err(KeyError::Weak.into());
    }
    match signature {
        Signature::Ed25519(s) => key
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(s))
            .map_err(|_| SigError::BadSignature),
        Signature::Sshsig(blob) => {
            let ssh = SshSignature::from_blob(blob)?;
            if ssh.namespace != SSHSIG_NAMESPACE {
                return Err(SigError::WrongNamespace);
            }
            if ssh.key != *key {
                return Err(SigError::KeyMismatch);
            }
            let signed = SshSig::signed_data(SSHSIG_NAMESPACE, ssh.hash_alg, msg)
                .map_err(|_| SigError::Malformed("cannot form SSHSIG signed data"))?;
            key.verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(&ssh.sig))
                .map_err(|_| SigError::BadSignature)
        }
    }
}

/// Signs a statement with `key` (raw Ed25519) and verifies the result as `signer`'s: the
/// device's own statements and test fixtures get their [`Verified`] the one way there is.
pub fn sign(statement: Statement, signer: &str, key: &SigningKey) -> Result<Verified, SigError> {
    let signature = sign_raw(statement.bytes(), key);
    verify(statement, signer, &key.verifying_key(), signature)
}

/// Signs statement bytes with a raw Ed25519 signature (the device and the CLI).
pub fn sign_raw(msg: &[u8], key: &SigningKey) -> Signature {
    Signature::Ed25519(key.sign(msg).to_bytes())
}
