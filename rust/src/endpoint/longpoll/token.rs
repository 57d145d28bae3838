//! Long-poll session tokens: tamper-proof, expiring names of a session and of the node that
//! holds it (PROTOCOL.md 1.6; Phoenix signs `{:v1, endpoint_id, server_pid, priv_topic}` with
//! `Phoenix.Token`).
//!
//! A token is URL-safe base64 (no padding) of
//! `version (1 byte, 1) | issued_at (u64 big-endian, ms since the Unix epoch) | session id
//! (16 random bytes) | node name (UTF-8)` followed by the HMAC-SHA256 of those bytes, keyed
//! with a key derived from the endpoint's `secret_key_base`. Every node of a cluster that
//! shares the secret accepts the others' tokens; a token older than [`MAX_AGE`] is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a token verifies (Phoenix `crypto: [max_age: 1_209_600]`: two weeks). The
/// session itself ends much sooner, when it is not polled (see `LongPoll::session_timeout`).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1_209_600);
/// The shortest `secret_key_base` accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

const VERSION: u8 = 1;
const TAG_LEN: usize = 32;
const HEADER_LEN: usize = 1 + 8 + 16;
/// Clock difference between nodes tolerated for a token issued "in the future".
const SKEW: Duration = Duration::from_secs(60);

/// The random part of a token: which session on its node.
pub(crate) type SessionId = [u8; 16];

/// What a valid token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) session: SessionId,
    /// The endpoint that holds the session: its node name, `#` and a random id drawn at its
    /// start (so that a node restarted under the same name is another holder).
    pub(crate) node: String,
}

/// Signs and verifies tokens with one endpoint secret.
pub(crate) struct Signer {
    key: hmac::Key,
    random: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// A signer for `secret` (at least [`MIN_SECRET_BYTES`], checked by the caller); `None`
    /// draws a random secret, which only this process knows.
    pub(crate) fn new(secret: Option<&[u8]>) -> Signer {
        let random = SystemRandom::new();
        let mut drawn = [0u8; 32];
        let secret = match secret {
            Some(s) => s,
            None => {
                random
                    .fill(&mut drawn)
                    .expect("the system random source is available");
                &drawn
            }
        };
        // A key of its own for tokens, so the same secret can serve other purposes later.
        let base = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derived = hmac::sign(&base, b"switchboard longpoll token v1");
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            random,
        }
    }

    /// A fresh random session id.
    pub(crate) fn new_session_id(&self) -> SessionId {
        let mut id = [0u8; 16];
        self.random
            .fill(&mut id)
            .expect("the system random source is available");
        id
    }

    /// A name only holders of the secret can compute: the hex of the first 16 bytes of the
    /// HMAC of `text` (the broker topics of the cluster forwarding, which a client that may
    /// join arbitrary topics must not be able to guess).
    pub(crate) fn tag(&self, text: &str) -> String {
        hex(&hmac::sign(&self.key, text.as_bytes()).as_ref()[..16])
    }

    /// The token of `claims`, issued now.
    pub(crate) fn sign(&self, claims: &Claims) -> String {
        self.sign_at(claims, now_ms())
    }

    fn sign_at(&self, claims: &Claims, issued_ms: u64) -> String {
        let mut bytes = Vec::with_capacity(HEADER_LEN + claims.node.len() + TAG_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&issued_ms.to_be_bytes());
        bytes.extend_from_slice(&claims.session);
        bytes.extend_from_slice(claims.node.as_bytes());
        let tag = hmac::sign(&self.key, &bytes);
        bytes.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The claims of `token` if it was signed with this secret, is of this version and is not
    /// older than [`MAX_AGE`]; `None` for anything else (forged, truncated, expired).
    pub(crate) fn verify(&self, token: &str) -> Option<Claims> {
        self.verify_at(token, now_ms())
    }

    fn verify_at(&self, token: &str, now_ms: u64) -> Option<Claims> {
        // Longer than any token we issue for a sane node name: refuse before decoding.
        if token.len() > 1024 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return None;
        }
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        hmac::verify(&self.key, signed, tag).ok()?;
        if signed[0] != VERSION {
            return None;
        }
        let issued = u64::from_be_bytes(signed[1..9].try_into().ok()?);
        let age_ok = issued <= now_ms.saturating_add(SKEW.as_millis() as u64)
            && now_ms.saturating_sub(issued) <= MAX_AGE.as_millis() as u64;
        if !age_ok {
            return None;
        }
        Some(Claims {
            session: signed[9..HEADER_LEN].try_into().ok()?,
            node: String::from_utf8(signed[HEADER_LEN..].to_vec()).ok()?,
        })
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            session: [7; 16],
            node: "a@host".to_owned(),
        }
    }

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let secret = [1u8; 32];
        let a = Signer::new(Some(&secret));
        let token = a.sign(&claims());
        assert_eq!(a.verify(&token), Some(claims()));
        // Another node with the same secret accepts it; another secret does not.
        assert_eq!(Signer::new(Some(&secret)).verify(&token), Some(claims()));
        assert_eq!(Signer::new(Some(&[2u8; 32])).verify(&token), None);
        assert_eq!(Signer::new(None).verify(&token), None);
    }

    #[test]
    fn tampered_truncated_or_garbage_tokens_are_refused() {
        let s = Signer::new(None);
        let token = s.sign(&claims());
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[12] ^= 1;
        assert_eq!(s.verify(&URL_SAFE_NO_PAD.encode(&bytes)), None);
        assert_eq!(s.verify(&token[..token.len() - 2]), None);
        for bad in ["", "x", "!!!!", &"A".repeat(2000)] {
            assert_eq!(s.verify(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tokens_expire_after_max_age() {
        let s = Signer::new(None);
        let issued = 1_000_000_000_000;
        let token = s.sign_at(&claims(), issued);
        let max = MAX_AGE.as_millis() as u64;
        assert!(s.verify_at(&token, issued + max).is_some());
        assert_eq!(s.verify_at(&token, issued + max + 1), None);
        // Issued well in the future of this node's clock: refused too.
        assert_eq!(s.verify_at(&token, issued - 61_000), None);
        assert!(s.verify_at(&token, issued - 59_000).is_some());
    }

    #[test]
    fn session_ids_differ() {
        let s = Signer::new(None);
        assert_ne!(s.new_session_id(), s.new_session_id());
    }
}
