//! The operator's command line: `matrix-accounts user ...`,
//! `matrix-accounts token ...` and `matrix-accounts migrate`.
//!
//! Each command opens the configured database itself and acts through the
//! same [`Accounts`] calls as the admin API, with
//! [`Actor::CommandLine`](crate::accounts::Actor) as the actor: the rules
//! (username syntax, taken names, argon2 hashing, token limits) exist once.
//! SQLite runs in WAL mode and every change is one store transaction, so
//! the commands work with the server stopped or running on the same file.
//!
//! Output: the report on stdout (`--json` for scripts), nothing else; a
//! failure is one line on stderr and exit status 1. No logging is set up,
//! so no log line reaches stdout.

pub mod migrate;
mod password;
pub mod tokens;
pub mod users;

use std::process::ExitCode;

use crate::accounts::Accounts;
use crate::config::Config;

/// Runs `work` against the configured database on a small runtime: the
/// domain is async (store calls and argon2 run on blocking threads), the
/// command line is not. Prints the error, if any, as one line.
pub(crate) fn run<F, Fut>(config: &Config, work: F) -> ExitCode
where
    F: FnOnce(Accounts) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(async { work(Accounts::open(config)?).await }));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Reports `error` as one line on stderr; the exit status says it failed.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("matrix-accounts: {}", one_line(error));
    ExitCode::FAILURE
}

/// The error and its causes on one line. A domain error loses the HTTP
/// status it carries, which means nothing here: `404 M_NOT_FOUND: User
/// not found` reads `User not found (M_NOT_FOUND)`.
fn one_line(error: &anyhow::Error) -> String {
    let parts: Vec<String> = error
        .chain()
        .map(|cause| match cause.downcast_ref::<crate::error::Error>() {
            Some(domain) => describe(domain),
            None => cause.to_string(),
        })
        .collect();
    parts.join(": ").replace('\n', " ")
}

fn describe(error: &crate::error::Error) -> String {
    let shown = error.to_string();
    match shown.split_once(' ').and_then(|(_, rest)| rest.split_once(": ")) {
        Some((code, message)) => format!("{message} ({code})"),
        None => shown,
    }
}

/// `alice` or `@alice:server` as a user ID of this server; another
/// server's ID is passed on for the domain to refuse.
fn user_id(accounts: &Accounts, name: &str) -> String {
    if name.starts_with('@') { name.to_owned() } else { format!("@{name}:{}", accounts.server_name()) }
}

/// Prints `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
