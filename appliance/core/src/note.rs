//! C2SP `signed-note` v1.0.0 with Ed25519 keys: key ids, verifier keys, signing and verifying.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// Largest note accepted for verification.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines accepted on one note.
pub const MAX_SIGNATURES: usize = 32;
/// Signature type byte of Ed25519 keys in signed-note.
const ALG_ED25519: u8 = 0x01;

/// Errors of notes and their keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not a well-formed note.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// Not a well-formed verifier key.
    #[error("malformed verifier key: {0}")]
    BadVkey(&'static str),
    /// A key name with whitespace or `+`.
    #[error("invalid key name")]
    BadName,
    /// No signature by the expected key verified.
    #[error("no valid signature by {0}")]
    Unverified(String),
}

/// A key name: non-empty, no Unicode whitespace, no `+`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The 4-byte key id: SHA-256(name ‖ LF ‖ 0x01 ‖ key)[:4].
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut data = Vec::with_capacity(name.len() + 34);
    data.extend_from_slice(name.as_bytes());
    data.push(b'\n');
    data.push(ALG_ED25519);
    data.extend_from_slice(key.as_bytes());
    let h = crate::sha256(&data);
    [h[0], h[1], h[2], h[3]]
}

/// Checks a note's signatures against a verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Builds a verifier for `name` and `key`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::BadName);
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            id: key_id(name, &key),
            key,
        })
    }

    /// Parses a vkey `<name>+<hex key id>+<base64(0x01 ‖ key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let vkey = vkey.trim_end_matches('\n');
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadVkey("expected name+id+key"));
        };
        if id_hex.len() != 8 || id_hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(NoteError::BadVkey("key id must be 8 lowercase hex digits"));
        }
        let mut id = [0u8; 4];
        hex::decode_to_slice(id_hex, &mut id)
            .map_err(|_| NoteError::BadVkey("key id is not hex"))?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::BadVkey("key is not base64"))?;
        let [alg, key @ ..] = raw.as_slice() else {
            return Err(NoteError::BadVkey("empty key"));
        };
        if *alg != ALG_ED25519 {
            return Err(NoteError::BadVkey("only Ed25519 (0x01) keys are supported"));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::BadVkey("an Ed25519 key is 32 bytes"))?;
        let key = crate::sig::checked_key(&key)
            .map_err(|_| NoteError::BadVkey("not a usable Ed25519 key"))?;
        let v = NoteVerifier::new(name, key)?;
        if v.id != id {
            return Err(NoteError::BadVkey("key id does not match name and key"));
        }
        Ok(v)
    }

    /// The vkey string.
    pub fn vkey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(raw)
        )
    }
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The 4-byte key id.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }
    /// The public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies `note` and returns its text (ending in LF) when a signature by this key verifies.
    /// Signatures by other keys are ignored, as the spec says.
    pub fn verify<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let (text, sigs) = split_note(note)?;
        for (name, blob) in sigs {
            if name != self.name || blob.len() != 68 || blob[..4] != self.id {
                continue;
            }
            let sig: [u8; 64] = blob[4..]
                .try_into()
                .map_err(|_| NoteError::Malformed("signature length"))?;
            if self
                .key
                .verify_strict(text.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
                .is_ok()
            {
                return Ok(text);
            }
        }
        Err(NoteError::Unverified(self.name.clone()))
    }
}

/// A signature line: key name and decoded blob (key id ‖ signature).
pub type SignatureLine<'a> = (&'a str, Vec<u8>);

/// Splits a note into its text and its signature lines.
pub fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("note too large"));
    }
    let at = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before signatures"))?;
    let (text, rest) = (&note[..at + 1], &note[at + 2..]);
    check_text(text)?;
    let Some(rest) = rest.strip_suffix('\n') else {
        return Err(NoteError::Malformed(
            "signature block must end with a newline",
        ));
    };
    let mut sigs = Vec::new();
    for line in rest.split('\n') {
        let body = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed(
            "signature line must start with an em dash",
        ))?;
        let (name, b64) = body.split_once(' ').ok_or(NoteError::Malformed(
            "signature line needs a name and a signature",
        ))?;
        if !valid_key_name(name) {
            return Err(NoteError::Malformed("bad key name on a signature line"));
        }
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        if blob.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        sigs.push((name, blob));
        if sigs.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
    }
    Ok((text, sigs))
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("control character in text"));
    }
    Ok(())
}

/// Signs notes with an Ed25519 key. Its `Debug` never shows the key.
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("vkey", &self.verifier.vkey())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl NoteSigner {
    /// A signer named `name` (for checkpoints: the log origin).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        Ok(NoteSigner {
            verifier: NoteVerifier::new(name, key.verifying_key())?,
            key,
        })
    }
    /// The matching verifier.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }
    /// Signs `text` (which must end in LF and contain no other control characters) into a note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes()).to_bytes();
        let mut blob = self.verifier.id.to_vec();
        blob.extend_from_slice(&sig);
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.verifier.name,
            STANDARD.encode(blob)
        ))
    }
}
