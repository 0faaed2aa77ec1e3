//! The fallback of User-Interactive Authentication: the page a client opens
//! in a browser for a stage it cannot show itself.
//!
//! - `GET /_matrix/client/{r0,v3}/auth/{authType}/fallback/web?session=…`:
//!   the stage's form (`accounts::Accounts::fallback_serves` says which
//!   stages have one: `m.login.registration_token`, when registration asks
//!   for a token); any other type is 404 `M_UNRECOGNIZED`, as in Synapse.
//! - `POST` to the same address, form-encoded: completes the stage in the
//!   session through the UIA engine's own stage
//!   (`Accounts::complete_registration_token_stage`), then says so and
//!   tells the client with the spec's script; a refused token shows the
//!   form again with the reason.
//!
//! The pages are rendered like the e-mail validation pages (same frame,
//! same headers): every value echoed is escaped, and nothing but the final
//! notification needs JavaScript.

use serde::Deserialize;

use super::Handlers;
use super::email_validation::page;
use crate::api::runtime::{Prerendered, Request};
use crate::api::{AuthFallback, types};
use crate::error::{Error, ErrorCode};
use crate::mail::escape_html;

/// What the fallback form posts.
#[derive(Debug, Deserialize)]
struct FallbackForm {
    session: Option<String>,
    token: Option<String>,
}

/// The script the spec gives the page that ends a fallback.
const AUTH_DONE_SCRIPT: &str = "<script>\nif (window.onAuthDone) window.onAuthDone();\n\
     else if (window.opener && window.opener.postMessage) window.opener.postMessage(\"authDone\", \"*\");\n</script>";

impl AuthFallback for Handlers {
    async fn get_auth_fallback_page(
        &self,
        request: &Request,
        auth_type: String,
        query: types::GetAuthFallbackPageQuery,
    ) -> Result<Prerendered, Error> {
        self.served_stage(&auth_type)?;
        Ok(token_form(request.uri().path(), &query.session, None))
    }

    async fn submit_auth_fallback(
        &self,
        request: &Request,
        auth_type: String,
        query: types::SubmitAuthFallbackQuery,
    ) -> Result<Prerendered, Error> {
        // Synapse's order: the session, the stage type, the stage's fields.
        let form: FallbackForm = request.form_body()?;
        let session = query.session.or(form.session).ok_or_else(|| Error::missing_param("session"))?;
        self.served_stage(&auth_type)?;
        let token = form.token.ok_or_else(|| Error::missing_param("token"))?;
        let client = self.client(request);
        match self.accounts.complete_registration_token_stage(&session, &token, &client).await {
            Ok(()) => Ok(done_page()),
            // The stage refused the token: the person may try another.
            Err(error) if error.code() == Some(ErrorCode::Unauthorized) => {
                Ok(token_form(request.uri().path(), &session, Some(error.message())))
            }
            Err(error) => Err(error),
        }
    }
}

impl Handlers {
    /// 404 `M_UNRECOGNIZED` unless this server completes `stage` in a
    /// browser.
    fn served_stage(&self, stage: &str) -> Result<(), Error> {
        if self.accounts.fallback_serves(stage) {
            Ok(())
        } else {
            Err(Error::new(http::StatusCode::NOT_FOUND, ErrorCode::Unrecognized, "Unknown auth stage type"))
        }
    }
}

/// The `m.login.registration_token` form, posting to `path` (the address
/// the page was asked at) with the session in its query and as a field.
fn token_form(path: &str, session: &str, error: Option<&str>) -> Prerendered {
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("session", session).finish();
    let action = escape_html(&format!("{path}?{query}"));
    let session = escape_html(session);
    let error = match error {
        Some(error) => format!("<p role=\"alert\"><strong>{}</strong></p>\n", escape_html(error)),
        None => String::new(),
    };
    page(
        "Enter your registration token",
        &format!(
            "{error}<p>This server needs a registration token to create an account. \
             Enter the one you were given.</p>\n\
             <form method=\"post\" action=\"{action}\">\n\
             <input type=\"hidden\" name=\"session\" value=\"{session}\">\n\
             <p><label>Registration token <input type=\"text\" name=\"token\" required \
             autocomplete=\"off\" autocapitalize=\"off\" spellcheck=\"false\"></label></p>\n\
             <p><button type=\"submit\">Submit</button></p>\n</form>"
        ),
    )
}

/// The stage is complete: say so, and tell the client.
fn done_page() -> Prerendered {
    page(
        "Authentication complete",
        &format!(
            "<p>Thank you. You may now close this window and return to your Matrix client.</p>\n{AUTH_DONE_SCRIPT}"
        ),
    )
}
