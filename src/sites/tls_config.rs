//! The TLS configuration of site clients: one rustls `ClientConfig` per CA
//! bundle (or the webpki roots when a site names none), built once and
//! shared by every site client that uses it. reqwest would otherwise build
//! one per client, each with its own root store and a 256-entry session
//! cache; at 2,000 sites that was most of the operator's memory. Clones of
//! a `ClientConfig` share its verifier and session cache (both `Arc`s).
//! What reqwest would set is set here too: ring as the provider, its safe
//! default protocol versions, SNI, ALPN `http/1.1`, certificates verified
//! with the hostname.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::Digest;

/// Configurations by the SHA-256 of their CA bundle (`None`: webpki roots).
type Key = Option<[u8; 32]>;
static SHARED: LazyLock<Mutex<HashMap<Key, ClientConfig>>> = LazyLock::new(Default::default);
/// Past this many distinct bundles the table starts again (configurations
/// in use live on in their clients).
const MAX_BUNDLES: usize = 256;

/// The configuration for sites whose certificates `ca_pem` signs (`None`:
/// the webpki roots). The error says what is wrong with the bundle.
pub fn shared(ca_pem: Option<&[u8]>) -> Result<ClientConfig, String> {
    let key: Key = ca_pem.map(|pem| sha2::Sha256::digest(pem).into());
    let mut table = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = table.get(&key) {
        return Ok(c.clone());
    }
    let config = build(ca_pem)?;
    if table.len() >= MAX_BUNDLES {
        table.clear();
    }
    table.insert(key, config.clone());
    Ok(config)
}

fn build(ca_pem: Option<&[u8]>) -> Result<ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(pem) => {
            let mut count = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("CA bundle: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA bundle: certificate {}: {e}", count + 1))?;
                count += 1;
            }
            if count == 0 {
                return Err("CA bundle holds no certificate".to_string());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_a_certificate_is_refused() {
        let err = shared(Some(b"not a pem")).expect_err("no certificate");
        assert_eq!(err, "CA bundle holds no certificate");
    }

    #[test]
    fn sites_with_the_same_bundle_share_one_configuration() {
        let a = shared(None).expect("webpki roots");
        let b = shared(None).expect("webpki roots");
        // Clones of one configuration: the same provider (and with it the
        // same verifier and session cache), not a second build.
        assert!(Arc::ptr_eq(a.crypto_provider(), b.crypto_provider()));
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
