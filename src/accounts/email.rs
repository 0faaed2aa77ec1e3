//! E-mail addresses the homeserver validates itself, by mail.
//!
//! A client asks for a token (`*/email/requestToken`) with a secret of its
//! own (`client_secret`), an address and a `send_attempt`; the server
//! mails a token to the address and answers a session ID (`sid`). The
//! person proves they read the mail by opening its link (the server's own
//! page) or by typing its code into the client, which posts it to
//! `submit_url`. The validated session (`sid` + `client_secret`) is then
//! worth, once, what it was requested for:
//!
//! - `register`: the `m.login.email.identity` stage of registration, and
//!   the new account gets the address;
//! - `add_threepid`: `POST /account/3pid/add` (or the deprecated
//!   `POST /account/3pid` without `id_server`) attaches it;
//! - `reset_password`: `POST /account/password` without an access token,
//!   the `m.login.email.identity` stage naming the address's owner.
//!
//! Rules (the spec's and Synapse's):
//! - the same `client_secret` + address + `send_attempt` mails nothing new
//!   and answers the same `sid`; a higher `send_attempt` mails a new token
//!   into the same session (the earlier one stops working);
//! - an address another account has is 400 `M_THREEPID_IN_USE` for
//!   register and add; an address no account has is 400
//!   `M_THREEPID_NOT_FOUND` for a reset (or, with
//!   `email.reset_unknown_address = "pretend"`, a `sid` and no mail);
//! - tokens are single use and expire (`email.token_lifetime`); a session
//!   takes [`MAX_WRONG_TOKENS`] wrong tokens, then its token is void (the
//!   code is short enough to type, so it must not be guessable by trying);
//! - every request is limited per client IP and per address
//!   (`rate_limits.email`), so nobody can make the server flood a mailbox;
//! - without `[email]` every request is 400
//!   `M_THREEPID_MEDIUM_NOT_SUPPORTED`, as Synapse answers.
//!
//! A password reset is the one validation that changes something by
//! itself being used, so its link opens a confirmation form that the person
//! submits (POST): a mail scanner following links (GET) validates nothing.
//!
//! Audit: `event = "email.requested"` / `"email.validated"` at `info`, with
//! the `sid` and the client IP, never the token or the address.

use std::fmt;
use std::str::FromStr;

use super::identity_server::check_session_token;
use super::rate_limit::{Action, Subject};
use super::threepids::canonical_address;
use super::{Accounts, ClientInfo, ids, now_ms};
use crate::config::ResetUnknownAddress;
use crate::error::{Error, ErrorCode, Result};
use crate::mail::{Mail, escape_html};
use crate::store::{EmailPurpose, EmailSessionRecord, TokenSubmission};

/// The validation page the mail links to (GET opens it; for a password
/// reset, POST confirms it). Described in `api/`.
pub const VALIDATION_PATH: &str = "/_matrix/client/unstable/email/validate";
/// Where a client posts the code the person typed (`submit_url`).
/// Described in `api/`.
pub const SUBMIT_PATH: &str = "/_matrix/client/unstable/email/submit_token";

/// Why an `m.login.email.identity` stage with one of our sessions fails
/// (401 `M_UNAUTHORIZED`, the spec's answer for an unvalidated session).
pub(crate) const NOT_VALIDATED: &str = "This e-mail session is unknown, or not validated yet";

/// Wrong tokens a session accepts before its token is void.
pub const MAX_WRONG_TOKENS: i64 = 5;

/// A `requestToken` body.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailTokenRequest {
    pub client_secret: String,
    pub email: String,
    pub send_attempt: i64,
    /// Where the validation page sends the person on, if anywhere
    /// (`http`/`https` only).
    pub next_link: Option<String>,
}

impl fmt::Debug for EmailTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailTokenRequest")
            .field("client_secret", &"<redacted>")
            .field("send_attempt", &self.send_attempt)
            .field("next_link", &self.next_link)
            .finish_non_exhaustive()
    }
}

/// The answer to `requestToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTokenSent {
    pub sid: String,
    /// Where the client may post the code: `public_base_url` + [`SUBMIT_PATH`].
    pub submit_url: String,
}

/// What opening the mailed link does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailLink {
    /// The address is validated; the page may send the person on.
    Validated { next_link: Option<String> },
    /// A password reset: the page asks the person to confirm (POST).
    ConfirmReset,
}

impl Accounts {
    /// Mails a validation token for `purpose` (`*/email/requestToken`).
    pub async fn request_email_token(
        &self,
        purpose: EmailPurpose,
        request: EmailTokenRequest,
        client: &ClientInfo,
    ) -> Result<EmailTokenSent> {
        let (Some(mailer), Some(config)) = (&self.inner.mailer, &self.inner.config.email) else {
            return Err(Error::bad_request(
                ErrorCode::ThreepidMediumNotSupported,
                "E-mail validation is not enabled on this server",
            ));
        };
        check_session_token("client_secret", &request.client_secret)?;
        if lettre::Address::from_str(request.email.trim()).is_err() {
            return Err(Error::invalid_param("Unable to parse email address"));
        }
        if let Some(link) = &request.next_link
            && !(link.starts_with("https://") || link.starts_with("http://"))
        {
            return Err(Error::invalid_param("next_link must be an http or https URL"));
        }
        let address = canonical_address("email", &request.email);
        let limits = &self.inner.limits;
        limits.consume(Action::Email, &Subject::ip(client.ip))?;
        limits.consume(Action::Email, &Subject::Address(address.clone()))?;

        let owner = {
            let address = address.clone();
            self.db(move |store| store.threepid_owner("email", &address)).await?
        };
        let submit_url = format!("{}{SUBMIT_PATH}", self.inner.config.public_base_url());
        match (purpose, owner) {
            (EmailPurpose::Register | EmailPurpose::AddThreepid, Some(_)) => {
                return Err(Error::bad_request(ErrorCode::ThreepidInUse, "Email is already in use"));
            }
            (EmailPurpose::ResetPassword, None) => {
                return match config.reset_unknown_address {
                    ResetUnknownAddress::Refuse => {
                        Err(Error::bad_request(ErrorCode::ThreepidNotFound, "Email not found"))
                    }
                    // A session that exists nowhere: nothing to validate.
                    ResetUnknownAddress::Pretend => Ok(EmailTokenSent { sid: ids::email_session_id()?, submit_url }),
                };
            }
            _ => {}
        }

        let now = now_ms();
        let existing = {
            let (secret, address) = (request.client_secret.clone(), address.clone());
            self.db(move |store| store.email_session_for(&secret, &address, purpose, now)).await?
        };
        if let Some(existing) = &existing
            && request.send_attempt <= existing.send_attempt
        {
            return Ok(EmailTokenSent { sid: existing.sid.clone(), submit_url });
        }
        let token = ids::email_token()?;
        let expires_at = now.saturating_add(super::millis(config.token_lifetime));
        let session = match existing {
            Some(existing) => EmailSessionRecord {
                send_attempt: request.send_attempt,
                token_hash: Some(ids::token_hash(&token)),
                failed_attempts: 0,
                next_link: request.next_link.clone(),
                expires_at,
                ..existing
            },
            None => EmailSessionRecord {
                sid: ids::email_session_id()?,
                client_secret: request.client_secret.clone(),
                address: address.clone(),
                purpose,
                send_attempt: request.send_attempt,
                token_hash: Some(ids::token_hash(&token)),
                failed_attempts: 0,
                next_link: request.next_link.clone(),
                created_at: now,
                expires_at,
                validated_at: None,
            },
        };
        let sid = session.sid.clone();
        let mail = self.validation_mail(&session, &token);
        self.db(move |store| store.put_email_session(&session, now)).await?;
        mailer.send_in_background(mail, &sid).map_err(|_| Error::invalid_param("Unable to parse email address"))?;
        tracing::info!(event = "email.requested", %sid, ip = %client.ip, purpose = purpose.as_str());
        Ok(EmailTokenSent { sid, submit_url })
    }

    /// Validates a session with the token from its mail (`submit_url`, and
    /// the page's confirmation). A wrong, used or expired token, an unknown
    /// session or another client's secret: 400 `M_THREEPID_AUTH_FAILED`.
    pub async fn submit_email_token(&self, sid: &str, client_secret: &str, token: &str) -> Result<EmailSessionRecord> {
        let refused = || Error::bad_request(ErrorCode::ThreepidAuthFailed, "The token is wrong, used or expired");
        if check_session_token("sid", sid).is_err() || check_session_token("client_secret", client_secret).is_err() {
            return Err(refused());
        }
        // People copy codes with spaces around them, or in lower case.
        let token_hash = ids::token_hash(&token.trim().to_ascii_uppercase());
        let (sid, secret) = (sid.to_owned(), client_secret.to_owned());
        let submitted = self
            .db(move |store| store.submit_email_token(&sid, &secret, &token_hash, now_ms(), MAX_WRONG_TOKENS))
            .await?;
        match submitted {
            TokenSubmission::Validated(session) => {
                tracing::info!(event = "email.validated", sid = %session.sid, purpose = session.purpose.as_str());
                Ok(session)
            }
            TokenSubmission::Refused => Err(refused()),
        }
    }

    /// Opens the mailed link: validates the session, except for a password
    /// reset, whose page asks for a confirmation (POST, then
    /// [`Accounts::submit_email_token`]) so that a scanner's GET changes
    /// nothing. A link that cannot validate: as
    /// [`Accounts::submit_email_token`].
    pub async fn open_email_link(&self, sid: &str, client_secret: &str, token: &str) -> Result<EmailLink> {
        let peeked = match check_session_token("sid", sid) {
            Ok(()) => {
                let sid = sid.to_owned();
                self.db(move |store| store.email_session(&sid, now_ms())).await?
            }
            Err(_) => None,
        };
        if let Some(session) = peeked
            && session.purpose == EmailPurpose::ResetPassword
            && session.token_hash.is_some()
            && secrets_match(&session.client_secret, client_secret)
        {
            return Ok(EmailLink::ConfirmReset);
        }
        let session = self.submit_email_token(sid, client_secret, token).await?;
        Ok(EmailLink::Validated { next_link: session.next_link })
    }

    /// The session `sid` if `client_secret` is its secret, it was
    /// validated, has not expired, and was requested for `purpose`.
    pub(crate) async fn validated_email(
        &self,
        sid: &str,
        client_secret: &str,
        purpose: EmailPurpose,
    ) -> Result<Option<EmailSessionRecord>> {
        let found = {
            let sid = sid.to_owned();
            self.db(move |store| store.email_session(&sid, now_ms())).await?
        };
        Ok(found.filter(|session| {
            secrets_match(&session.client_secret, client_secret)
                && session.purpose == purpose
                && session.validated_at.is_some()
        }))
    }

    /// Whether `sid` names an e-mail session of this server (live or not
    /// validated yet), rather than an identity server's.
    pub(crate) async fn is_own_email_session(&self, sid: &str) -> Result<bool> {
        let sid = sid.to_owned();
        Ok(self.db(move |store| store.email_session(&sid, now_ms())).await?.is_some())
    }

    /// Forgets a session that has been used: it is worth one use.
    pub(crate) async fn forget_email_session(&self, sid: String) -> Result<()> {
        self.db(move |store| store.delete_email_session(&sid)).await
    }

    /// The mail for a session: the link to the validation page and the
    /// code, as plain text and HTML.
    fn validation_mail(&self, session: &EmailSessionRecord, token: &str) -> Mail {
        let base = self.inner.config.public_base_url();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("sid", &session.sid)
            .append_pair("client_secret", &session.client_secret)
            .append_pair("token", token)
            .finish();
        let link = format!("{base}{VALIDATION_PATH}?{query}");
        let server = self.server_name();
        let (subject, action) = match session.purpose {
            EmailPurpose::Register => (format!("Validate your e-mail address on {server}"), "create your account"),
            EmailPurpose::AddThreepid => {
                (format!("Validate your e-mail address on {server}"), "add this address to your account")
            }
            EmailPurpose::ResetPassword => (format!("Reset your password on {server}"), "reset your password"),
        };
        let text = format!(
            "To {action} on {server}, open this link:\n\n{link}\n\nor enter this code where you were asked to: \
             {token}\n\nIf you did not ask for this, ignore this mail: nothing happens without the link or the code.\n"
        );
        let html = format!(
            "<!DOCTYPE html>\n<html><body>\n<p>To {action} on {server}, open this link:</p>\n\
             <p><a href=\"{href}\">{href}</a></p>\n\
             <p>or enter this code where you were asked to: <strong>{token}</strong></p>\n\
             <p>If you did not ask for this, ignore this mail: nothing happens without the link or the code.</p>\n\
             </body></html>\n",
            server = escape_html(server),
            href = escape_html(&link),
        );
        Mail { to: session.address.clone(), subject, text, html }
    }
}

/// Compares client secrets in constant time: they are the client's proof
/// that a session is its own.
fn secrets_match(stored: &str, submitted: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(stored.as_bytes().ct_eq(submitted.as_bytes()))
}
