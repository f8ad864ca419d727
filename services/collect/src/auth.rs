//! Who is sending (SPEC §9): a write key as HTTP Basic user with an empty password (a
//! missing colon tolerated), or `X-Write-Key`, or the body's `writeKey`; on
//! `/v1/webhook` a valid `X-Signature` (hex HMAC-SHA1 of the body with a source's shared
//! secret) alone identifies the source, and a source with a shared secret requires it.
//!
//! Keys are stored as SHA-256 digests and looked up by the digest of what was sent, so
//! the comparison never runs over the key itself; signatures are checked with the MAC's
//! constant-time comparison.

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Digest as _;

use crate::config::SourceConfig;

/// The configured sources, by key digest.
pub struct Sources {
    sources: Vec<SourceConfig>,
    by_digest: HashMap<[u8; 32], usize>,
}

/// Why a request is not authenticated (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no write key (HTTP Basic user, X-Write-Key or the body's writeKey)")]
    Missing,
    #[error("unknown write key")]
    Unknown,
    #[error("X-Signature does not match any source's shared secret")]
    BadSignature,
    #[error("this source requires X-Signature on /v1/webhook")]
    SignatureRequired,
}

impl Sources {
    pub fn new(sources: &[SourceConfig]) -> Self {
        let mut by_digest = HashMap::new();
        for (i, s) in sources.iter().enumerate() {
            let mut d = [0u8; 32];
            // Validated as 64 hex digits at start-up.
            if hex::decode_to_slice(&s.key_sha256, &mut d).is_ok() {
                by_digest.insert(d, i);
            }
        }
        Self { sources: sources.to_vec(), by_digest }
    }

    pub fn get(&self, i: usize) -> &SourceConfig {
        &self.sources[i]
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The source of a write key.
    pub fn by_key(&self, key: &str) -> Option<usize> {
        let d: [u8; 32] = sha2::Sha256::digest(key.as_bytes()).into();
        self.by_digest.get(&d).copied()
    }

    /// The source whose shared secret signed `body` with `signature` (hex).
    pub fn by_signature(&self, signature: &str, body: &[u8]) -> Option<usize> {
        let sig = hex::decode(signature.trim()).ok()?;
        self.sources
            .iter()
            .position(|s| s.shared_secret.as_ref().is_some_and(|secret| verify(secret.expose(), body, &sig)))
    }
}

fn verify(secret: &str, body: &[u8], sig: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(sig).is_ok()
}

/// Hex HMAC-SHA1 of `body` with `secret` (what a webhook destination sends).
pub fn sign(secret: &str, body: &[u8]) -> String {
    match Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length.
        Err(_) => String::new(),
    }
}

/// The write key in the headers, if any: `Authorization: Basic base64(key:)` (or
/// `base64(key)` without the colon), else `X-Write-Key`.
pub fn header_key(headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let auth = auth.trim();
        if let Some(b64) = auth.get(..6).filter(|p| p.eq_ignore_ascii_case("basic ")).map(|_| auth[6..].trim()) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
            return Some(user.to_owned());
        }
    }
    headers.get("x-write-key").and_then(|v| v.to_str().ok()).map(|k| k.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use pulse_runtime::Secret;

    use super::*;

    fn digest(key: &str) -> String {
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    }

    fn sources() -> Sources {
        Sources::new(&[
            SourceConfig { name: "web".into(), key_sha256: digest("wk"), shared_secret: None, account_property: None },
            SourceConfig {
                name: "hook".into(),
                key_sha256: digest("hk"),
                shared_secret: Some(Secret::new("s3cr3t")),
                account_property: None,
            },
        ])
    }

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass));
        h.insert("authorization", HeaderValue::from_str(&v).expect("header"));
        h
    }

    #[test]
    fn keys_from_basic_with_or_without_colon_and_from_the_header() {
        assert_eq!(header_key(&basic("wk:")).as_deref(), Some("wk"));
        assert_eq!(header_key(&basic("wk")).as_deref(), Some("wk"));
        let mut h = HeaderMap::new();
        h.insert("x-write-key", HeaderValue::from_static("wk"));
        assert_eq!(header_key(&h).as_deref(), Some("wk"));
        assert_eq!(header_key(&HeaderMap::new()), None);
        let s = sources();
        assert_eq!(s.by_key("wk"), Some(0));
        assert_eq!(s.by_key("hk"), Some(1));
        assert_eq!(s.by_key("nope"), None);
    }

    #[test]
    fn a_signature_identifies_its_source() {
        let s = sources();
        let body = br#"{"type":"track"}"#;
        let sig = sign("s3cr3t", body);
        assert_eq!(s.by_signature(&sig, body), Some(1));
        assert_eq!(s.by_signature(&sig, b"{}"), None);
        assert_eq!(s.by_signature(&sign("other", body), body), None);
        assert_eq!(s.by_signature("zz", body), None);
    }
}
