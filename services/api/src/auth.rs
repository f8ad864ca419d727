//! Authentication: `Authorization: Bearer <token>` or HTTP Basic (`name:token`) on
//! every route except the health checks (and `/metrics` unless `api.public_metrics` is
//! off). Tokens are compared as SHA-256 digests in constant time and never logged; the
//! credential's name becomes the request's [`Principal`].

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::config::Credential;

/// Who made the request (the credential's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

#[derive(Clone)]
pub struct Authenticator {
    creds: Vec<(String, [u8; 32])>,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator {
    pub fn new(creds: &[Credential]) -> Self {
        Self { creds: creds.iter().map(|c| (c.name.clone(), digest(c.token.expose()))).collect() }
    }

    /// The principal of an `Authorization` header value, if it holds a valid credential.
    pub fn check(&self, authorization: Option<&str>) -> Option<Principal> {
        let value = authorization?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let d = digest(rest);
            // Every credential is compared, so the time does not depend on which matched.
            let mut found = None;
            for (name, t) in &self.creds {
                if same(t, &d) && found.is_none() {
                    found = Some(Principal(name.clone()));
                }
            }
            found
        } else if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (user, token) = text.split_once(':')?;
            let d = digest(token);
            let mut found = None;
            for (name, t) in &self.creds {
                if same(t, &d) && name == user && found.is_none() {
                    found = Some(Principal(name.clone()));
                }
            }
            found
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_tokens;

    #[test]
    fn bearer_and_basic() {
        let auth = Authenticator::new(&parse_tokens("dash:0123456789abcdef,ops:fedcba9876543210").expect("tokens"));
        assert_eq!(auth.check(Some("Bearer fedcba9876543210")), Some(Principal("ops".into())));
        assert_eq!(auth.check(Some("bearer  0123456789abcdef ")), Some(Principal("dash".into())));
        let basic = base64::engine::general_purpose::STANDARD.encode("dash:0123456789abcdef");
        assert_eq!(auth.check(Some(&format!("Basic {basic}"))), Some(Principal("dash".into())));
        let wrong_user = base64::engine::general_purpose::STANDARD.encode("ops:0123456789abcdef");
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer nope"),
            Some("Token 0123456789abcdef"),
            Some("Basic !!!"),
            Some(&*format!("Basic {wrong_user}")),
        ] {
            assert_eq!(auth.check(bad), None, "{bad:?}");
        }
    }
}
