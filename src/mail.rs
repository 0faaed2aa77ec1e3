//! Sending mail: an SMTP client (lettre over tokio, TLS through rustls).
//!
//! The homeserver mails validation tokens itself (see
//! `accounts::email`). A mail server may be slow or down; a request must
//! not wait for it, so [`Mailer::send_in_background`] hands the mail to a
//! task of its own and returns at once. A delivery failure cannot reach the
//! client any more: it is logged (`event = "email.send_failed"`, with the
//! validation session's `sid`, never the token), and the client, which
//! already holds a `sid`, can ask again with a higher `send_attempt`.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Email, SmtpTls};

/// How long one SMTP exchange may take before it is given up.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A mail to send: a subject, and its body as plain text and as HTML.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The configured SMTP server and sender. Cheap to clone (the transport
/// is shared).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// Reads `[email]`. Fails on a `from` that is not a mailbox, or TLS
    /// parameters rustls refuses.
    pub fn new(config: &Email) -> anyhow::Result<Self> {
        let from: Mailbox =
            config.from.parse().map_err(|e| anyhow::anyhow!("email.from {:?} is not a mailbox: {e}", config.from))?;
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(TlsParameters::new(config.smtp_host.clone())?),
            SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(config.smtp_host.clone())?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
            .port(config.port())
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(pass)) = (&config.smtp_user, &config.smtp_pass) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Mailer { transport: builder.build(), from })
    }

    /// Sends `mail` from a task of its own; `sid` names the validation
    /// session in the log line of a failure. A recipient that is not a
    /// mailbox is refused here, before any task starts.
    pub fn send_in_background(&self, mail: Mail, sid: &str) -> Result<(), lettre::address::AddressError> {
        let to: Mailbox = mail.to.parse()?;
        let message = Message::builder().from(self.from.clone()).to(to).subject(mail.subject).multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(mail.html)),
        );
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(event = "email.send_failed", %sid, %error, "the mail could not be built");
                return Ok(());
            }
        };
        let transport = self.transport.clone();
        let sid = sid.to_owned();
        tokio::spawn(async move {
            match transport.send(message).await {
                Ok(_) => tracing::info!(event = "email.sent", %sid),
                Err(error) => tracing::error!(event = "email.send_failed", %sid, %error),
            }
        });
        Ok(())
    }
}

/// `text` safe to place in HTML, attribute values included.
pub fn escape_html(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}
