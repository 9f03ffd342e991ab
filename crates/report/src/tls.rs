//! TLS settings shared by the sinks: verified by default (system roots, or only the CA bundle
//! given), with an explicit `insecure` switch that logs a warning.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tracing::warn;

use crate::error::ReportError;

fn read(sink: &str, path: &Path) -> Result<Vec<u8>, ReportError> {
    std::fs::read(path).map_err(|e| ReportError::Tls {
        sink: sink.to_owned(),
        reason: format!("CA bundle {}: {e}", path.display()),
    })
}

/// An HTTP client for a sink: `timeout` per request, TLS verified against the system roots or
/// only `ca_file`, or not at all when `insecure` (logged as a warning).
pub fn http_client(
    sink: &str,
    timeout: Duration,
    ca_file: Option<&Path>,
    insecure: bool,
) -> Result<reqwest::Client, ReportError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("relbot-reporter/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let certs = reqwest::Certificate::from_pem_bundle(&read(sink, path)?).map_err(|e| {
            ReportError::Tls {
                sink: sink.to_owned(),
                reason: format!("CA bundle {}: {e}", path.display()),
            }
        })?;
        if certs.is_empty() {
            return Err(ReportError::Tls {
                sink: sink.to_owned(),
                reason: format!("CA bundle {} holds no certificate", path.display()),
            });
        }
        builder = builder.tls_certs_only(certs);
    }
    if insecure {
        warn!(
            sink,
            "TLS certificate verification is DISABLED for this sink (insecure = true)."
        );
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| ReportError::Tls {
        sink: sink.to_owned(),
        reason: e.to_string(),
    })
}

/// A rustls client configuration for a sink (syslog over TLS), same rules as [`http_client`].
pub fn rustls_config(
    sink: &str,
    ca_file: Option<&Path>,
    insecure: bool,
) -> Result<Arc<rustls::ClientConfig>, ReportError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ReportError::Tls {
            sink: sink.to_owned(),
            reason: e.to_string(),
        })?;
    if insecure {
        warn!(
            sink,
            "TLS certificate verification is DISABLED for this sink (insecure = true)."
        );
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
                .with_no_client_auth(),
        ));
    }
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = read(sink, path)?;
            let certs: Vec<_> = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
                .collect::<Result<Vec<CertificateDer<'static>>, _>>()
                .map_err(|e| ReportError::Tls {
                    sink: sink.to_owned(),
                    reason: format!("CA bundle {}: {e}", path.display()),
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ReportError::Tls {
                    sink: sink.to_owned(),
                    reason: format!("CA bundle {} holds no usable certificate", path.display()),
                });
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// The verifier behind `insecure = true`: accepts any certificate, still checks signatures
/// of the handshake itself.
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
