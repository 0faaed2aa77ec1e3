//! Which localparts may be registered, and how a login names a user.
//!
//! Registration maps the requested name onto the user-ID grammar the way
//! Synapse does: lower-cased, then it must consist of `a-z 0-9 - . = _ / +`,
//! must not be all digits (numeric IDs are what the server generates, for
//! guests and for registrations without a name), must not start with `_`
//! (reserved for bridges), and `@localpart:server` must fit in 255 bytes.
//! The configured exclusive namespaces (regular expressions matched against
//! the whole localpart) are refused with `M_EXCLUSIVE`. The same rules
//! answer `GET /register/available`, so the two never disagree.
//!
//! Names that are not ASCII are refused *before* lower-casing: Unicode case
//! mapping folds some of them onto ASCII (KELVIN SIGN `\u{212A}` lower-cases
//! to `k`), so `@\u{212A}ate` would otherwise register, or log in, as
//! `@kate`.

use regex::RegexSet;

use crate::error::{Error, ErrorCode, Result};

/// The longest user ID the spec allows, in bytes.
const MAX_USER_ID_BYTES: usize = 255;

pub(crate) struct UsernamePolicy {
    server_name: String,
    exclusive: RegexSet,
}

impl UsernamePolicy {
    pub(crate) fn new(server_name: &str, exclusive_namespaces: &[String]) -> anyhow::Result<Self> {
        let anchored = exclusive_namespaces.iter().map(|pattern| format!("^(?:{pattern})$"));
        let exclusive = RegexSet::new(anchored)
            .map_err(|e| anyhow::anyhow!("invalid regular expression in registration.exclusive_namespaces: {e}"))?;
        Ok(UsernamePolicy { server_name: server_name.to_owned(), exclusive })
    }

    /// The localpart a requested username registers as, or why it cannot.
    pub(crate) fn validate(&self, requested: &str) -> Result<String> {
        let invalid = |message: &'static str| Err(Error::bad_request(ErrorCode::InvalidUsername, message));
        if !requested.is_ascii() {
            return invalid("User ID can only contain characters a-z, 0-9, or '=_-./+'");
        }
        let localpart = requested.to_ascii_lowercase();
        if localpart.is_empty() {
            return invalid("User ID cannot be empty");
        }
        if !localpart.bytes().all(is_localpart_byte) {
            return invalid("User ID can only contain characters a-z, 0-9, or '=_-./+'");
        }
        if localpart.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("Numeric user IDs are reserved for guest users.");
        }
        if localpart.starts_with('_') {
            return invalid("User ID may not begin with _");
        }
        if "@:".len() + localpart.len() + self.server_name.len() > MAX_USER_ID_BYTES {
            return invalid("User ID may not be longer than 255 characters");
        }
        if self.exclusive.is_match(&localpart) {
            return Err(Error::bad_request(ErrorCode::Exclusive, "User ID is in a namespace reserved by this server"));
        }
        Ok(localpart)
    }

    /// The local account a login names: a localpart or a full user ID on this
    /// server, in any letter case. `None` for another server's user or for
    /// something no registration could have produced.
    pub(crate) fn resolve(&self, user: &str) -> Option<String> {
        let localpart = match user.strip_prefix('@') {
            Some(user_id) => {
                let (localpart, server) = user_id.split_once(':')?;
                if !server.eq_ignore_ascii_case(&self.server_name) {
                    return None;
                }
                localpart
            }
            None => user,
        };
        if !localpart.is_ascii() {
            return None;
        }
        let localpart = localpart.to_ascii_lowercase();
        let plausible = !localpart.is_empty() && localpart.bytes().all(is_localpart_byte);
        plausible.then_some(localpart)
    }

    pub(crate) fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    pub(crate) fn server_name(&self) -> &str {
        &self.server_name
    }
}

fn is_localpart_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'=' | b'_' | b'/' | b'+')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> UsernamePolicy {
        UsernamePolicy::new("localhost", &["bridge_.*".into()]).unwrap()
    }

    fn refusal(requested: &str) -> (ErrorCode, String) {
        let error = policy().validate(requested).unwrap_err();
        (error.code().unwrap(), error.message().to_owned())
    }

    #[test]
    fn names_are_lower_cased() {
        assert_eq!(policy().validate("MixedCase_x").unwrap(), "mixedcase_x");
        assert_eq!(policy().validate("a.b=c-d/e+f").unwrap(), "a.b=c-d/e+f");
    }

    #[test]
    fn names_outside_the_grammar_are_refused() {
        assert_eq!(refusal("Bad Name!").0, ErrorCode::InvalidUsername);
        assert_eq!(refusal("").0, ErrorCode::InvalidUsername);
        assert_eq!(refusal("12345").1, "Numeric user IDs are reserved for guest users.");
        assert_eq!(refusal("_bot").1, "User ID may not begin with _");
        assert_eq!(refusal("é").0, ErrorCode::InvalidUsername);
        // KELVIN SIGN lower-cases to an ASCII `k`: refused, not `kate`.
        assert_eq!(refusal("\u{212A}ate").0, ErrorCode::InvalidUsername);
    }

    #[test]
    fn the_whole_user_id_fits_in_255_bytes() {
        // "@" + localpart + ":localhost" = 11 + localpart.
        assert!(policy().validate(&"a".repeat(244)).is_ok());
        assert_eq!(refusal(&"a".repeat(245)).0, ErrorCode::InvalidUsername);
    }

    #[test]
    fn exclusive_namespaces_match_the_whole_localpart() {
        assert_eq!(refusal("bridge_alice").0, ErrorCode::Exclusive);
        assert!(policy().validate("my_bridge_alice").is_ok());
        assert!(UsernamePolicy::new("localhost", &["(".into()]).is_err());
    }

    #[test]
    fn logins_name_users_by_localpart_or_user_id_in_any_case() {
        let policy = policy();
        assert_eq!(policy.resolve("Alice").as_deref(), Some("alice"));
        assert_eq!(policy.resolve("@ALICE:LocalHost").as_deref(), Some("alice"));
        assert_eq!(policy.resolve("@alice:elsewhere.org"), None);
        assert_eq!(policy.resolve("@alice"), None);
        assert_eq!(policy.resolve("not valid"), None);
        assert_eq!(policy.resolve("\u{212A}ate"), None);
        assert_eq!(policy.resolve("@\u{212A}ate:localhost"), None);
    }
}
