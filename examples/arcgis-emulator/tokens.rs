//! Administrator API tokens.
//!
//! ArcGIS Server does not keep a list of issued tokens: a token is an
//! encrypted string built with the site's shared key, and "once you change
//! the shared key, all existing tokens become invalid" (Best practices for
//! configuring a secure environment, 10.2:
//! <https://resources.arcgis.com/zh-cn/help/main/10.2/0154/0154000005w2000000.htm>;
//! the token manager's `sharedKey` is "the key used to encrypt the tokens",
//! <https://developers.arcgis.com/rest/enterprise-administration/server/tokenmanager.htm>).
//! The emulator does the same: a token is `base64url(nonce || ciphertext ||
//! tag)`, the claims JSON enciphered with a SHA-256 keystream of (sharedKey,
//! nonce) and authenticated with HMAC-SHA256(sharedKey, nonce || ciphertext).
//! The claims hold the user, the expiry (unix ms) and the client binding
//! asked for at generateToken (`client=requestip|ip|referer`,
//! <https://developers.arcgis.com/rest/enterprise-administration/server/generatetoken.htm>).
//! So nothing is stored, a restart keeps tokens valid while the key is kept,
//! two emulators with one shared key accept each other's tokens, and a key
//! change makes every earlier token invalid, as on a real site.
//!
//! Expiry checks take the time as an argument so tests can move it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of the signature at the end of a token.
const TAG_LEN: usize = 32;
/// Length of the random nonce at its start.
const NONCE_LEN: usize = 16;

/// What a token may be used from (the generateToken `client` parameter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Binding {
    /// Only from this IP address (`client=ip`, or `requestip`: the address
    /// the generateToken request came from).
    Ip(String),
    /// Only in requests whose `Referer` header starts with this URL.
    Referer(String),
}

/// The content of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "u")]
    pub user: String,
    /// Expiry, unix milliseconds.
    #[serde(rename = "x")]
    pub expires: i64,
    #[serde(rename = "b")]
    pub binding: Binding,
}

/// Why a token is refused (both answered with code 498).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not made with the current shared key, or not a token at all.
    Invalid,
    /// Made with the key, but past its expiry.
    Expired,
}

fn mac(key: &str) -> Option<HmacSha256> {
    HmacSha256::new_from_slice(key.as_bytes()).ok()
}

/// XOR `data` with the keystream SHA-256(key || nonce || block counter).
fn keystream_xor(key: &str, nonce: &[u8], data: &mut [u8]) {
    use sha2::Digest;
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let block = Sha256::new()
            .chain_update(key.as_bytes())
            .chain_update(nonce)
            .chain_update((i as u64).to_be_bytes())
            .finalize();
        for (b, k) in chunk.iter_mut().zip(block.iter()) {
            *b ^= k;
        }
    }
}

/// A token carrying `claims`, enciphered and signed with `key`.
pub fn issue(key: &str, claims: &Claims) -> Option<String> {
    let mut body = serde_json::to_vec(claims).ok()?;
    let nonce = random_bytes(NONCE_LEN);
    keystream_xor(key, &nonce, &mut body);
    let mut raw = nonce;
    raw.extend_from_slice(&body);
    let mut m = mac(key)?;
    m.update(&raw);
    raw.extend_from_slice(&m.finalize().into_bytes());
    Some(URL_SAFE_NO_PAD.encode(raw))
}

/// The claims of `token` if `key` made it and it has not expired at `now_ms`.
pub fn verify(key: &str, token: &str, now_ms: i64) -> Result<Claims, TokenError> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim().as_bytes())
        .map_err(|_| TokenError::Invalid)?;
    if raw.len() <= NONCE_LEN + TAG_LEN {
        return Err(TokenError::Invalid);
    }
    let (signed, tag) = raw.split_at(raw.len() - TAG_LEN);
    let mut m = mac(key).ok_or(TokenError::Invalid)?;
    m.update(signed);
    m.verify_slice(tag).map_err(|_| TokenError::Invalid)?;
    let (nonce, cipher) = signed.split_at(NONCE_LEN);
    let mut body = cipher.to_vec();
    keystream_xor(key, nonce, &mut body);
    let claims: Claims = serde_json::from_slice(&body).map_err(|_| TokenError::Invalid)?;
    if now_ms >= claims.expires {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// How long a new token lives, in milliseconds.
///
/// `expiration` is "the time in minutes for which the token must be valid"
/// (generateToken); absent, the token manager's `shortTimeout` applies, and
/// a request is capped at `longTimeout`, "the maximum time in minutes for
/// which a token can be requested" (tokenmanager.htm), and further at the
/// emulator's `--max-token-minutes`. `--token-seconds` (tests) overrides all.
pub fn lifetime_ms(
    expiration_minutes: Option<u64>,
    short_timeout: u64,
    long_timeout: u64,
    max_minutes: u64,
    token_seconds: Option<u64>,
) -> i64 {
    if let Some(s) = token_seconds {
        return i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    }
    let minutes = expiration_minutes
        .unwrap_or(short_timeout)
        .min(long_timeout)
        .min(max_minutes)
        .max(1);
    i64::try_from(minutes.saturating_mul(60_000)).unwrap_or(i64::MAX)
}

/// `n` random bytes from the kernel; should /dev/urandom be unreadable,
/// a hash of the time and std's random hasher keys (still unpredictable
/// enough for an emulator's nonces and generated keys).
pub fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
    {
        return buf;
    }
    use sha2::Digest;
    use std::hash::{BuildHasher, Hasher};
    let mut out = Vec::with_capacity(n);
    let mut counter = 0u64;
    while out.len() < n {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(counter);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let digest = Sha256::new()
            .chain_update(h.finish().to_le_bytes())
            .chain_update(nanos.to_le_bytes())
            .finalize();
        out.extend_from_slice(&digest);
        counter += 1;
    }
    out.truncate(n);
    out
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    hex::encode(random_bytes(n))
}
