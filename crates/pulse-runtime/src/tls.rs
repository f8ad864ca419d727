//! TLS client configuration shared by every outbound HTTPS connection (ClickHouse,
//! webhooks): rustls with the `ring` provider, Mozilla's root certificates, plus the
//! certificates of an optional CA bundle from configuration (a private CA in front of
//! ClickHouse, a corporate proxy in front of Slack).
//!
//! The bundle is read and parsed at start-up, so a missing or malformed file stops the
//! service with the configuration key in the message instead of failing the first
//! request.

use std::{path::Path, sync::Arc};

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{pem::PemObject, CertificateDer};

use crate::settings::SettingsError;

/// Reads every certificate of a PEM bundle. `key` names the setting in errors.
pub fn read_ca_bundle(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, SettingsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| SettingsError::invalid(key, format!("cannot read CA bundle {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| SettingsError::invalid(key, format!("CA bundle {} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(SettingsError::invalid(key, format!("CA bundle {} holds no certificate", path.display())));
    }
    Ok(certs)
}

/// A rustls client configuration trusting Mozilla's roots and `extra_ca`.
pub fn client_config(extra_ca: &[CertificateDer<'static>], key: &str) -> Result<ClientConfig, SettingsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_ca {
        roots.add(cert.clone()).map_err(|e| SettingsError::invalid(key, format!("CA certificate rejected: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SettingsError::invalid(key, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The client configuration for an optional CA bundle setting.
pub fn client_config_for(ca_file: Option<&Path>, key: &str) -> Result<ClientConfig, SettingsError> {
    let extra = match ca_file {
        Some(p) => read_ca_bundle(p, key)?,
        None => Vec::new(),
    };
    client_config(&extra, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_bundle_names_the_key() {
        let err =
            client_config_for(Some(Path::new("/nonexistent/ca.pem")), "clickhouse.ca_file").expect_err("missing file");
        assert!(err.to_string().contains("clickhouse.ca_file"), "{err}");
        let dir = std::env::temp_dir().join(format!("pulse-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = client_config_for(Some(&empty), "clickhouse.ca_file").expect_err("empty bundle");
        assert!(err.to_string().contains("holds no certificate"), "{err}");
        assert!(client_config_for(None, "clickhouse.ca_file").is_ok());
    }
}
