//! The prober's TLS: client settings built once (system roots, or no verification when a
//! module asks), and the handshake that records the certificate chain's earliest expiry and
//! the negotiated version.

use super::config::TlsConfig;
use super::http::{Outcome, Reason};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_rustls::client::TlsStream;

/// Handshake over `tcp` with `sni`, within `deadline`; the time goes to the `tls` phase.
pub async fn handshake(
    tcp: TcpStream,
    sni: &str,
    config: &TlsConfig,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<TlsStream<TcpStream>, Reason> {
    let server_name =
        rustls::pki_types::ServerName::try_from(sni.to_string()).map_err(|_| Reason::Tls)?;
    let connector = tokio_rustls::TlsConnector::from(client(config.insecure_skip_verify));
    let t = Instant::now();
    let result = timeout_at(deadline, connector.connect(server_name, tcp)).await;
    out.phases.tls += t.elapsed();
    let stream = match result {
        Err(_) => return Err(Reason::Timeout),
        Ok(Err(_)) => return Err(Reason::Tls),
        Ok(Ok(stream)) => stream,
    };
    // Only a completed handshake counts as TLS (blackbox's probe_http_ssl).
    out.tls = true;
    let session = stream.get_ref().1;
    out.cert_expiry = session
        .peer_certificates()
        .and_then(|certs| certs.iter().filter_map(|c| super::x509::not_after(c)).min());
    out.tls_version = session.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2",
        _ => "unknown",
    });
    Ok(stream)
}

/// TLS client settings, built once: system roots, or no verification when asked.
fn client(insecure: bool) -> Arc<rustls::ClientConfig> {
    static VERIFYING: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static INSECURE: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    if insecure {
        return INSECURE
            .get_or_init(|| {
                let config = rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default protocol versions")
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
                    .with_no_client_auth();
                Arc::new(config)
            })
            .clone();
    }
    VERIFYING
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!(
                    "no system CA certificates found: HTTPS probes will fail verification"
                );
            }
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// `tls_config.insecure_skip_verify: true`: accept any certificate, still check signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
