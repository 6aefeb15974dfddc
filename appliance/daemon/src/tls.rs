//! The appliance's own CA (ECDSA P-256, key never leaves the state directory) and the 24-hour
//! leaf certificates it issues, hot-swapped into the running TLS config (docs/spec.md §8).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use crate::files::{self, FileError};

/// Lifetime of a leaf certificate.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How often the leaf is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(12 * 3600);

/// TLS set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file.
    #[error(transparent)]
    File(#[from] FileError),
    /// Certificate generation or parsing.
    #[error("certificate: {0}")]
    Cert(String),
}

fn cert_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Cert(e.to_string())
}

/// The appliance CA.
pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("fingerprint", &self.fingerprint())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Ca {
    /// Loads `dir/ca.pem` and `dir/ca.key`, or creates them on first start.
    pub fn load_or_create(dir: &Path, common_name: &str) -> Result<Ca, TlsError> {
        let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
        if !cert_path.exists() && !key_path.exists() {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, format!("vigil CA {common_name}"));
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let now = OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(20 * 365);
            let cert = params.self_signed(&key).map_err(cert_err)?;
            let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
            files::write_secret(&key_path, key_pem.as_bytes())?;
            files::write_public(&cert_path, cert.pem().as_bytes())?;
        }
        let key_pem = files::read_secret(&key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| files::err(&key_path, e))?;
        let cert_pem =
            std::fs::read_to_string(&cert_path).map_err(|e| files::err(&cert_path, e))?;
        let cert_der =
            pem_to_der(&cert_pem).ok_or_else(|| files::err(&cert_path, "not a PEM certificate"))?;
        let issuer =
            Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| files::err(&cert_path, e))?;
        Ok(Ca {
            cert_pem,
            cert_der,
            issuer,
        })
    }

    /// The CA certificate (PEM), which clients pin.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// `SHA256:` + base64 of the SHA-256 of the CA certificate's DER.
    pub fn fingerprint(&self) -> String {
        fingerprint_der(&self.cert_der)
    }

    /// Issues a leaf for `names` and `ips`, valid from five minutes ago for [`LEAF_LIFETIME`].
    pub fn issue_leaf(&self, names: &[String], ips: &[IpAddr]) -> Result<CertifiedKey, TlsError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_else(|| "vigil".into()),
        );
        params.distinguished_name = dn;
        for n in names {
            params
                .subject_alt_names
                .push(SanType::DnsName(n.clone().try_into().map_err(cert_err)?));
        }
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::seconds(LEAF_LIFETIME.as_secs() as i64);
        let cert = params.signed_by(&key, &self.issuer).map_err(cert_err)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_ecdsa_type(&key_der).map_err(cert_err)?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone(), self.cert_der.clone()],
            signing,
        ))
    }
}

/// `SHA256:` + base64 (no padding) of SHA-256 over DER, like OpenSSH fingerprints.
pub fn fingerprint_der(der: &[u8]) -> String {
    vigil_core::der_fingerprint(der)
}

/// Extracts the first certificate's DER from PEM text.
pub fn pem_to_der(pem: &str) -> Option<CertificateDer<'static>> {
    vigil_core::pem_certificate_der(pem).map(CertificateDer::from)
}

/// Serves whichever leaf is current; renewal swaps it without touching open connections.
#[derive(Debug)]
pub struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Resolver {
    /// Starts with `key`.
    pub fn new(key: CertifiedKey) -> Self {
        Resolver {
            current: RwLock::new(Arc::new(key)),
        }
    }
    /// Replaces the served certificate for new handshakes.
    pub fn replace(&self, key: CertifiedKey) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(key);
    }
    /// The current certificate chain.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// TLS 1.3 and 1.2, AEAD suites only, ChaCha20-Poly1305 first (Pi 3/4 have no AES
/// instructions), server order, HTTP/1.1 only.
pub fn server_config(resolver: Arc<Resolver>) -> Result<rustls::ServerConfig, TlsError> {
    use rustls::crypto::ring::{self as r, cipher_suite as cs};
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ],
        ..r::default_provider()
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(cert_err)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.ignore_client_order = true;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Paths of the TLS files in a state directory.
pub fn tls_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("tls")
}
