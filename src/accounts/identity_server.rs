//! The client for identity servers, which vouch for third-party identifiers.
//!
//! A client proves it owns an e-mail address by validating a session with an
//! identity server; the homeserver then asks that server (seed-era v1 API,
//! no auth) whether the session `sid` with `client_secret` was validated and
//! for which address: `GET /_matrix/identity/api/v1/3pid/getValidated3pid`.
//! Only identity servers in `identity.trusted_servers` are asked; anything
//! else would let a client name a server it controls and claim any address.
//! Every failure (untrusted, unreachable, timeout, not validated, malformed
//! answer) is the same 400 `M_THREEPID_AUTH_FAILED` for the client; the
//! cause goes to the log, without the URL: `getValidated3pid` carries the
//! `client_secret` in its query string, and `reqwest`'s errors print their
//! URL ([`log_safe`]).
//!
//! The HTTP client (rustls) is built on first use: loading the system's
//! root certificates is not worth delaying start-up for. It never follows
//! redirects: trust is given to the servers named in the configuration, and
//! a trusted server answering 302 to another host would hand that host the
//! `client_secret` and let it vouch for any address. A redirect is a failed
//! validation. Answers are read up to [`MAX_ANSWER_BYTES`]: a server that
//! sends more (broken, or hostile) fails the validation too, instead of
//! making this process buffer whatever it sends.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::config::Identity;
use crate::error::{Error, ErrorCode, Result};

/// What an identity server vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Validated {
    pub(crate) medium: String,
    pub(crate) address: String,
    pub(crate) validated_at: i64,
}

/// The largest identity-server answer read. `getValidated3pid` answers a
/// few hundred bytes; anything near this bound is not a real answer.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub(crate) struct IdentityServers {
    trusted: Vec<String>,
    delegate: Option<String>,
    scheme: &'static str,
    timeout: Duration,
    client: OnceLock<Result<reqwest::Client, String>>,
}

fn auth_failed(message: &'static str) -> Error {
    Error::bad_request(ErrorCode::ThreepidAuthFailed, message)
}

impl IdentityServers {
    pub(crate) fn new(config: &Identity) -> anyhow::Result<Self> {
        let servers = IdentityServers {
            trusted: config.trusted_servers.clone(),
            delegate: config.threepid_delegate.clone(),
            scheme: if config.insecure_http { "http" } else { "https" },
            timeout: config.timeout,
            client: OnceLock::new(),
        };
        if let Some(delegate) = &servers.delegate {
            anyhow::ensure!(
                servers.is_trusted(delegate),
                "identity.threepid_delegate {delegate:?} must be one of identity.trusted_servers"
            );
        }
        Ok(servers)
    }

    /// The identity server that validates `POST /account/3pid/add` sessions.
    pub(crate) fn delegate(&self) -> Option<&str> {
        self.delegate.as_deref()
    }

    fn is_trusted(&self, id_server: &str) -> bool {
        self.trusted.iter().any(|trusted| trusted.eq_ignore_ascii_case(id_server))
    }

    fn client(&self) -> Result<&reqwest::Client> {
        let client = self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.timeout)
                // Server-to-server trust must not be redirected away.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())
        });
        client.as_ref().map_err(|cause| Error::internal(format!("cannot build the identity-server client: {cause}")))
    }

    fn url(&self, id_server: &str, path: &str) -> Result<reqwest::Url> {
        if !self.is_trusted(id_server) {
            tracing::info!(id_server, "refused a 3pid from an untrusted identity server");
            return Err(auth_failed("This server does not trust that identity server"));
        }
        reqwest::Url::parse(&format!("{}://{id_server}/_matrix/identity/api/v1/{path}", self.scheme))
            .map_err(|_| auth_failed("Invalid identity server name"))
    }

    /// Which 3pid the session `sid` validated.
    pub(crate) async fn validated_threepid(
        &self,
        id_server: &str,
        sid: &str,
        client_secret: &str,
    ) -> Result<Validated> {
        let mut url = self.url(id_server, "3pid/getValidated3pid")?;
        url.query_pairs_mut().append_pair("sid", sid).append_pair("client_secret", client_secret);
        let response = self.client()?.get(url).send().await.map_err(|cause| {
            let cause = log_safe(cause);
            tracing::warn!(id_server, %cause, "identity server unreachable");
            auth_failed("The identity server could not be reached")
        })?;
        if !response.status().is_success() {
            // A redirect lands here too: it is not followed.
            tracing::info!(id_server, status = %response.status(), "identity server knows no validated session");
            return Err(auth_failed("No validated 3pid session found"));
        }
        let body = read_bounded(response).await.map_err(|cause| {
            tracing::warn!(id_server, %cause, "identity server answer unreadable");
            auth_failed("No validated 3pid session found")
        })?;
        let validated: Validated = serde_json::from_slice(&body).map_err(|cause| {
            tracing::warn!(id_server, %cause, "identity server answered something unexpected");
            auth_failed("No validated 3pid session found")
        })?;
        if validated.medium.is_empty() || validated.address.is_empty() {
            return Err(auth_failed("No validated 3pid session found"));
        }
        Ok(validated)
    }

    /// Asks the identity server to publish the 3pid → user ID binding.
    pub(crate) async fn bind(&self, id_server: &str, sid: &str, client_secret: &str, user_id: &str) -> Result<()> {
        let url = self.url(id_server, "3pid/bind")?;
        let body = json!({"sid": sid, "client_secret": client_secret, "mxid": user_id});
        let response = self.client()?.post(url).json(&body).send().await.map_err(|cause| {
            let cause = log_safe(cause);
            tracing::warn!(id_server, %cause, "identity server unreachable for bind");
            auth_failed("The identity server could not be reached")
        })?;
        if !response.status().is_success() {
            tracing::info!(id_server, status = %response.status(), "identity server refused the bind");
            return Err(auth_failed("The identity server refused to bind the 3pid"));
        }
        Ok(())
    }
}

/// Why an answer was not read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("the answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error(transparent)]
    Transport(reqwest::Error),
}

/// The body of `response`, read chunk by chunk and abandoned as soon as it
/// passes [`MAX_ANSWER_BYTES`] (a `Content-Length` announcing more is
/// refused before reading anything).
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|length| length > MAX_ANSWER_BYTES as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|cause| ReadError::Transport(log_safe(cause)))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A `reqwest` error fit for the log: without its URL, whose query may hold
/// a `client_secret`.
fn log_safe(error: reqwest::Error) -> reqwest::Error {
    error.without_url()
}

/// Session IDs and client secrets: `[0-9a-zA-Z.=_-]`, 1 to 255 characters
/// (spec: "client_secret"). Anything else never reaches an identity server.
pub(crate) fn check_session_token(name: &'static str, value: &str) -> Result<()> {
    let valid = (1..=255).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'=' | b'_' | b'-'));
    if valid { Ok(()) } else { Err(Error::invalid_param(format!("Invalid {name}: use 1-255 of [0-9a-zA-Z.=_-]"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_servers_are_asked() {
        let servers =
            IdentityServers::new(&Identity { trusted_servers: vec!["id.example.org".into()], ..Identity::default() })
                .unwrap();
        assert!(servers.url("ID.example.org", "3pid/bind").is_ok());
        let refused = servers.url("evil.example", "3pid/bind").unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::ThreepidAuthFailed));
    }

    #[test]
    fn the_delegate_must_be_trusted() {
        let config = Identity { threepid_delegate: Some("other.org".into()), ..Identity::default() };
        assert!(IdentityServers::new(&config).is_err());
    }

    /// What the log says when an identity server cannot be reached: the
    /// cause, never the `client_secret` of the query string.
    #[test]
    fn client_secrets_stay_out_of_the_logs() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        let servers = IdentityServers::new(&Identity {
            trusted_servers: vec!["127.0.0.1:9".into()],
            insecure_http: true,
            timeout: Duration::from_secs(5),
            ..Identity::default()
        })
        .unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let refused = tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(servers.validated_threepid("127.0.0.1:9", "the-sid", "S3cr3tValue"))
        });
        assert_eq!(refused.unwrap_err().code(), Some(ErrorCode::ThreepidAuthFailed));
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("identity server unreachable"), "{log}");
        assert!(!log.contains("S3cr3tValue"), "the client secret reached the log: {log}");
        assert!(!log.contains("client_secret"), "the URL reached the log: {log}");
    }

    #[test]
    fn client_secrets_follow_the_grammar() {
        assert!(check_session_token("client_secret", "d0nt-T3ll.=_").is_ok());
        assert!(check_session_token("client_secret", "bad secret!").is_err());
        assert!(check_session_token("sid", "").is_err());
    }
}
