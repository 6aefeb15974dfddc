//! First contact (`vigil trust URL`): the appliance presents its chain (leaf + CA) in the TLS
//! handshake; we record it without trusting it, show the CA's fingerprint for the user to compare
//! with the LCD, and only then use that CA, and nothing else, for every later call.

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Records the presented chain and accepts it (first contact only; the user checks the
/// fingerprint before anything is trusted).
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut c = self
            .chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.push(end_entity.clone().into_owned());
        c.extend(intermediates.iter().map(|i| i.clone().into_owned()));
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Splits `https://host:port/...` into (host, port).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        let port = p.strip_prefix(':').map_or(Some(443), |p| p.parse().ok())?;
        return Some((h.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
        None => Some((authority.to_owned(), 443)),
    }
}

/// Connects to `url` and returns the CA certificate it presents (the last of the chain), as PEM.
pub fn fetch_ca(url: &str) -> Result<String, String> {
    let (host, port) = host_port(url).ok_or_else(|| format!("`{url}` is not an https:// URL"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let rec = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        schemes,
    });
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(rec.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
    let addr = format!(
        "{}:{port}",
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        }
    );
    let mut tcp =
        std::net::TcpStream::connect(&addr).map_err(|e| format!("cannot reach {addr}: {e}"))?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    {
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        tls.write_all(b"HEAD /healthz HTTP/1.1\r\nHost: vigil\r\nConnection: close\r\n\r\n")
            .map_err(|e| format!("TLS handshake with {addr} failed: {e}"))?;
        let mut sink = Vec::new();
        let _ = tls.take(4096).read_to_end(&mut sink);
    }
    let chain = rec
        .chain
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let ca = chain.last().ok_or("the server presented no certificate")?;
    if chain.len() < 2 {
        return Err("the server presented no CA certificate (is this a vigil appliance?)".into());
    }
    Ok(der_to_pem(ca))
}

/// PEM-encodes a certificate.
pub fn der_to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// `SHA256:<base64>` of a PEM certificate's DER (as vigild prints and the LCD shows).
pub fn fingerprint_pem(pem: &str) -> Option<String> {
    vigil_core::pem_certificate_der(pem).map(|der| vigil_core::der_fingerprint(&der))
}
