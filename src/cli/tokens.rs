//! `matrix-accounts token issue|list|revoke`: registration tokens, for
//! invite-only registration (`[registration] requires_token`).

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

use super::print_json;
use super::users::Output;
use crate::accounts::{Accounts, Actor, NewRegistrationToken, now_ms};
use crate::config::Config;
use crate::store::{Millis, RegistrationTokenRecord};

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// Registration tokens.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it.
    Issue {
        /// The token's text (1 to 64 of `A-Za-z0-9._~-`); default: random.
        #[arg(long, conflicts_with = "length")]
        token: Option<String>,
        /// Length of a random token (1 to 64) [default: 16].
        #[arg(long)]
        length: Option<i64>,
        /// How many registrations it allows [default: unlimited].
        #[arg(long)]
        uses: Option<i64>,
        /// Days until it stops working [default: never].
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        output: Output,
    },
    /// List tokens.
    List {
        /// Only tokens that can still be used (not expired, uses left).
        #[arg(long)]
        valid: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Delete a token; registrations that already passed it may finish.
    Revoke {
        token: String,
        #[command(flatten)]
        output: Output,
    },
}

/// A token as the admin API shows it (Synapse's field names).
#[derive(Debug, Serialize)]
struct TokenView {
    token: String,
    uses_allowed: Option<i64>,
    pending: i64,
    completed: i64,
    expiry_time: Option<Millis>,
}

impl From<RegistrationTokenRecord> for TokenView {
    fn from(record: RegistrationTokenRecord) -> Self {
        TokenView {
            token: record.token,
            uses_allowed: record.uses_allowed,
            pending: record.pending,
            completed: record.completed,
            expiry_time: record.expiry_time,
        }
    }
}

impl TokenView {
    fn line(&self) -> String {
        let uses = self.uses_allowed.map_or("unlimited".to_owned(), |uses| uses.to_string());
        let expiry = self.expiry_time.map_or("never".to_owned(), |at| at.to_string());
        format!("{} uses={}/{uses} pending={} expires={expiry}", self.token, self.completed, self.pending)
    }
}

pub fn run(config: &Config, command: &TokenCommand) -> ExitCode {
    super::run(config, |accounts| async move { execute(&accounts, command).await })
}

async fn execute(accounts: &Accounts, command: &TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue { token, length, uses, expires_in_days, output } => {
            let new = NewRegistrationToken {
                token: token.clone(),
                length: *length,
                uses_allowed: *uses,
                expiry_time: expires_in_days.map(|days| now_ms().saturating_add(Millis::from(days) * DAY_MS)),
            };
            let issued = TokenView::from(accounts.create_registration_token(Actor::CommandLine, new).await?);
            // The bare token, so that `TOKEN=$(matrix-accounts token issue)` works.
            if output.json {
                return print_json(&issued);
            }
            println!("{}", issued.token);
            Ok(())
        }
        TokenCommand::List { valid, output } => {
            let tokens: Vec<TokenView> =
                accounts.registration_tokens(valid.then_some(true)).await?.into_iter().map(TokenView::from).collect();
            if output.json {
                return print_json(&tokens);
            }
            tokens.iter().for_each(|token| println!("{}", token.line()));
            Ok(())
        }
        TokenCommand::Revoke { token, output } => {
            accounts.delete_registration_token(Actor::CommandLine, token).await?;
            if output.json {
                return print_json(&serde_json::json!({"token": token, "revoked": true}));
            }
            println!("revoked {token}");
            Ok(())
        }
    }
}
