//! The server side of TLS: a rustls config built from `tls_server_config`, a certificate
//! re-read when its files change (rotation needs no restart), and client certificate
//! checks by exporter-toolkit's `client_auth_type` names.

use super::config::{Placed, TlsSettings};
use anyhow::{Result, anyhow};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Go's `tls.ClientAuthType` names, as exporter-toolkit spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    NoClientCert,
    /// Asks for a certificate, takes any (or none) without checking it.
    RequestClientCert,
    /// Wants a certificate, takes any without checking it.
    RequireAnyClientCert,
    /// Checks a certificate against `client_ca_file` when one is sent.
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether certificates are checked against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// `min_version` / `max_version`. rustls speaks TLS 1.2 and 1.3 only, so TLS10 and TLS11
/// as a minimum mean TLS 1.2 (stricter, never weaker); as a maximum they are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// Build the rustls config, reading every file once (errors carry the setting's place).
pub fn server_config(settings: &TlsSettings) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if settings.max_version < TlsVersion::TLS12 {
        return Err(anyhow!(
            "{}: max_version {:?}: only TLS12 and TLS13 are served",
            settings.cert_file.place,
            settings.max_version
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (settings.min_version..=settings.max_version).contains(v))
    .map(|(_, version)| version)
    .collect();
    let certificate =
        ReloadingCertificate::load(&settings.cert_file, &settings.key_file, provider.clone())?;
    let verifier = client_verifier(settings, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(certificate));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>> {
    let algorithms = provider.signature_verification_algorithms;
    Ok(match settings.client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert => Arc::new(AnyClientCert {
            mandatory: false,
            algorithms,
        }),
        ClientAuth::RequireAnyClientCert => Arc::new(AnyClientCert {
            mandatory: true,
            algorithms,
        }),
        auth @ (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert) => {
            let ca = settings
                .client_ca_file
                .as_ref()
                .ok_or_else(|| anyhow!("client_auth_type {auth:?} needs client_ca_file"))?;
            let roots = Arc::new(root_store(ca)?);
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| anyhow!("{}: client_ca_file: {e}", ca.place))?
        }
    })
}

fn root_store(ca: &Placed<PathBuf>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(&ca.value).map_err(|e| anyhow!("{}: {e}", ca.place))? {
        roots
            .add(cert)
            .map_err(|e| anyhow!("{}: client_ca_file: {e}", ca.place))?;
    }
    Ok(roots)
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{shown}: no certificate in the file"));
    }
    Ok(certs)
}

/// Which of the two files a certificate error is about.
enum Fault {
    Cert(String),
    Key(String),
}

/// Certificate chain and key, checked to belong together.
fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, Fault> {
    let chain = read_certificates(cert_file).map_err(Fault::Cert)?;
    let shown = key_file.display();
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| Fault::Key(format!("cannot read a private key from {shown}: {e}")))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        Fault::Key(format!(
            "{shown}: {e} (does the key belong to the certificate?)"
        ))
    })
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (Fault::Cert(e) | Fault::Key(e)) = self;
        f.write_str(e)
    }
}

/// What tells that a file changed: modification time, size and inode (a rename swaps it).
type Stamp = Option<(std::time::SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Serves the current certificate; before each handshake it looks at the files' stamps
/// and, when they changed, reads them again. A bad new pair is logged and the old one kept.
#[derive(Debug)]
struct ReloadingCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<(Stamp, Stamp, Arc<CertifiedKey>)>,
}

impl ReloadingCertificate {
    fn load(
        cert_file: &Placed<PathBuf>,
        key_file: &Placed<PathBuf>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self> {
        let stamps = (stamp(&cert_file.value), stamp(&key_file.value));
        let key = certified_key(&cert_file.value, &key_file.value, &provider).map_err(|e| {
            let place = match e {
                Fault::Cert(_) => &cert_file.place,
                Fault::Key(_) => &key_file.place,
            };
            anyhow!("{place}: {e}")
        })?;
        Ok(ReloadingCertificate {
            cert_file: cert_file.value.clone(),
            key_file: key_file.value.clone(),
            provider,
            current: Mutex::new((stamps.0, stamps.1, Arc::new(key))),
        })
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = crate::base::lock::lock(&self.current, "tls certificate");
        let stamps = (stamp(&self.cert_file), stamp(&self.key_file));
        if (stamps.0, stamps.1) != (current.0, current.1) {
            match certified_key(&self.cert_file, &self.key_file, &self.provider) {
                Ok(key) => {
                    tracing::info!(cert = %self.cert_file.display(), "TLS certificate re-read");
                    *current = (stamps.0, stamps.1, Arc::new(key));
                }
                Err(e) => {
                    // Remember the stamps so a bad pair is reported once, not per handshake.
                    tracing::error!("TLS certificate not re-read, the old one is kept: {e}");
                    current.0 = stamps.0;
                    current.1 = stamps.1;
                }
            }
        }
        Some(current.2.clone())
    }
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate is taken as it is, but
/// the handshake signature is still checked, so the client holds the key it shows.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
