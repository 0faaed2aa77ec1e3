//! Registration tokens administered through Synapse's admin API
//! (`/_synapse/admin/v1/registration_tokens`), over the token store the
//! `m.login.registration_token` stage uses.
//!
//! The counts stay exact under concurrency because the store decides them
//! (`claim_registration_token`, `create_user`): an admin changing
//! `uses_allowed` meanwhile never lets more registrations through than the
//! new limit allows, and deleting a token lets sessions that already
//! passed the stage finish.
//!
//! Audit: each change is an `event = "admin.registration_token.*"` line
//! naming the actor (an admin, or the command line: [`Actor`]). It names no target: the token's text is a credential
//! (whoever has it may register), so it is never logged.

use super::{Accounts, Actor, ids, now_ms};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{Millis, RegistrationTokenRecord, RegistrationTokenUpdate};

/// Synapse's bounds: a token is 1 to 64 characters of `[A-Za-z0-9._~-]`.
const MAX_TOKEN_CHARS: usize = 64;
const DEFAULT_LENGTH: usize = 16;

/// A token to create: its text, or a length for a random one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRegistrationToken {
    pub token: Option<String>,
    pub length: Option<i64>,
    pub uses_allowed: Option<i64>,
    pub expiry_time: Option<Millis>,
}

fn no_such_token() -> Error {
    Error::new(http::StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such registration token")
}

fn check_limits(uses_allowed: Option<i64>, expiry_time: Option<Millis>) -> Result<()> {
    if uses_allowed.is_some_and(|uses| uses < 0) {
        return Err(Error::invalid_param("uses_allowed must be a non-negative integer or null"));
    }
    if expiry_time.is_some_and(|expiry| expiry < now_ms()) {
        return Err(Error::invalid_param("expiry_time must not be in the past"));
    }
    Ok(())
}

impl Accounts {
    /// Every registration token; with `valid`, only the usable (or
    /// unusable) ones.
    pub async fn registration_tokens(&self, valid: Option<bool>) -> Result<Vec<RegistrationTokenRecord>> {
        self.db(move |store| store.registration_tokens(valid, now_ms())).await
    }

    pub async fn registration_token(&self, token: &str) -> Result<RegistrationTokenRecord> {
        let token = token.to_owned();
        self.db(move |store| store.registration_token(&token)).await?.ok_or_else(no_such_token)
    }

    /// Creates a token (`POST .../registration_tokens/new`).
    ///
    /// - `token` of 1 to 64 characters of `[A-Za-z0-9._~-]`, else a random
    ///   one of `length` (1 to 64, default 16): 400 `M_INVALID_PARAM`
    ///   otherwise, and for a taken token, a negative `uses_allowed` or an
    ///   `expiry_time` in the past.
    pub async fn create_registration_token<'a>(
        &self,
        actor: impl Into<Actor<'a>>,
        new: NewRegistrationToken,
    ) -> Result<RegistrationTokenRecord> {
        let actor = actor.into();
        check_limits(new.uses_allowed, new.expiry_time)?;
        let token = match new.token {
            Some(token) => {
                let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-');
                if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS || !token.chars().all(allowed) {
                    return Err(Error::invalid_param("token must be 1 to 64 characters of [A-Za-z0-9._~-]"));
                }
                token
            }
            None => {
                let length = new.length.unwrap_or(DEFAULT_LENGTH as i64);
                let length = usize::try_from(length)
                    .ok()
                    .filter(|length| (1..=MAX_TOKEN_CHARS).contains(length))
                    .ok_or_else(|| Error::invalid_param("length must be an integer from 1 to 64"))?;
                ids::registration_token(length)?
            }
        };
        let record = RegistrationTokenRecord::new(token, new.uses_allowed, new.expiry_time);
        let stored = record.clone();
        if !self.db(move |store| store.create_registration_token(&stored)).await? {
            return Err(Error::bad_request(ErrorCode::InvalidParam, "Token already exists"));
        }
        tracing::info!(event = "admin.registration_token.created", admin = %actor.name(),
            uses_allowed = ?record.uses_allowed, expiry_time = ?record.expiry_time);
        Ok(record)
    }

    /// Changes a token's limits (`PUT .../registration_tokens/{token}`):
    /// `None` leaves a field alone, `Some(None)` lifts it.
    pub async fn update_registration_token<'a>(
        &self,
        actor: impl Into<Actor<'a>>,
        token: &str,
        update: RegistrationTokenUpdate,
    ) -> Result<RegistrationTokenRecord> {
        let actor = actor.into();
        check_limits(update.uses_allowed.flatten(), update.expiry_time.flatten())?;
        let owned = token.to_owned();
        let logged = update.clone();
        let updated = self.db(move |store| store.update_registration_token(&owned, &update)).await?;
        let updated = updated.ok_or_else(no_such_token)?;
        tracing::info!(event = "admin.registration_token.updated", admin = %actor.name(),
            uses_allowed = ?logged.uses_allowed, expiry_time = ?logged.expiry_time);
        Ok(updated)
    }

    /// Deletes a token (`DELETE .../registration_tokens/{token}`); 404 if none.
    pub async fn delete_registration_token<'a>(&self, actor: impl Into<Actor<'a>>, token: &str) -> Result<()> {
        let actor = actor.into();
        let owned = token.to_owned();
        if !self.db(move |store| store.delete_registration_token(&owned)).await? {
            return Err(no_such_token());
        }
        tracing::info!(event = "admin.registration_token.deleted", admin = %actor.name());
        Ok(())
    }
}
