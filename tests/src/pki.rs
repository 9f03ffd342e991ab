//! A throw-away PKI made at test time (rcgen): a CA and a server certificate for `localhost`
//! and `127.0.0.1`, written as PEM files into a temporary folder.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// PEM files of a test CA and a server certificate it signed.
#[derive(Debug)]
pub struct TestPki {
    /// Holds the files; removed on drop.
    pub dir: tempfile::TempDir,
    /// The CA certificate (what clients trust).
    pub ca: PathBuf,
    /// The server certificate (`localhost`, `127.0.0.1`).
    pub cert: PathBuf,
    /// The server's private key (PKCS#8).
    pub key: PathBuf,
}

impl TestPki {
    /// Makes a CA and a server certificate.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "relbot test CA");
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;

        let paths = (
            dir.path().join("ca.pem"),
            dir.path().join("server.pem"),
            dir.path().join("server-key.pem"),
        );
        std::fs::write(&paths.0, ca_cert.pem())?;
        std::fs::write(&paths.1, cert.pem())?;
        std::fs::write(&paths.2, key.serialize_pem())?;
        Ok(Self {
            dir,
            ca: paths.0,
            cert: paths.1,
            key: paths.2,
        })
    }

    /// A rustls server configuration with the server certificate.
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .context("server certificate")?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&self.key).context("server key")?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        Ok(Arc::new(config))
    }
}
