//! Random identifiers and the one-way form of tokens.
//!
//! Everything a client must not be able to guess (access and refresh tokens,
//! UIA session IDs) comes straight from the operating system's CSPRNG, with
//! rejection sampling so that no character is likelier than another. Tokens
//! carry a prefix (`mat_` access, `mar_` refresh) so that one kind is never
//! mistaken for the other and a leaked token is recognisable in logs and
//! secret scanners. The server keeps only [`token_hash`]es.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::TokenHash;

pub(crate) const ACCESS_TOKEN_PREFIX: &str = "mat_";
pub(crate) const REFRESH_TOKEN_PREFIX: &str = "mar_";
/// Synapse's refresh tokens, which `import synapse --sessions` brings over:
/// they must keep refreshing here.
pub(crate) const SYNAPSE_REFRESH_TOKEN_PREFIX: &str = "syr_";

/// 40 characters of a 64-letter alphabet: 240 bits.
const TOKEN_LENGTH: usize = 40;
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub(crate) fn access_token() -> Result<String> {
    Ok(format!("{ACCESS_TOKEN_PREFIX}{}", random_string(URL_SAFE, TOKEN_LENGTH)?))
}

pub(crate) fn refresh_token() -> Result<String> {
    Ok(format!("{REFRESH_TOKEN_PREFIX}{}", random_string(URL_SAFE, TOKEN_LENGTH)?))
}

/// A device ID like Synapse's: ten upper-case letters.
pub(crate) fn device_id() -> Result<String> {
    random_string(UPPER, 10)
}

/// A UIA session ID: 24 letters (~137 bits).
pub(crate) fn uia_session_id() -> Result<String> {
    random_string(LETTERS, 24)
}

/// An e-mail validation session ID (`sid`): 24 letters, like a UIA session.
pub(crate) fn email_session_id() -> Result<String> {
    random_string(LETTERS, 24)
}

/// The token mailed to validate an address: 8 characters a person can
/// type from the mail (no `0`/`O`, `1`/`I`), 40 bits. Short, so a session
/// accepts only a few wrong guesses before its token is void.
pub(crate) fn email_token() -> Result<String> {
    random_string(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 8)
}

/// The SHA-256 of a token: how tokens are stored and cached.
/// A registration token of `length` characters from the URL-safe alphabet
/// (Synapse's admin API generates 16).
pub(crate) fn registration_token(length: usize) -> Result<String> {
    random_string(URL_SAFE, length)
}

pub(crate) fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// `length` characters drawn uniformly from `alphabet` (at most 256 letters).
fn random_string(alphabet: &[u8], length: usize) -> Result<String> {
    // Bytes at or above `limit` would favour the first letters: drop them.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(length);
    let mut buffer = [0u8; 64];
    while out.len() < length {
        getrandom::fill(&mut buffer).map_err(|e| Error::internal(format!("the OS random source failed: {e}")))?;
        for &byte in buffer.iter().filter(|&&b| usize::from(b) < limit) {
            if out.len() == length {
                break;
            }
            out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_their_prefix_and_length() {
        let access = access_token().unwrap();
        assert!(access.starts_with("mat_") && access.len() == 44, "{access}");
        assert!(access[4..].bytes().all(|b| URL_SAFE.contains(&b)));
        assert_ne!(access, access_token().unwrap());
        assert!(refresh_token().unwrap().starts_with("mar_"));
    }

    #[test]
    fn ids_use_their_alphabet() {
        let device = device_id().unwrap();
        assert!(device.len() == 10 && device.bytes().all(|b| b.is_ascii_uppercase()), "{device}");
        let session = uia_session_id().unwrap();
        assert!(session.len() == 24 && session.bytes().all(|b| b.is_ascii_alphabetic()), "{session}");
    }

    #[test]
    fn token_hashes_are_sha256() {
        assert_eq!(
            token_hash("abc")[..4],
            [0xba, 0x78, 0x16, 0xbf] // SHA-256("abc") = ba7816bf…
        );
    }
}
