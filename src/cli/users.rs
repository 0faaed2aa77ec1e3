//! `matrix-accounts user create|list|show|reset-password|deactivate|set-admin`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{password, print_json, user_id};
use crate::accounts::{Accounts, Actor, AdminUserView, Secret, UserListQuery};
use crate::config::Config;
use crate::store::{Millis, UserRecord};

/// Accounts.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create an account (no device is signed in).
    Create {
        /// The localpart (`alice`) or user ID (`@alice:server`).
        name: String,
        /// Make it a server admin.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        password: PasswordSource,
        #[command(flatten)]
        output: Output,
    },
    /// List accounts, by name.
    List {
        /// Only admins.
        #[arg(long)]
        admins: bool,
        /// Include deactivated accounts (as the admin API's `deactivated=true`).
        #[arg(long)]
        deactivated: bool,
        /// Only accounts whose localpart contains this.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Show one account.
    Show {
        user: String,
        #[command(flatten)]
        output: Output,
    },
    /// Set a new password; every device is logged out unless `--keep-devices`.
    ResetPassword {
        user: String,
        /// Leave the account's devices signed in.
        #[arg(long)]
        keep_devices: bool,
        #[command(flatten)]
        password: PasswordSource,
        #[command(flatten)]
        output: Output,
    },
    /// Deactivate an account: its devices, tokens and 3pids go; its ID is never reused.
    Deactivate {
        user: String,
        #[command(flatten)]
        output: Output,
    },
    /// Grant (`true`) or take away (`false`) the admin flag.
    SetAdmin {
        user: String,
        #[arg(action = clap::ArgAction::Set)]
        admin: bool,
        #[command(flatten)]
        output: Output,
    },
}

/// Where a new password comes from: the terminal unless told otherwise.
#[derive(Debug, Clone, Args)]
pub struct PasswordSource {
    /// Read the password from stdin (everything up to the end, less one
    /// trailing newline) instead of asking on the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct Output {
    /// Print the result as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// An account as the command line shows it.
#[derive(Debug, Serialize)]
struct UserView {
    user_id: String,
    admin: bool,
    deactivated: bool,
    guest: bool,
    creation_ts: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    threepids: Option<Vec<ThreepidView>>,
}

#[derive(Debug, Serialize)]
struct ThreepidView {
    medium: String,
    address: String,
}

impl UserView {
    fn new(user_id: String, user: &UserRecord) -> UserView {
        UserView {
            user_id,
            admin: user.admin,
            deactivated: user.deactivated,
            guest: user.is_guest,
            creation_ts: user.created_at,
            threepids: None,
        }
    }

    fn with_threepids(view: AdminUserView) -> UserView {
        let threepids = view
            .threepids
            .into_iter()
            .map(|threepid| ThreepidView { medium: threepid.medium, address: threepid.address })
            .collect();
        UserView { threepids: Some(threepids), ..UserView::new(view.user_id, &view.user) }
    }

    /// `@alice:server admin deactivated`: the ID and the flags that are set.
    fn line(&self) -> String {
        let flags = [(self.admin, "admin"), (self.deactivated, "deactivated"), (self.guest, "guest")];
        let mut line = self.user_id.clone();
        for (_, flag) in flags.iter().filter(|(set, _)| *set) {
            line.push(' ');
            line.push_str(flag);
        }
        line
    }
}

/// What a change reports: which account, and what was done.
#[derive(Debug, Serialize)]
struct Done<'a> {
    user_id: &'a str,
    #[serde(flatten)]
    what: serde_json::Value,
}

fn report(output: Output, user_id: &str, what: serde_json::Value, text: &str) -> anyhow::Result<()> {
    if output.json {
        return print_json(&Done { user_id, what });
    }
    println!("{text}");
    Ok(())
}

/// Users asked for at once when listing: the list is paged as the admin
/// API pages it, so memory stays flat with many accounts.
const PAGE: i64 = 1000;

pub fn run(config: &Config, command: &UserCommand) -> ExitCode {
    // Read before the runtime starts: a prompt must not wait on a worker.
    let password = match command {
        UserCommand::Create { password, .. } | UserCommand::ResetPassword { password, .. } => {
            match password::read(password.password_stdin) {
                Ok(secret) => Some(secret),
                Err(error) => return super::fail(&error),
            }
        }
        _ => None,
    };
    super::run(config, |accounts| async move { execute(&accounts, command, password).await })
}

async fn execute(accounts: &Accounts, command: &UserCommand, password: Option<Secret>) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { name, admin, output, .. } => {
            let localpart = name.strip_prefix('@').map_or(name.as_str(), |id| id.split(':').next().unwrap_or(id));
            if name.starts_with('@') && user_id(accounts, localpart) != *name {
                anyhow::bail!("{name} is not a user ID of this server ({})", accounts.server_name());
            }
            let created = accounts.create_user(Actor::CommandLine, localpart, needed(password)?, *admin).await?;
            report(
                *output,
                &created,
                serde_json::json!({"created": true, "admin": admin}),
                &format!("created {created}"),
            )
        }
        UserCommand::List { admins, deactivated, name, output } => {
            let users = list(accounts, *admins, *deactivated, name.clone()).await?;
            if output.json {
                print_json(&users)
            } else {
                users.iter().for_each(|user| println!("{}", user.line()));
                Ok(())
            }
        }
        UserCommand::Show { user, output } => {
            let view = UserView::with_threepids(accounts.admin_user(&user_id(accounts, user)).await?);
            if output.json {
                return print_json(&view);
            }
            println!("{}", view.line());
            println!("created {}", view.creation_ts);
            for threepid in view.threepids.iter().flatten() {
                println!("{} {}", threepid.medium, threepid.address);
            }
            Ok(())
        }
        UserCommand::ResetPassword { user, keep_devices, output, .. } => {
            let id = user_id(accounts, user);
            accounts.admin_reset_password(Actor::CommandLine, &id, needed(password)?, !keep_devices).await?;
            let text = if *keep_devices { "password reset" } else { "password reset, devices logged out" };
            report(*output, &id, serde_json::json!({"logout_devices": !keep_devices}), &format!("{id}: {text}"))
        }
        UserCommand::Deactivate { user, output } => {
            let id = user_id(accounts, user);
            accounts.admin_deactivate(Actor::CommandLine, &id, false).await?;
            report(*output, &id, serde_json::json!({"deactivated": true}), &format!("{id}: deactivated"))
        }
        UserCommand::SetAdmin { user, admin, output } => {
            let id = user_id(accounts, user);
            accounts.set_admin(Actor::CommandLine, &id, *admin).await?;
            let text = if *admin { "now an admin" } else { "no longer an admin" };
            report(*output, &id, serde_json::json!({"admin": admin}), &format!("{id}: {text}"))
        }
    }
}

/// The password read for a command that needs one.
fn needed(password: Option<Secret>) -> anyhow::Result<Secret> {
    password.ok_or_else(|| anyhow::anyhow!("no password was read"))
}

/// Every account the filters keep, page after page.
async fn list(
    accounts: &Accounts,
    admins: bool,
    deactivated: bool,
    name: Option<String>,
) -> anyhow::Result<Vec<UserView>> {
    let mut users = Vec::new();
    let mut from = 0;
    loop {
        let query = UserListQuery {
            from: Some(from),
            limit: Some(PAGE),
            name: name.clone(),
            deactivated: Some(deactivated),
            admins: admins.then_some(true),
            ..UserListQuery::default()
        };
        let page = accounts.list_users(query).await?;
        users.extend(page.users.iter().map(|(id, user)| UserView::new(id.clone(), user)));
        match page.next_token.and_then(|next| next.parse().ok()) {
            Some(next) => from = next,
            None => return Ok(users),
        }
    }
}
