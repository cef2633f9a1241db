//! TLS on the client side, with rustls: the acceptor built from `tls_cert` and `tls_key`, and the stream a
//! session runs on once a client's SSL request has been answered by a TLS handshake.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

/// Why TLS could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tls_cert {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("tls_key {path}: {message}")]
    Key { path: String, message: String },
    #[error("tls_cert and tls_key do not make a usable TLS configuration: {0}")]
    Config(String),
}

/// The acceptor for the configured certificate and key; `None` when TLS is not configured.
pub fn acceptor(config: &Config) -> Result<Option<TlsAcceptor>, Error> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Certificate {
            path: cert.clone(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(Error::Certificate {
            path: cert.clone(),
            message: "no PEM certificate in the file".to_string(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| Error::Key {
        path: key.clone(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, private)
        })
        .map_err(|e| Error::Config(e.to_string()))?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}
