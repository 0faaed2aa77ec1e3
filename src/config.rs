//! Server configuration: defaults, a TOML file, environment and flags.
//!
//! Precedence, lowest first: built-in defaults, the `--config` TOML file,
//! `MATRIX_ACCOUNTS_*` environment variables, command-line flags. The
//! defaults run a usable server with no file at all: `localhost`, an SQLite
//! file in the working directory, rate limits on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::store::Database;

/// Command-line flags; every one may also come from the environment. They
/// are global: accepted before or after a subcommand, which reads the same
/// configuration as serving does.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "matrix-accounts", version, about)]
pub struct Cli {
    /// What to do instead of serving (no subcommand: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on [default: 127.0.0.1:8008].
    #[arg(long, global = true, env = "MATRIX_ACCOUNTS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The server name in user IDs (`@alice:NAME`) [default: localhost].
    #[arg(long, global = true, env = "MATRIX_ACCOUNTS_SERVER_NAME")]
    pub server_name: Option<String>,
    /// The database: a SQLite file, created on first start, or a
    /// `postgres://user@host/db` URL [default: matrix-accounts.db].
    #[arg(long, global = true, env = "MATRIX_ACCOUNTS_DATABASE")]
    pub database: Option<Database>,
    /// TOML configuration file.
    #[arg(long, global = true, env = "MATRIX_ACCOUNTS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Switch every rate limit off (tests and benchmarks).
    #[arg(long, global = true, env = "MATRIX_ACCOUNTS_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,
}

/// The binary's subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Import accounts from another homeserver's database.
    #[command(subcommand)]
    Import(crate::import::ImportCommand),
    /// Manage accounts in the configured database (the server may be running).
    #[command(subcommand)]
    User(crate::cli::users::UserCommand),
    /// Manage registration tokens in the configured database.
    #[command(subcommand)]
    Token(crate::cli::tokens::TokenCommand),
    /// Copy a SQLite database into PostgreSQL (stop the server first).
    Migrate(crate::cli::migrate::MigrateArgs),
}

/// Everything the server reads at start. It serializes back to the TOML it
/// reads, so a program (the tests, a deployment tool) can build a `Config`
/// value and write the file from it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub server_name: String,
    /// A SQLite file path (or `sqlite:PATH`), or a `postgres://` URL.
    pub database: Database,
    /// Largest request body accepted; larger ones get 413 `M_TOO_LARGE`.
    pub max_body_bytes: usize,
    /// `tracing` filter, e.g. `info` or `matrix_accounts=debug`.
    pub log: String,
    /// Reverse proxies in front of the server (e.g. `["127.0.0.1"]` behind a
    /// local nginx). For a request from one of them, the client's address
    /// is read from `X-Forwarded-For` (the last address that is not itself
    /// a trusted proxy), so per-IP rate limits apply to the client, not to
    /// the proxy. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The URL at which people reach this server (`https://matrix.example.org`):
    /// the base of links the server hands out (the validation link of the
    /// mail it sends) and, unless `[well_known]` names another, of server
    /// discovery (`GET /.well-known/matrix/client`, `well_known` in the
    /// login answer). Unset: links use `http://` and `listen`, right only
    /// when clients reach the server directly, and there is nothing to
    /// discover.
    pub public_base_url: Option<String>,
    pub http: Http,
    pub registration: Registration,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub rate_limits: RateLimits,
    pub identity: Identity,
    /// Validating e-mail addresses by sending mail ourselves. Unset: the
    /// e-mail `requestToken` endpoints answer 400
    /// `M_THREEPID_MEDIUM_NOT_SUPPORTED`, as Synapse does without e-mail.
    pub email: Option<Email>,
    pub well_known: WellKnown,
    pub devices: Devices,
    pub admin: Admin,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8008)),
            server_name: "localhost".into(),
            database: Database::Sqlite(PathBuf::from("matrix-accounts.db")),
            max_body_bytes: 64 * 1024,
            log: "info".into(),
            trusted_proxies: Vec::new(),
            public_base_url: None,
            http: Http::default(),
            registration: Registration::default(),
            passwords: Passwords::default(),
            tokens: Tokens::default(),
            rate_limits: RateLimits::default(),
            identity: Identity::default(),
            email: None,
            well_known: WellKnown::default(),
            devices: Devices::default(),
            admin: Admin::default(),
        }
    }
}

impl Config {
    /// `public_base_url` without a trailing slash, or the listening
    /// address over plain HTTP.
    pub fn public_base_url(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// The admin API (Synapse's `/_synapse/admin`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// Enables shared-secret registration (`/_synapse/admin/v1/register`,
    /// what Synapse's `register_new_matrix_user` speaks): whoever knows it
    /// can create accounts, admins included. Unset (and no `_path`): off.
    pub registration_shared_secret: Option<String>,
    /// The same secret, read from this file at start (trailing newline
    /// ignored), so that it need not sit in the configuration file.
    pub registration_shared_secret_path: Option<PathBuf>,
}

/// What server discovery tells clients (`GET /.well-known/matrix/client`,
/// and `well_known` in the login answer).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WellKnown {
    /// The homeserver's base URL, when clients must be sent elsewhere than
    /// `public_base_url` (the default).
    pub base_url: Option<String>,
    /// An identity server to suggest to clients (`m.identity_server`).
    pub identity_server: Option<String>,
}

/// Device bookkeeping.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Devices {
    /// How often the devices' last uses (`last_seen_ip`, `last_seen_ts`),
    /// noted in memory, are written to the database in one transaction;
    /// they are also written when the server stops. A crash loses at most
    /// this much of them.
    #[serde(with = "milliseconds")]
    pub last_seen_flush_interval: Duration,
}

impl Default for Devices {
    fn default() -> Self {
        Devices { last_seen_flush_interval: Duration::from_secs(10) }
    }
}

/// What a connection may cost the server before it has sent a request.
///
/// Every limit here holds before any of the server's own code runs, so a
/// client that opens connections and sends nothing, or sends a byte a
/// second, cannot hold the server's sockets or memory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// Open connections at once. At the cap, the oldest connection that is
    /// idle (no request in flight) is closed to make room; when none is idle the
    /// newcomer is. Clamped at start to what the open-file limit allows.
    pub max_connections: usize,
    /// To receive a request's headers, counted from when the connection is
    /// ready for it: a new connection that sends nothing, a client sending
    /// its headers a byte at a time, and a keep-alive connection waiting for
    /// its next request are all closed after it (hyper's header timer starts
    /// when the connection is ready to read a request, so it is also the
    /// keep-alive idle limit).
    #[serde(with = "milliseconds")]
    pub header_timeout: Duration,
    /// To receive a whole request body, once its headers have arrived; then
    /// 408 and the connection is closed.
    #[serde(with = "milliseconds")]
    pub body_timeout: Duration,
}

impl Default for Http {
    fn default() -> Self {
        Http { max_connections: 8192, header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Registration {
    /// Whether `/register` creates accounts at all, guests included: when
    /// false, every registration is 403 `M_FORBIDDEN`, whatever
    /// `guest_access` says.
    pub enabled: bool,
    /// Registration needs a registration token
    /// (`m.login.registration_token`), from the database's table (which an
    /// admin API fills). Implied when `tokens` is not empty.
    pub requires_token: bool,
    /// Registration tokens to create, unlimited and never expiring, at
    /// start if absent from the database; when non-empty, registration
    /// needs a token. Tokens created here stay in the database when they
    /// are removed from this list (delete them through the store).
    pub tokens: Vec<String>,
    /// Whether `kind=guest` registration is allowed (when `enabled`).
    pub guest_access: bool,
    /// Regular expressions over localparts that are reserved (e.g. for
    /// application services); matching names get 400 `M_EXCLUSIVE`.
    pub exclusive_namespaces: Vec<String>,
    /// Every registration flow needs a validated e-mail address
    /// (`m.login.email.identity`, after the token stage when there is one);
    /// otherwise, with `[email]`, it is offered beside the flow without.
    /// Needs `[email]`: the server refuses to start without it. Guests
    /// (`kind=guest`) and accounts an admin creates are not concerned.
    pub require_email: bool,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            enabled: true,
            requires_token: false,
            tokens: Vec::new(),
            guest_access: false,
            exclusive_namespaces: Vec::new(),
            require_email: false,
        }
    }
}

/// argon2id parameters; the defaults are OWASP's (19 MiB, t=2, p=1).
///
/// A stored hash made otherwise (other argon2 parameters, or a bcrypt hash
/// imported from Synapse) still verifies, and is replaced by one made with
/// these at the account's next successful password check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Passwords {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Synapse's `password_config.pepper`: what Synapse appended to every
    /// password before hashing it with bcrypt. Needed only to verify bcrypt
    /// hashes imported from a Synapse that set one; argon2id hashes made
    /// here do not use it.
    pub bcrypt_pepper: String,
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords { memory_kib: 19 * 1024, iterations: 2, parallelism: 1, bcrypt_pepper: String::new() }
    }
}

impl Passwords {
    /// The argon2 parameters these settings name; an error for values
    /// argon2 refuses (too little memory for the lanes, zero iterations).
    pub fn argon2_params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tokens {
    /// Lifetime of an access token issued with a refresh token
    /// (`expires_in_ms`). Tokens issued without one do not expire.
    #[serde(with = "milliseconds")]
    pub access_token_lifetime: Duration,
    /// How long an unfinished UIA session is remembered. Password change
    /// and 3pid add delete theirs once they succeed. For 3pid add this is
    /// also how long an unfinished session keeps the client's
    /// identity-server `client_secret`.
    #[serde(with = "milliseconds")]
    pub uia_session_lifetime: Duration,
    /// How long a completed registration session may be retried (the spec
    /// lets a client that lost the answer repeat the request and get the
    /// same account, on a new device). Only a retry carrying the same
    /// password (and no other username) is answered. Short: the session ID
    /// travels in every UIA request body.
    #[serde(with = "milliseconds")]
    pub completed_registration_retry: Duration,
    /// How many access tokens are remembered in memory, so that checking
    /// one does not touch the database (~200 bytes each). The same number
    /// bounds the cache of 3pid lists (`GET /account/3pid`), one entry per
    /// account, separately: both caches may hold this many entries.
    pub cache_capacity: usize,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            access_token_lifetime: Duration::from_secs(5 * 60),
            uia_session_lifetime: Duration::from_secs(15 * 60),
            completed_registration_retry: Duration::from_secs(2 * 60),
            cache_capacity: 10_000,
        }
    }
}

/// Durations are written in milliseconds in the TOML file.
mod milliseconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A token bucket: `per_second` tokens flow in, at most `burst` are kept.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub per_second: f64,
    pub burst: u32,
}

/// Rate limits per client IP and per account; defaults follow Synapse's.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub enabled: bool,
    /// Registrations per IP: every request is checked, and each one that
    /// starts a flow (a one-shot, or a first UIA step, which stores a session
    /// and hashes a password) uses an attempt; follow-ups of a session and
    /// refusals before UIA do not.
    pub register: Bucket,
    /// Login attempts per IP (every attempt), and successful logins per
    /// account. Also password resets without an access token, per IP, in a
    /// bucket of their own.
    pub login: Bucket,
    /// Failed logins per account *and* client IP (as Synapse keys them):
    /// checked before a password is verified, charged only by a wrong one,
    /// so failures from one address never lock out the right password
    /// from another.
    pub login_failed: Bucket,
    /// `GET /register/available` (and the registration-token validity
    /// check) per IP: both tell a stranger what exists.
    pub available: Bucket,
    /// Wrong registration tokens per IP.
    pub registration_token_failed: Bucket,
    /// 3pid additions per IP and per account.
    pub threepid: Bucket,
    /// Validation mails requested (`*/email/requestToken`), per client IP
    /// and, separately, per e-mail address: a stranger must not be able to
    /// make the server flood someone's mailbox.
    pub email: Bucket,
    /// How many IPs and accounts are tracked at once. Only buckets that have
    /// refilled completely are forgotten to make room; when every tracked
    /// bucket is still counting, new subjects get 429 until some refill.
    pub max_tracked_keys: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            register: Bucket { per_second: 0.17, burst: 3 },
            login: Bucket { per_second: 0.003, burst: 5 },
            login_failed: Bucket { per_second: 0.17, burst: 3 },
            threepid: Bucket { per_second: 0.17, burst: 3 },
            email: Bucket { per_second: 0.003, burst: 5 },
            available: Bucket { per_second: 1.0, burst: 10 },
            registration_token_failed: Bucket { per_second: 0.17, burst: 3 },
            max_tracked_keys: 10_000,
        }
    }
}

/// The mail server the homeserver sends its validation mail through, and
/// the rules of that validation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// The SMTP server (a relay, or a local MTA).
    pub smtp_host: String,
    /// Its port; default by `tls`: 25 for `none`, 587 for `starttls`, 465
    /// for `tls`.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// Log in with these when both are set (PLAIN or LOGIN, whichever the
    /// server offers). Only sent over TLS unless `tls = "none"`.
    #[serde(default)]
    pub smtp_user: Option<String>,
    #[serde(default)]
    pub smtp_pass: Option<String>,
    /// `starttls` (the default: every submission server offers it, and the
    /// credentials and the validation links must not cross the network in
    /// clear), `tls` (implicit TLS, port 465) or `none` (a local MTA or a
    /// test sink only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// The `From` of every mail, e.g. `Example Chat <noreply@example.org>`.
    pub from: String,
    /// How long a mailed token, and a session validated with it, can be
    /// used (ms; default 24 h, as Synapse).
    #[serde(default = "Email::default_token_lifetime", with = "milliseconds")]
    pub token_lifetime: Duration,
    /// What a password-reset request for an address no account has gets:
    /// `refuse` (the default) answers 400 `M_THREEPID_NOT_FOUND`, as
    /// Synapse does and as clients expect (Element tells the person to
    /// check the address); `pretend` answers as if a mail had been sent and
    /// sends none, so that the endpoint cannot tell a stranger which
    /// addresses have accounts (registration still tells, by
    /// `M_THREEPID_IN_USE`, which is why this is not the default). A
    /// pretended session is stored nowhere: each request gets a new `sid`.
    #[serde(default)]
    pub reset_unknown_address: ResetUnknownAddress,
}

impl Email {
    fn default_token_lifetime() -> Duration {
        Duration::from_secs(24 * 60 * 60)
    }

    /// The configured port, or the usual one for `tls`.
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

/// See [`Email::reset_unknown_address`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetUnknownAddress {
    #[default]
    Refuse,
    Pretend,
}

/// Identity servers this server will ask to validate third-party IDs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Identity {
    /// `host[:port]` of each trusted identity server; a 3pid validated by
    /// any other is refused with `M_THREEPID_AUTH_FAILED`.
    pub trusted_servers: Vec<String>,
    /// The identity server (`host[:port]`, one of `trusted_servers`) that
    /// validates the sessions of `POST /account/3pid/add`, whose request
    /// names none. Unset: that endpoint can add no 3pid.
    pub threepid_delegate: Option<String>,
    /// Talk plain HTTP instead of HTTPS to them (tests only).
    pub insecure_http: bool,
    /// Per-request timeout towards an identity server.
    #[serde(with = "milliseconds")]
    pub timeout: Duration,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            trusted_servers: vec!["matrix.org".into(), "vector.im".into()],
            threepid_delegate: None,
            insecure_http: false,
            timeout: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Builds the configuration from flags, environment and the file they name.
    pub fn load(cli: &Cli) -> anyhow::Result<Config> {
        let mut config = match &cli.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = cli.listen {
            config.listen = listen;
        }
        if let Some(name) = &cli.server_name {
            config.server_name = name.clone();
        }
        if let Some(database) = &cli.database {
            config.database = database.clone();
        }
        if cli.no_rate_limits {
            config.rate_limits.enabled = false;
        }
        Ok(config)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading configuration file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing configuration file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "server_name = \"example.org\"\nlisten = \"127.0.0.1:9000\"\n[rate_limits.login]\nper_second = 1.0\nburst = 2\n",
        )
        .unwrap();
        let cli = Cli { config: Some(file), listen: Some("127.0.0.1:9001".parse().unwrap()), ..Cli::default() };
        let config = Config::load(&cli).unwrap();
        assert_eq!(config.server_name, "example.org");
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.rate_limits.login, Bucket { per_second: 1.0, burst: 2 });
        assert!(config.rate_limits.enabled);
    }

    #[test]
    fn a_written_config_reads_back_the_same() {
        let mut config = Config::default();
        config.tokens.access_token_lifetime = Duration::from_millis(1500);
        config.identity.threepid_delegate = Some("id.example.org".into());
        let text = toml::to_string(&config).unwrap();
        let read: Config = toml::from_str(&text).unwrap();
        assert_eq!(toml::to_string(&read).unwrap(), text);
        assert_eq!(read.tokens.access_token_lifetime, Duration::from_millis(1500));
    }

    #[test]
    fn the_email_section_has_sane_defaults() {
        let config: Config =
            toml::from_str("[email]\nsmtp_host = \"mail.example.org\"\nfrom = \"noreply@example.org\"\n").unwrap();
        let email = config.email.unwrap();
        assert_eq!((email.tls, email.port()), (SmtpTls::Starttls, 587));
        assert_eq!(email.token_lifetime, Duration::from_secs(86_400));
        assert_eq!(email.reset_unknown_address, ResetUnknownAddress::Refuse);
        assert_eq!(Config::default().public_base_url(), "http://127.0.0.1:8008");
    }

    #[test]
    fn flags_are_accepted_before_and_after_a_subcommand() {
        use crate::import::ImportCommand;
        for args in [
            &["matrix-accounts", "--server-name", "a.example", "import", "synapse", "db", "--sessions"][..],
            &["matrix-accounts", "import", "synapse", "--server-name", "a.example", "db", "--sessions"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.server_name.as_deref(), Some("a.example"));
            let Some(Command::Import(ImportCommand::Synapse(import))) = cli.command else { panic!("{args:?}") };
            assert!(import.sessions && !import.dry_run);
            assert_eq!(import.source, "db");
        }
        assert!(Cli::try_parse_from(["matrix-accounts", "--listen", "127.0.0.1:0"]).unwrap().command.is_none());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = toml::from_str::<Config>("sever_name = \"typo\"").unwrap_err();
        assert!(error.to_string().contains("sever_name"), "{error}");
    }
}
