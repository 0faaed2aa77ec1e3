//! E-mail validation by the homeserver itself, and the phone-number
//! variants it refuses.
//!
//! - `POST /_matrix/client/{r0,v3}/register/email/requestToken`,
//!   `/account/3pid/email/requestToken`,
//!   `/account/password/email/requestToken`: mail a token
//!   (`accounts::request_email_token`, one purpose each).
//! - The same three under `msisdn`: 400 `M_THREEPID_MEDIUM_NOT_SUPPORTED`
//!   (no SMS is sent).
//! - `GET /_matrix/client/unstable/email/validate`: the page the mail links
//!   to; for a password reset, a form that posts to
//!   `POST /_matrix/client/unstable/email/validate`, which validates.
//! - `POST /_matrix/client/unstable/email/submit_token`: `submit_url`, the
//!   code typed into the client.
//!
//! The pages are the one HTML this server renders per request: short, no
//! script, no asset, every value escaped.

use super::Handlers;
use crate::accounts::{EmailLink, EmailTokenRequest, EmailTokenSent, VALIDATION_PATH};
use crate::api::runtime::{Prerendered, Request};
use crate::api::{EmailValidation, types};
use crate::error::{Error, ErrorCode};
use crate::mail::escape_html;
use crate::store::EmailPurpose;

impl EmailValidation for Handlers {
    async fn request_token_to_register_email(
        &self,
        request: &Request,
        body: types::RequestEmailValidation,
    ) -> Result<types::RequestTokenResponse, Error> {
        request_token(self, request, EmailPurpose::Register, body).await
    }

    async fn request_token_to_3pid_email(
        &self,
        request: &Request,
        body: types::RequestEmailValidation,
    ) -> Result<types::RequestTokenResponse, Error> {
        request_token(self, request, EmailPurpose::AddThreepid, body).await
    }

    async fn request_token_to_reset_password_email(
        &self,
        request: &Request,
        body: types::RequestEmailValidation,
    ) -> Result<types::RequestTokenResponse, Error> {
        request_token(self, request, EmailPurpose::ResetPassword, body).await
    }

    async fn request_token_to_register_msisdn(
        &self,
        _: &Request,
        _: types::RequestMsisdnValidation,
    ) -> Result<serde_json::Value, Error> {
        Err(no_sms())
    }

    async fn request_token_to_3pidmsisdn(
        &self,
        _: &Request,
        _: types::RequestMsisdnValidation,
    ) -> Result<serde_json::Value, Error> {
        Err(no_sms())
    }

    async fn request_token_to_reset_password_msisdn(
        &self,
        _: &Request,
        _: types::RequestMsisdnValidation,
    ) -> Result<serde_json::Value, Error> {
        Err(no_sms())
    }

    async fn get_email_validation_page(
        &self,
        _: &Request,
        query: types::GetEmailValidationPageQuery,
    ) -> Result<Prerendered, Error> {
        let opened = self.accounts.open_email_link(&query.sid, &query.client_secret, &query.token).await;
        Ok(match opened {
            Ok(EmailLink::Validated { next_link }) => validated_page(next_link.as_deref()),
            Ok(EmailLink::ConfirmReset) => confirmation_form(&query.sid, &query.client_secret, &query.token),
            Err(error) => refused_page(error)?,
        })
    }

    async fn confirm_email_validation(
        &self,
        _: &Request,
        query: types::ConfirmEmailValidationQuery,
    ) -> Result<Prerendered, Error> {
        Ok(match self.accounts.submit_email_token(&query.sid, &query.client_secret, &query.token).await {
            Ok(session) => validated_page(session.next_link.as_deref()),
            Err(error) => refused_page(error)?,
        })
    }

    async fn submit_email_token(
        &self,
        _: &Request,
        body: types::SubmitEmailTokenRequest,
    ) -> Result<types::SubmitEmailTokenResponse, Error> {
        self.accounts.submit_email_token(&body.sid, &body.client_secret, &body.token).await?;
        Ok(types::SubmitEmailTokenResponse { success: true })
    }
}

async fn request_token(
    handlers: &Handlers,
    request: &Request,
    purpose: EmailPurpose,
    body: types::RequestEmailValidation,
) -> Result<types::RequestTokenResponse, Error> {
    let asked = EmailTokenRequest {
        client_secret: body.client_secret,
        email: body.email,
        send_attempt: body.send_attempt,
        next_link: body.next_link,
    };
    let EmailTokenSent { sid, submit_url } =
        handlers.accounts.request_email_token(purpose, asked, &handlers.client(request)).await?;
    Ok(types::RequestTokenResponse { sid, submit_url: Some(submit_url) })
}

fn no_sms() -> Error {
    Error::bad_request(ErrorCode::ThreepidMediumNotSupported, "This server does not validate phone numbers")
}

pub(super) fn page(title: &str, body: &str) -> Prerendered {
    Prerendered::html_page(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\n\
         <body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    ))
}

fn validated_page(next_link: Option<&str>) -> Prerendered {
    let next = match next_link {
        Some(link) => format!("<p><a href=\"{}\">Continue</a></p>", escape_html(link)),
        None => "<p>You can go back to your Matrix client.</p>".to_owned(),
    };
    page("Your e-mail address is validated", &next)
}

/// The password-reset page: nothing happens until the person submits it.
fn confirmation_form(sid: &str, client_secret: &str, token: &str) -> Prerendered {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("sid", sid)
        .append_pair("client_secret", client_secret)
        .append_pair("token", token)
        .finish();
    let action = escape_html(&format!("{VALIDATION_PATH}?{query}"));
    page(
        "Reset your password",
        &format!(
            "<p>Someone, hopefully you, asked to reset the password of the account with this e-mail address. \
             Confirm to go on; then set the new password in your Matrix client.</p>\n\
             <form method=\"post\" action=\"{action}\"><button type=\"submit\">Confirm</button></form>"
        ),
    )
}

/// A link that cannot validate is told on the page; a server failure is
/// still the error it is.
fn refused_page(error: Error) -> Result<Prerendered, Error> {
    if error.status().is_server_error() {
        return Err(error);
    }
    Ok(page(
        "This link does not work",
        "<p>It is wrong, was already used, or has expired. Ask your Matrix client to send a new mail.</p>",
    ))
}
