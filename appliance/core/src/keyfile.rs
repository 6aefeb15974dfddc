//! OpenSSH private key files for Ed25519 keys (what `ssh-keygen -t ed25519` writes), so vigil's
//! keys work with `ssh-keygen -Y sign` and the other way round. Encrypted keys are refused with
//! a clear error: vigil runs unattended and cannot ask for a passphrase.

use ed25519_dalek::SigningKey;
use ssh_key::private::{Ed25519Keypair, Ed25519PrivateKey, KeypairData};
use ssh_key::public::Ed25519PublicKey;
use ssh_key::{LineEnding, PrivateKey};
use zeroize::Zeroizing;

/// Why a key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Not an OpenSSH private key.
    #[error("not an OpenSSH private key file")]
    Malformed,
    /// Protected by a passphrase.
    #[error("the key is encrypted; vigil needs an unencrypted key (ssh-keygen -N '')")]
    Encrypted,
    /// Not Ed25519.
    #[error("only ssh-ed25519 keys are supported")]
    NotEd25519,
    /// Private and public halves disagree.
    #[error("the private key does not match its public key")]
    Mismatch,
}

/// Encodes a key as an unencrypted OpenSSH private key file.
pub fn encode(key: &SigningKey, comment: &str) -> Result<Zeroizing<String>, KeyFileError> {
    let kp = Ed25519Keypair {
        public: Ed25519PublicKey(key.verifying_key().to_bytes()),
        private: Ed25519PrivateKey::from_bytes(&key.to_bytes()),
    };
    let pk =
        PrivateKey::new(KeypairData::Ed25519(kp), comment).map_err(|_| KeyFileError::Malformed)?;
    pk.to_openssh(LineEnding::LF)
        .map_err(|_| KeyFileError::Malformed)
}

/// Decodes an unencrypted OpenSSH Ed25519 private key file.
pub fn decode(text: &str) -> Result<SigningKey, KeyFileError> {
    let pk = PrivateKey::from_openssh(text).map_err(|_| KeyFileError::Malformed)?;
    if pk.is_encrypted() {
        return Err(KeyFileError::Encrypted);
    }
    let KeypairData::Ed25519(kp) = pk.key_data() else {
        return Err(KeyFileError::NotEd25519);
    };
    let key = SigningKey::from_bytes(&kp.private.to_bytes());
    if key.verifying_key().to_bytes() != kp.public.0 {
        return Err(KeyFileError::Mismatch);
    }
    Ok(key)
}
