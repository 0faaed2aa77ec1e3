//! The `auth` member of a UIA request body, parsed once into types.
//!
//! Clients of every era send it as loose JSON: a `type` naming the stage,
//! an optional `session`, and the stage's own fields, some under two names
//! (`threepid_creds` / the seed's `threepidCreds`). [`Auth::parse`] reads
//! all of that in one place, so the UIA engine matches on a [`Stage`]
//! instead of probing a map: a missing field is `M_MISSING_PARAM`, a field
//! of the wrong type `M_INVALID_PARAM`. That error is kept beside the
//! stage's `type` ([`Submitted`]) and reported only once the engine has
//! checked the type is offered, so a stage that is not offered is always
//! that error, whatever its fields. A stage this server does not know is
//! kept as [`Stage::Unknown`], for the error that names it. The password of
//! `m.login.password` is a [`Secret`].

use serde_json::{Map, Value};

use super::identifier::UserIdentifier;
use super::identity_server::check_session_token;
use super::secret::Secret;
use crate::error::{Error, ErrorCode, Result};

pub(crate) const DUMMY: &str = "m.login.dummy";
pub(crate) const PASSWORD: &str = "m.login.password";
pub(crate) const REGISTRATION_TOKEN: &str = "m.login.registration_token";
pub(crate) const EMAIL_IDENTITY: &str = "m.login.email.identity";

/// The `auth` of one request.
#[derive(Debug)]
pub(crate) struct Auth {
    /// The UIA session it continues, if any.
    pub(crate) session: Option<String>,
    /// The stage it submits; `None`: only asks where the session stands.
    pub(crate) stage: Option<Submitted>,
}

/// A submitted stage: its `type`, and its fields read into a [`Stage`] (or
/// why they could not be).
#[derive(Debug)]
pub(crate) struct Submitted {
    kind: String,
    fields: Result<Stage>,
}

impl Submitted {
    /// The stage's `type`, as flows and `completed` name it.
    pub(crate) fn kind(&self) -> &str {
        &self.kind
    }

    /// The stage, or the 400 its fields deserve.
    pub(crate) fn stage(&self) -> Result<&Stage> {
        self.fields.as_ref().map_err(Clone::clone)
    }
}

/// A submitted stage, one variant per stage type.
#[derive(Debug)]
pub(crate) enum Stage {
    Dummy,
    /// `m.login.password`: `identifier` is `None` when the body names no
    /// one (the session's bound user is meant).
    Password {
        identifier: Option<UserIdentifier>,
        password: Secret,
    },
    RegistrationToken {
        token: Secret,
    },
    /// `m.login.email.identity`, with its validation session's credentials:
    /// with an `id_server`, a session that identity server ran; without, one
    /// this homeserver ran itself (`accounts::email`).
    EmailIdentity {
        sid: String,
        client_secret: Secret,
        id_server: Option<String>,
    },
    /// A `type` this server does not implement.
    Unknown(String),
}

impl Auth {
    /// Reads a request's `auth`: absent or `null` is none; anything but an
    /// object is 400 `M_BAD_JSON`.
    pub(crate) fn parse(auth: Option<Value>) -> Result<Option<Auth>> {
        let object = match auth {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(object)) => object,
            Some(_) => return Err(Error::bad_json("auth must be an object")),
        };
        let session = match object.get("session") {
            None | Some(Value::Null) => None,
            Some(Value::String(session)) => Some(session.clone()),
            Some(_) => return Err(Error::invalid_param("auth.session must be a string")),
        };
        let stage = match object.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(kind)) => Some(Submitted { kind: kind.clone(), fields: Stage::parse(kind, &object) }),
            Some(_) => return Err(Error::invalid_param("auth.type must be a string")),
        };
        Ok(Some(Auth { session, stage }))
    }
}

impl Stage {
    fn parse(kind: &str, auth: &Map<String, Value>) -> Result<Stage> {
        Ok(match kind {
            DUMMY => Stage::Dummy,
            PASSWORD => {
                let identifier = match UserIdentifier::from_json(auth) {
                    Ok(identifier) => Some(identifier),
                    // Nobody named at all: the session's user, if bound.
                    Err(error) if error.code() == Some(ErrorCode::InvalidParam) => None,
                    Err(error) => return Err(error),
                };
                let password = match auth.get("password") {
                    Some(Value::String(password)) => Secret::from(password.as_str()),
                    Some(_) => return Err(Error::invalid_param("auth.password must be a string")),
                    None => return Err(Error::missing_param("password")),
                };
                Stage::Password { identifier, password }
            }
            REGISTRATION_TOKEN => match auth.get("token") {
                Some(Value::String(token)) => Stage::RegistrationToken { token: Secret::from(token.as_str()) },
                Some(_) => return Err(Error::invalid_param("auth.token must be a string")),
                None => return Err(Error::missing_param("token")),
            },
            EMAIL_IDENTITY => {
                let creds = auth
                    .get("threepid_creds")
                    .or_else(|| auth.get("threepidCreds"))
                    .and_then(Value::as_object)
                    .ok_or_else(|| Error::missing_param("threepid_creds"))?;
                let field = |name: &'static str| -> Result<String> {
                    creds.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| Error::missing_param(name))
                };
                let (sid, client_secret) = (field("sid")?, field("client_secret")?);
                check_session_token("sid", &sid)?;
                check_session_token("client_secret", &client_secret)?;
                let id_server = creds.get("id_server").and_then(Value::as_str).map(str::to_owned);
                Stage::EmailIdentity { sid, client_secret: Secret::from(client_secret), id_server }
            }
            other => Stage::Unknown(other.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(auth: Value) -> Result<Option<Auth>> {
        Auth::parse(Some(auth))
    }

    #[test]
    fn each_stage_is_read_into_its_variant() {
        let auth = parse(json!({"type": "m.login.password", "user": "ann", "password": "pw", "session": "S"}))
            .unwrap()
            .unwrap();
        assert_eq!(auth.session.as_deref(), Some("S"));
        let stage = auth.stage.as_ref().unwrap();
        assert_eq!(stage.kind(), "m.login.password");
        let Ok(Stage::Password { identifier, password }) = stage.stage() else { panic!("{auth:?}") };
        assert_eq!(identifier, &Some(UserIdentifier::User("ann".into())));
        assert_eq!(password.expose(), "pw");

        let seed = json!({"type": "m.login.email.identity",
            "threepidCreds": {"sid": "s", "client_secret": "c", "id_server": "id.org"}});
        let seed = parse(seed).unwrap().unwrap().stage.unwrap();
        let Ok(Stage::EmailIdentity { sid, id_server, .. }) = seed.stage() else { panic!("{seed:?}") };
        assert_eq!((sid.as_str(), id_server.as_deref()), ("s", Some("id.org")));
        let own = json!({"type": "m.login.email.identity", "threepid_creds": {"sid": "s", "client_secret": "c"}});
        let own = parse(own).unwrap().unwrap().stage.unwrap();
        assert!(matches!(own.stage(), Ok(Stage::EmailIdentity { id_server: None, .. })), "{own:?}");

        let unknown = parse(json!({"type": "m.login.recaptcha"})).unwrap().unwrap();
        let unknown = unknown.stage.unwrap();
        assert!(matches!(unknown.stage(), Ok(Stage::Unknown(kind)) if kind == "m.login.recaptcha"));
        assert!(parse(json!({"session": "S"})).unwrap().unwrap().stage.is_none());
        assert!(Auth::parse(None).unwrap().is_none());
        assert!(Auth::parse(Some(Value::Null)).unwrap().is_none());
    }

    #[test]
    fn malformed_auth_is_a_client_error() {
        let code = |auth: Value| parse(auth).unwrap_err().code().unwrap();
        assert_eq!(code(json!("x")), ErrorCode::BadJson);
        assert_eq!(code(json!({"session": 5})), ErrorCode::InvalidParam);
        assert_eq!(code(json!({"type": 5})), ErrorCode::InvalidParam);
        // A stage's own fields: kept for after the check that it is offered.
        let code = |auth: Value| {
            let auth = parse(auth).unwrap().unwrap();
            auth.stage.unwrap().stage().unwrap_err().code().unwrap()
        };
        assert_eq!(code(json!({"type": "m.login.password", "user": "ann"})), ErrorCode::MissingParam);
        assert_eq!(code(json!({"type": "m.login.password", "user": "ann", "password": 1})), ErrorCode::InvalidParam);
        assert_eq!(code(json!({"type": "m.login.registration_token"})), ErrorCode::MissingParam);
        assert_eq!(code(json!({"type": "m.login.email.identity"})), ErrorCode::MissingParam);
    }

    /// The password of a parsed stage never reaches a log line.
    #[test]
    fn the_password_does_not_print() {
        let auth = parse(json!({"type": "m.login.password", "user": "ann", "password": "hunter2"})).unwrap();
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
