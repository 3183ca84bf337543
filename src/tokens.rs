//! Random tokens and what is done with them, in one place: generation from the OS's CSPRNG, the
//! SHA-256 that is stored instead of a token, and constant-time comparison.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// The operating system could not provide randomness (it practically never fails on Linux, but a
/// token made without it would be guessable, so the failure is reported instead).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// `N` random bytes as lower-case hex (`2 × N` characters).
pub fn random_hex<const N: usize>() -> Result<String, RandomError> {
    random_bytes::<N>().map(hex::encode)
}

/// `N` random bytes as unpadded base64url, safe in URLs and cookies.
pub fn random_url_safe<const N: usize>() -> Result<String, RandomError> {
    random_bytes::<N>().map(|bytes| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Lower-case hex SHA-256: what is stored of a token, so a copy of the table cannot be replayed.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A 64-byte key for one `purpose`, derived from the whole `secret` with HKDF-SHA256, so that the
/// keys of different cookies are independent and every byte of the secret counts.
pub fn derive_key(secret: &[u8], purpose: &str) -> [u8; 64] {
    let mut key = [0u8; 64];
    let hkdf = hkdf::Hkdf::<Sha256>::new(Some(b"gatehouse cookie keys v1"), secret);
    // 64 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    if hkdf.expand(purpose.as_bytes(), &mut key).is_err() {
        unreachable!("HKDF-SHA256 can always expand 64 bytes");
    }
    key
}

/// A new single-use link token (password reset, email confirmation): 256 random bits in unpadded
/// base64url for the link, shown once, and the SHA-256 of it that is all the database keeps.
pub struct LinkToken {
    pub token: String,
    pub hash: String,
}

impl LinkToken {
    pub fn new() -> Result<Self, RandomError> {
        let token = random_url_safe::<32>()?;
        let hash = sha256_hex(&token);
        Ok(Self { token, hash })
    }
}

/// The length of a `LinkToken`'s token: 32 bytes in unpadded base64url.
const LINK_TOKEN_LENGTH: usize = 43;

/// The SHA-256 of a link token as stored, to look it up by; `None` for a string that cannot be one
/// (nothing to look up).
pub fn link_token_hash(token: &str) -> Option<String> {
    let shaped = token.len() == LINK_TOKEN_LENGTH
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    shaped.then(|| sha256_hex(token))
}

/// Equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_promised_shape_and_differ() {
        let (a, b) = (random_hex::<32>().unwrap(), random_hex::<32>().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let url = random_url_safe::<32>().unwrap();
        assert_eq!(url.len(), 43);
        assert!(url.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn only_strings_shaped_like_link_tokens_are_looked_up() {
        let link = LinkToken::new().unwrap();
        assert_eq!(link_token_hash(&link.token), Some(link.hash.clone()));
        assert_eq!(link.hash, sha256_hex(&link.token));
        assert_ne!(LinkToken::new().unwrap().token, link.token);
        assert_eq!(link_token_hash("short"), None);
        assert_eq!(link_token_hash(&"a".repeat(42)), None);
        assert_eq!(link_token_hash(&format!("{}!", "a".repeat(42))), None);
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_depend_on_the_whole_secret() {
        let secret = [7u8; 100];
        let mut other = secret;
        other[99] = 8;
        assert_ne!(derive_key(&secret, "session"), derive_key(&secret, "csrf"));
        assert_ne!(derive_key(&secret, "session"), derive_key(&other, "session"), "byte 100 counts");
        assert_eq!(derive_key(&secret, "session"), derive_key(&secret, "session"));
    }

    #[test]
    fn hashing_and_comparison() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "sane"));
        assert!(!constant_time_eq("short", "longer"));
    }
}
