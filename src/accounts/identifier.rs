//! How a client names the account it logs in as or authenticates as.
//!
//! Login bodies and `m.login.password` UIA stages share one vocabulary,
//! accumulated over the spec's eras: today's `identifier` object
//! (`m.id.user` with a localpart or user ID, `m.id.thirdparty` with
//! `medium` and `address`), and the older top-level `user`, or `medium` +
//! `address`. [`UserIdentifier::from_json`] reads all of them, so every
//! era's adapter and the UIA engine agree.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserIdentifier {
    /// A localpart or a full user ID, in any letter case.
    User(String),
    /// A third-party identifier attached to the account.
    ThirdParty { medium: String, address: String },
}

impl UserIdentifier {
    /// Reads the identifier from a login body or a UIA `auth` object.
    ///
    /// - `identifier: {type: "m.id.user", user}` and legacy `user`;
    /// - `identifier: {type: "m.id.thirdparty", medium, address}` and legacy
    ///   top-level `medium` + `address`;
    /// - none of these: 400 `M_INVALID_PARAM` "Invalid login submission";
    /// - another identifier type (e.g. `m.id.phone`): 400 `M_UNKNOWN`.
    pub fn from_json(object: &Map<String, Value>) -> Result<Self> {
        if let Some(identifier) = object.get("identifier") {
            let identifier = identifier.as_object().ok_or_else(invalid_submission)?;
            return match identifier.get("type").and_then(Value::as_str) {
                Some("m.id.user") => Ok(UserIdentifier::User(string_field(identifier, "user")?)),
                Some("m.id.thirdparty") => Ok(UserIdentifier::ThirdParty {
                    medium: string_field(identifier, "medium")?,
                    address: string_field(identifier, "address")?,
                }),
                _ => Err(Error::bad_request(ErrorCode::Unknown, "Unknown login identifier type")),
            };
        }
        if object.contains_key("user") {
            return Ok(UserIdentifier::User(string_field(object, "user")?));
        }
        if object.contains_key("medium") && object.contains_key("address") {
            return Ok(UserIdentifier::ThirdParty {
                medium: string_field(object, "medium")?,
                address: string_field(object, "address")?,
            });
        }
        Err(invalid_submission())
    }

    /// A key naming the account for rate limiting, whether or not it exists.
    pub(crate) fn rate_limit_key(&self) -> String {
        match self {
            UserIdentifier::User(user) => user.to_lowercase(),
            UserIdentifier::ThirdParty { medium, address } => format!("{medium}:{}", address.to_lowercase()),
        }
    }
}

fn invalid_submission() -> Error {
    Error::invalid_param("Invalid login submission")
}

fn string_field(object: &Map<String, Value>, name: &str) -> Result<String> {
    match object.get(name) {
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(Error::invalid_param(format!("Bad parameter: {name} must be a string"))),
        None => Err(Error::missing_param(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<UserIdentifier> {
        UserIdentifier::from_json(value.as_object().unwrap())
    }

    #[test]
    fn every_era_names_a_user() {
        let alice = UserIdentifier::User("alice".into());
        assert_eq!(parse(json!({"identifier": {"type": "m.id.user", "user": "alice"}})).unwrap(), alice);
        assert_eq!(parse(json!({"user": "alice"})).unwrap(), alice);
        let email = UserIdentifier::ThirdParty { medium: "email".into(), address: "a@b.c".into() };
        assert_eq!(
            parse(json!({"identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"}})).unwrap(),
            email
        );
        assert_eq!(parse(json!({"medium": "email", "address": "a@b.c"})).unwrap(), email);
    }

    #[test]
    fn bad_identifiers_are_refused_with_synapses_codes() {
        let code = |value| parse(value).unwrap_err().code().unwrap();
        assert_eq!(code(json!({"password": "x"})), ErrorCode::InvalidParam);
        assert_eq!(
            code(json!({"identifier": {"type": "m.id.phone", "country": "GB", "phone": "1"}})),
            ErrorCode::Unknown
        );
        assert_eq!(code(json!({"user": 5})), ErrorCode::InvalidParam);
        assert_eq!(code(json!({"identifier": {"type": "m.id.user"}})), ErrorCode::MissingParam);
    }
}
