//! rustls server configuration: TLS 1.2 and 1.3 only (aws-lc-rs provider), ALPN h2 and
//! http/1.1, certificates from files or a self-signed one generated on first run.

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: cannot read {path}: {reason}")]
    Read {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot generate a self-signed certificate in {path}: {reason}")]
    Generate { path: PathBuf, reason: String },
    #[error("invalid certificate or key: {0}")]
    Config(String),
}

/// Where the certificate and key came from, for the start-up message.
pub enum CertSource {
    Files,
    Generated { cert: PathBuf },
    Existing { cert: PathBuf },
}

pub fn server_config(
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
    data_dir: &Path,
) -> Result<(Arc<ServerConfig>, CertSource), TlsError> {
    let (cert_path, key_path, source) = match (cert_file, key_file) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf(), CertSource::Files),
        _ => {
            let dir = data_dir.join("tls");
            let cert = dir.join("cert.pem");
            let key = dir.join("key.pem");
            if cert.exists() && key.exists() {
                (cert.clone(), key, CertSource::Existing { cert })
            } else {
                generate_self_signed(&dir, &cert, &key)?;
                (cert.clone(), key, CertSource::Generated { cert })
            }
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Read {
            key: "server.cert_file",
            path: cert_path.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Read {
            key: "server.cert_file",
            path: cert_path,
            reason: "no PEM certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| TlsError::Read {
        key: "server.key_file",
        path: key_path.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), source))
}

/// A certificate for localhost and 127.0.0.1, for development only.
fn generate_self_signed(dir: &Path, cert: &Path, key: &Path) -> Result<(), TlsError> {
    let err = |reason: String| TlsError::Generate {
        path: dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| err(e.to_string()))?;
    write_private(key, ck.signing_key.serialize_pem().as_bytes())
        .map_err(|e| err(e.to_string()))?;
    std::fs::write(cert, ck.cert.pem()).map_err(|e| err(e.to_string()))?;
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}
