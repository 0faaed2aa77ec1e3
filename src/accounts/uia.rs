//! User-Interactive Authentication, written once for every operation.
//!
//! Register, password change, 3pid add, device deletion and deactivation
//! all go through the same two calls. [`Accounts::uia_session`] finds the session a request continues
//! (unknown or expired: 400; started for another operation or another
//! user: 403). The operation then merges the session's remembered
//! parameters under the request's ([`resume`]) — so a follow-up carrying
//! only `auth` completes the *original* request — and checks what it can
//! check cheaply, before any password is verified. [`Accounts::uia_authenticate`]
//! runs the submitted stage and either lets the operation proceed or answers
//! 401 with `{session, flows, params, completed}` (plus `errcode`/`error`
//! when a stage failed).
//!
//! Sessions live in the store, so they survive a restart. They are written
//! only when a 401 hands one to the client (and when a stored one completes
//! a stage of a flow it has not finished): a one-shot request that passes
//! on its first attempt writes nothing, and the request that finishes a
//! flow writes its completion only through the operation's own transaction,
//! so a session is never left completed by an operation that failed. Password change, 3pid add, device deletion and
//! deactivation delete their session when they succeed, so a completed session authorises one change; a registration
//! session stays, marked with the account it created, so that replaying it
//! answers for that account.
//!
//! **The password rule**, for every operation that sets a password
//! (registration, password change), stated here once:
//!
//! 1. The password applied is the request's own when it carries one (the
//!    follow-up's values win), else the one its session remembers; with
//!    neither, the operation is refused before UIA ([`has_password`]) with
//!    `M_MISSING_PARAM`. [`Accounts::uia_password_hash`] applies the rule.
//! 2. A session never stores a password, only an argon2id hash and a keyed
//!    digest (HMAC-SHA256 under a key that lives in this process only; see
//!    `hashing`) of the latest one it was sent ([`Accounts::remember_password`]).
//! 3. It is hashed at most once per session before completion, and not at
//!    all where the flow's start is free for anyone ([`Remember::DigestOnly`],
//!    the anonymous password reset, whose completion must then carry it).
//!    A later, different password replaces the digest and drops the stale
//!    hash, so follow-ups cannot make the server hash without limit, and an
//!    earlier password never silently applies.
//! 4. A completing request that repeats the session's password (every real
//!    client resends the whole body) reuses its hash, recognised by the
//!    digest at the cost of an HMAC; another password is hashed once, then.
//!
//! The `auth` object is parsed once, into [`Auth`] and its [`Stage`]
//! (`uia_auth`); passwords travel as [`Secret`]s.
//!
//! Stages: `m.login.dummy`; `m.login.registration_token` (a usable token
//! from the store's table, which `registration.tokens` seeds; counted
//! exactly, compared in constant time, failures limited per IP);
//! `m.login.password` (the caller's own password: a valid password of
//! another account is 403); `m.login.email.identity`
//! (a 3pid session validated by a trusted identity server, naming the
//! account: the token-less password reset of the seed), or a session this
//! server validated by mail itself (`email`).

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::email;
use super::identifier::UserIdentifier;
use super::rate_limit::{Action, Subject};
use super::secret::Secret;
pub(crate) use super::uia_auth::{Auth, DUMMY, EMAIL_IDENTITY, PASSWORD, REGISTRATION_TOKEN, Stage, Submitted};
use super::{Accounts, ClientInfo, Session, guest_forbidden, ids, now_ms};
use crate::error::{Challenge, Error, ErrorCode, Flow, Result};
use crate::store::{EmailPurpose, StoreError, UiaOperation, UiaSessionRecord};

/// A request whose parameters a UIA session remembers.
pub(crate) trait Resumable: Serialize + DeserializeOwned {
    /// `self` with its unset fields taken from `stored`.
    fn or(self, stored: Self) -> Self;
}

/// The request to carry on with: `request` over what the session remembers.
pub(crate) fn resume<R: Resumable>(request: R, session: Option<&UiaSessionRecord>) -> Result<R> {
    match session {
        Some(session) => {
            let stored = serde_json::from_value(session.params.clone())
                .map_err(|e| Error::internal(format!("UIA session {} holds unreadable parameters: {e}", session.id)))?;
            Ok(request.or(stored))
        }
        None => Ok(request),
    }
}

/// Whether an operation that sets a password has one to set: the
/// request's own, or the hash its session keeps. The check an operation
/// makes before UIA, so that a request that could never succeed is refused
/// before any password is verified; the value itself comes from
/// [`Accounts::uia_password_hash`]. (See the module doc for the rule.)
pub(crate) fn has_password(password: Option<&Secret>, session: Option<&UiaSessionRecord>) -> bool {
    password.is_some() || session.is_some_and(|session| session.password_hash.is_some())
}

/// One UIA step of an operation.
pub(crate) struct Uia<'a> {
    pub(crate) operation: UiaOperation,
    /// Each flow is a list of stages; completing any one flow suffices.
    pub(crate) flows: Vec<Vec<&'static str>>,
    /// The account the stages must prove to be (the access token's owner);
    /// `None` when the stages themselves name it, or for registration.
    pub(crate) user: Option<&'a str>,
    pub(crate) auth: Option<&'a Auth>,
    pub(crate) client: &'a ClientInfo,
    /// How a session that must be stored remembers the password it was
    /// sent.
    pub(crate) remember: Remember,
}

/// How a stored session remembers its password until the flow completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remember {
    /// An argon2 hash (at most one per session) and the keyed digest, so
    /// that a completion carrying no password can still set it. For flows
    /// whose start is already paid for: a registration flow uses up a
    /// rate-limited attempt, a password change needs an access token.
    Hash,
    /// The keyed digest only: no argon2 hash until the flow is authorised.
    /// For the anonymous password reset, which anyone may start: its
    /// completion must carry the new password again, and only then is it
    /// hashed.
    DigestOnly,
}

/// A passed UIA step.
#[derive(Debug, Default)]
pub(crate) struct Passed {
    /// The stored session, if the client used one.
    pub(crate) session_id: Option<String>,
    /// The account the stages identified.
    pub(crate) user: Option<String>,
    /// The hash of the password the session was sent, if it was hashed.
    pub(crate) password_hash: Option<String>,
    /// The keyed digest of the latest password the session was sent.
    pub(crate) password_digest: Option<Vec<u8>>,
    /// The registration token a request *without* a stored session passed
    /// the token stage with: its use is taken when the account is created.
    /// (A stored session reserved its use when it passed the stage.)
    pub(crate) registration_token: Option<String>,
    /// The stages the session has completed, this request's included.
    pub(crate) completed: Vec<String>,
}

/// How a stage ended, when it did not pass.
enum StageError {
    /// The stage failed: answer 401 with the session and this error.
    Failed(ErrorCode, Cow<'static, str>),
    /// Stop here with this error (403, 404, 429, 500).
    Fatal(Error),
}

impl From<Error> for StageError {
    fn from(error: Error) -> Self {
        StageError::Fatal(error)
    }
}

impl Accounts {
    /// The stored session a request continues, checked against the
    /// operation and the caller.
    pub(crate) async fn uia_session(
        &self,
        operation: UiaOperation,
        auth: Option<&Auth>,
        user: Option<&str>,
    ) -> Result<Option<UiaSessionRecord>> {
        let Some(id) = auth.and_then(|auth| auth.session.clone()) else {
            return Ok(None);
        };
        let session = self.db({
            let id = id.clone();
            move |store| store.uia_session(&id, now_ms())
        });
        let session = session
            .await?
            .ok_or_else(|| Error::bad_request(ErrorCode::Unknown, format!("Unknown session ID: {id}")))?;
        if session.operation != operation {
            return Err(Error::forbidden("Requested operation has changed during the UI authentication session."));
        }
        if let (Some(bound), Some(caller)) = (session.user.as_deref(), user)
            && bound != caller
        {
            return Err(Error::forbidden("Invalid auth"));
        }
        Ok(Some(session))
    }

    /// UIA for a change to the caller's own account that asks for nothing
    /// but the account's password again (device deletion, deactivation):
    /// guests are refused (they have no password), `request` is resumed
    /// from its session, and the answer is the request to carry out with
    /// the session that passed.
    pub(crate) async fn reauthenticate<R: Resumable>(
        &self,
        operation: UiaOperation,
        session: &Session,
        request: R,
        auth: Option<Value>,
        client: &ClientInfo,
    ) -> Result<(R, Passed)> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        let localpart = session.localpart();
        let auth = Auth::parse(auth)?;
        let uia_session = self.uia_session(operation, auth.as_ref(), Some(localpart)).await?;
        let request = resume(request, uia_session.as_ref())?;
        let params = serde_json::to_value(&request).map_err(Error::internal)?;
        let uia = Uia {
            operation,
            flows: vec![vec![PASSWORD]],
            user: Some(localpart),
            auth: auth.as_ref(),
            client,
            remember: Remember::Hash, // there is no password to remember
        };
        let passed = self.uia_authenticate(uia, uia_session, params, None).await?;
        Ok((request, passed))
    }

    /// Runs the stage `uia.auth` submits. `params` is the request to
    /// remember (already merged with the session's); `password` the
    /// request's own password, hashed if the session must be stored.
    pub(crate) async fn uia_authenticate(
        &self,
        uia: Uia<'_>,
        session: Option<UiaSessionRecord>,
        params: Value,
        password: Option<&Secret>,
    ) -> Result<Passed> {
        let submitted = uia.auth.and_then(|auth| auth.stage.as_ref());
        if let Some(stage) = submitted
            && !uia.flows.iter().flatten().any(|offered| *offered == stage.kind())
        {
            return Err(Error::invalid_param(format!("Stage {} is not offered for this request", stage.kind())));
        }
        let mut completed = session.as_ref().map(|s| s.completed.clone()).unwrap_or_default();
        let mut identified = session.as_ref().and_then(|s| s.user.clone());
        let mut failure = None;
        if let Some(submitted) = submitted {
            let stage = submitted.stage()?;
            let session_id = session.as_ref().map(|session| session.id.as_str());
            match self.run_stage(stage, &uia, session_id).await {
                Ok(user) => {
                    identified = user.or(identified);
                    if !completed.iter().any(|done| done == submitted.kind()) {
                        completed.push(submitted.kind().to_owned());
                    }
                }
                Err(StageError::Failed(code, message)) => failure = Some((code, message)),
                Err(StageError::Fatal(error)) => return Err(error),
            }
        }
        let done = uia.flows.iter().any(|flow| flow.iter().all(|stage| completed.iter().any(|c| c == stage)));

        if done && failure.is_none() {
            let passed = Passed {
                session_id: session.as_ref().map(|s| s.id.clone()),
                user: identified.clone(),
                password_hash: session.as_ref().and_then(|s| s.password_hash.clone()),
                password_digest: session.as_ref().and_then(|s| s.password_digest.clone()),
                registration_token: match (submitted.map(Submitted::stage), &session) {
                    (Some(Ok(Stage::RegistrationToken { token })), None) => Some(token.expose().to_owned()),
                    _ => None,
                },
                completed,
            };
            // The completion is not written here: the operation's own
            // transaction uses the session up (password change, 3pid add)
            // or marks it registered. If the operation fails (the identity
            // server refuses, the name was taken meanwhile), the session
            // stays as it was, and a retry must pass its stages again.
            return Ok(passed);
        }

        // Not done: store the session (new, or with its progress) and challenge.
        let mut session = match session {
            Some(session) => session,
            None => {
                let now = now_ms();
                let lifetime = super::millis(self.inner.config.tokens.uia_session_lifetime);
                UiaSessionRecord {
                    id: ids::uia_session_id()?,
                    operation: uia.operation,
                    user: uia.user.map(str::to_owned),
                    params: Value::Null,
                    password_hash: None,
                    password_digest: None,
                    completed: Vec::new(),
                    registered: None,
                    registration_token: None,
                    created_at: now,
                    expires_at: now.saturating_add(lifetime),
                }
            }
        };
        session.params = params;
        session.completed = completed;
        session.user = identified.or(session.user);
        if let Some(password) = password {
            self.remember_password(&mut session, password, uia.remember).await?;
        }
        let challenge = challenge(&session, &uia.flows, uia.auth.is_some());
        self.db(move |store| store.put_uia_session(&session, now_ms())).await?;
        Err(match failure {
            Some((code, message)) => challenge.with_code(code, message),
            None => challenge,
        })
    }

    /// Completes the stage `auth` submits in its stored session, out of
    /// band (the UIA fallback page), without carrying out the operation:
    /// the stage runs exactly as in [`Accounts::uia_authenticate`]
    /// (`run_stage`), and on success it is added to the session's
    /// `completed`, so that the client's next request with only the session
    /// passes it. The session is looked up as [`Accounts::uia_session`]
    /// does (unknown or expired: 400; another operation: 403), and takes its
    /// turn like the operation's completions. A failed stage is its 401
    /// `errcode` (the session is not written).
    pub(crate) async fn uia_complete_stage(
        &self,
        operation: UiaOperation,
        flows: Vec<Vec<&'static str>>,
        auth: &Auth,
        client: &ClientInfo,
    ) -> Result<()> {
        let id = auth.session.clone().ok_or_else(|| Error::missing_param("session"))?;
        let submitted = auth.stage.as_ref().ok_or_else(|| Error::missing_param("type"))?;
        let _turn = self.inner.turns.take(&id).await;
        let session = self
            .uia_session(operation, Some(auth), None)
            .await?
            .ok_or_else(|| Error::bad_request(ErrorCode::Unknown, format!("Unknown session ID: {id}")))?;
        if session.registered.is_some() {
            return Err(Error::forbidden("This session has already been used"));
        }
        if !flows.iter().flatten().any(|offered| *offered == submitted.kind()) {
            return Err(Error::invalid_param(format!("Stage {} is not offered for this request", submitted.kind())));
        }
        let stage = submitted.stage()?;
        let uia = Uia { operation, flows, user: None, auth: Some(auth), client, remember: Remember::Hash };
        match self.run_stage(stage, &uia, Some(&session.id)).await {
            Ok(_) => {}
            Err(StageError::Failed(code, message)) => {
                return Err(Error::new(http::StatusCode::UNAUTHORIZED, code, message));
            }
            Err(StageError::Fatal(error)) => return Err(error),
        }
        let mut session = session;
        if !session.completed.iter().any(|done| done == submitted.kind()) {
            session.completed.push(submitted.kind().to_owned());
        }
        self.db(move |store| store.put_uia_session(&session, now_ms())).await
    }

    /// Remembers the password sent to a session that is not complete yet.
    /// It is hashed at most once per session here: a client retrying a
    /// failing stage with the whole body, or an attacker sending follow-ups
    /// with ever new passwords, must not cost an argon2 hash each. A
    /// different password later replaces the digest and drops the earlier
    /// password's hash, so that the completing request hashes the latest one
    /// (or, sending none, is told it is missing) instead of the earlier one
    /// silently applying.
    ///
    /// With [`Remember::DigestOnly`] nothing is hashed: only the digest is
    /// kept.
    pub(crate) async fn remember_password(
        &self,
        session: &mut UiaSessionRecord,
        password: &Secret,
        remember: Remember,
    ) -> Result<()> {
        let hasher = &self.inner.passwords;
        let digest_matches = |digest: &[u8]| hasher.digest_matches(&session.id, password.expose(), digest);
        if session.password_digest.as_deref().is_some_and(digest_matches) {
            return Ok(());
        }
        let first = remember == Remember::Hash && session.password_digest.is_none() && session.password_hash.is_none();
        session.password_hash = if first { Some(hasher.hash(password.clone()).await?) } else { None };
        session.password_digest = Some(hasher.digest(&session.id, password.expose()));
        Ok(())
    }

    /// The password hash a UIA-protected operation applies once UIA passed,
    /// for every operation that sets one: the request's own `password` when
    /// it carries one (the follow-up's values win) — the session's hash if
    /// the session was sent that same password, a new hash otherwise — or,
    /// when it carries none, the session's hash. `None`: no password at all.
    pub(crate) async fn uia_password_hash(&self, passed: &Passed, password: Option<Secret>) -> Result<Option<String>> {
        let Some(password) = password else {
            return Ok(passed.password_hash.clone());
        };
        let hasher = &self.inner.passwords;
        if let (Some(id), Some(digest), Some(stored)) =
            (&passed.session_id, &passed.password_digest, &passed.password_hash)
            && hasher.digest_matches(id, password.expose(), digest)
        {
            return Ok(Some(stored.clone()));
        }
        hasher.hash(password).await.map(Some)
    }

    /// Checks one stage; `Ok` carries the account it identified, if any.
    async fn run_stage(
        &self,
        stage: &Stage,
        uia: &Uia<'_>,
        session: Option<&str>,
    ) -> Result<Option<String>, StageError> {
        match stage {
            Stage::Dummy => Ok(None),
            Stage::RegistrationToken { token } => {
                self.registration_token_stage(token, session, uia.client).await.map(|()| None)
            }
            Stage::Password { identifier, password } => {
                self.password_stage(identifier.as_ref(), password, uia).await.map(Some)
            }
            Stage::EmailIdentity { sid, client_secret, id_server } => {
                self.email_identity_stage(sid, client_secret, id_server.as_deref(), uia).await
            }
            Stage::Unknown(kind) => Err(StageError::Fatal(Error::invalid_param(format!("Unsupported stage {kind}")))),
        }
    }

    /// `m.login.registration_token`: a usable token (see
    /// [`crate::store::RegistrationTokenRecord::usable`]). With a stored
    /// session, one use is reserved for it here, atomically; without one,
    /// the use is taken when the account is created. Unknown, expired or
    /// used up: the stage fails with 401 `M_UNAUTHORIZED`, as Synapse
    /// answers, and the failure is charged to the client's IP
    /// (`rate_limits.registration_token_failed`) and logged as
    /// `event = "registration.token.failed"`.
    async fn registration_token_stage(
        &self,
        token: &Secret,
        session: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), StageError> {
        let limits = &self.inner.limits;
        let ip = Subject::ip(client.ip);
        limits.check(Action::RegistrationTokenFailed, &ip)?;
        let usable = match self.usable_registration_token(token.expose()).await? {
            Some(token) => match session {
                Some(session) => {
                    let session = session.to_owned();
                    let claimed = token.clone();
                    self.db(move |store| store.claim_registration_token(&claimed, &session, now_ms())).await?
                }
                None => true,
            },
            None => false,
        };
        if usable {
            return Ok(());
        }
        limits.charge(Action::RegistrationTokenFailed, &ip);
        tracing::warn!(event = "registration.token.failed", ip = %client.ip, "an unusable registration token");
        Err(StageError::Failed(ErrorCode::Unauthorized, "Invalid registration token".into()))
    }

    /// `token` as stored, if a token with this text exists and is usable
    /// now. The store looks it up by digest; the match is confirmed here in
    /// constant time.
    pub(crate) async fn usable_registration_token(&self, token: &str) -> Result<Option<String>> {
        use subtle::ConstantTimeEq as _;
        if token.is_empty() || token.len() > MAX_REGISTRATION_TOKEN_BYTES {
            return Ok(None);
        }
        let submitted = token.to_owned();
        let record = self.db(move |store| store.registration_token(&submitted)).await?;
        Ok(record
            .filter(|record| bool::from(record.token.as_bytes().ct_eq(token.as_bytes())))
            .filter(|record| record.usable(now_ms()))
            .map(|record| record.token))
    }

    /// `m.login.password`: the identified account's password.
    async fn password_stage(
        &self,
        identifier: Option<&UserIdentifier>,
        password: &Secret,
        uia: &Uia<'_>,
    ) -> Result<String, StageError> {
        let identifier = match (identifier, uia.user) {
            (Some(identifier), _) => identifier.clone(),
            // No identifier: the account the session is bound to.
            (None, Some(user)) => UserIdentifier::User(user.to_owned()),
            (None, None) => return Err(Error::invalid_param("Invalid login submission").into()),
        };
        let claimant = self.claimant(&identifier).await?;
        // The seed: a 3pid no account has is 404 M_NOT_FOUND.
        if claimant.localpart.is_none() && matches!(identifier, UserIdentifier::ThirdParty { .. }) {
            return Err(Error::new(
                http::StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "No account is associated with this third-party identifier",
            )
            .into());
        }
        if let Some(bound) = uia.user
            && claimant.localpart.as_deref() != Some(bound)
        {
            return Err(Error::forbidden("Invalid auth").into());
        }
        self.verify_password(&claimant, password.clone(), uia.client)
            .await?
            .ok_or(StageError::Failed(ErrorCode::Forbidden, "Invalid username or password".into()))
    }

    /// `m.login.email.identity`: an e-mail address validated in a session
    /// that this homeserver ran (no `id_server`; the session must have been
    /// requested for this operation) or that a trusted identity server ran.
    /// For registration the address must be free (400 `M_THREEPID_IN_USE`)
    /// and names nobody; otherwise it names the account that has it (none:
    /// 404 `M_NOT_FOUND`). A session that is unknown, another client's, or
    /// not validated yet fails the stage: 401 `M_UNAUTHORIZED` from our own
    /// sessions, `M_THREEPID_AUTH_FAILED` from an identity server's.
    async fn email_identity_stage(
        &self,
        sid: &str,
        client_secret: &Secret,
        id_server: Option<&str>,
        uia: &Uia<'_>,
    ) -> Result<Option<String>, StageError> {
        self.inner.limits.consume(Action::Threepid, &Subject::ip(uia.client.ip))?;
        let address = match id_server {
            None => {
                let purpose = match uia.operation {
                    UiaOperation::Register => EmailPurpose::Register,
                    UiaOperation::ChangePassword => EmailPurpose::ResetPassword,
                    UiaOperation::AddThreepid => EmailPurpose::AddThreepid,
                    // Their flows have no e-mail stage: none of our sessions
                    // was validated for them.
                    UiaOperation::DeleteDevices | UiaOperation::Deactivate => {
                        return Err(StageError::Failed(ErrorCode::Unauthorized, email::NOT_VALIDATED.into()));
                    }
                };
                match self.validated_email(sid, client_secret.expose(), purpose).await? {
                    Some(session) => session.address,
                    None => {
                        return Err(StageError::Failed(ErrorCode::Unauthorized, email::NOT_VALIDATED.into()));
                    }
                }
            }
            Some(id_server) => {
                match self.inner.identity.validated_threepid(id_server, sid, client_secret.expose()).await {
                    Ok(validated) if validated.medium == "email" => validated.address,
                    Ok(_) => {
                        return Err(StageError::Failed(ErrorCode::ThreepidAuthFailed, "Not an e-mail address".into()));
                    }
                    Err(error) => {
                        return Err(StageError::Failed(
                            ErrorCode::ThreepidAuthFailed,
                            error.message().to_owned().into(),
                        ));
                    }
                }
            }
        };
        let identifier = UserIdentifier::ThirdParty { medium: "email".into(), address };
        let owner = self.resolve_identifier(&identifier).await?;
        if uia.operation == UiaOperation::Register {
            return match owner {
                Some(_) => Err(Error::from(StoreError::ThreepidInUse).into()),
                None => Ok(None),
            };
        }
        let localpart = owner.ok_or_else(|| {
            Error::new(
                http::StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "No account is associated with this e-mail address",
            )
        })?;
        if uia.user.is_some_and(|bound| bound != localpart) {
            return Err(Error::forbidden("Invalid auth").into());
        }
        Ok(Some(localpart))
    }
}

/// The longest registration token looked up (Synapse generates 16
/// characters and allows 64).
const MAX_REGISTRATION_TOKEN_BYTES: usize = 64;

/// The 401 body: `{session, flows: [{stages}], params: {}, completed}`;
/// `completed` is left out of the very first challenge, as Synapse does.
fn challenge(session: &UiaSessionRecord, flows: &[Vec<&'static str>], with_completed: bool) -> Error {
    Error::uia(Challenge {
        session: session.id.clone(),
        flows: flows.iter().map(|stages| Flow { stages: stages.iter().map(|s| (*s).to_owned()).collect() }).collect(),
        params: Map::new(),
        completed: with_completed.then(|| session.completed.clone()),
    })
}
