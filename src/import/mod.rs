//! `matrix-accounts import synapse SOURCE`: moving accounts in from Synapse.
//!
//! Reads a Synapse database ([`synapse`]) and writes its users, 3pids,
//! devices and, with `--sessions`, tokens through
//! [`Store::import_users`], one transaction per batch. A user already here
//! is never overwritten, so a second run imports nothing and an interrupted
//! run, started again, picks up where it stopped. Password hashes come over
//! as they are (bcrypt); login verifies them with
//! `[passwords] bcrypt_pepper` and replaces them by argon2id.

mod postgres_source;
pub mod report;
pub mod synapse;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::store::{ImportOutcome, ImportedCounts, ImportedUser, Millis, Store};
use report::{Report, Skip};
use synapse::SynapseDb;

/// `import`'s sources.
#[derive(Debug, Clone, Subcommand)]
pub enum ImportCommand {
    /// Import the local users of a Synapse homeserver, with their passwords,
    /// 3pids and devices, into this server's database.
    Synapse(SynapseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SynapseArgs {
    /// Synapse's SQLite database file (a `postgres://` URL is not supported yet).
    pub source: String,
    /// Also bring access and refresh tokens, so that clients stay signed in.
    #[arg(long)]
    pub sessions: bool,
    /// Read everything and report what would be imported; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import even though the source's users carry another server name
    /// (their localparts are kept, under this server's name).
    #[arg(long)]
    pub force_server_name: bool,
    /// Print the final report as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Users per transaction: big enough that commits do not dominate, small
/// enough that an interruption loses little work and memory stays flat.
const BATCH_USERS: usize = 1000;


/// Runs the subcommand and prints its report on stdout.
pub fn run(config: &Config, command: &ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Synapse(args) = command;
    let report = import_synapse(config, args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

pub fn import_synapse(config: &Config, args: &SynapseArgs) -> anyhow::Result<Report> {
    let now = now_ms();
    let source = SynapseDb::open(&args.source, args.sessions, now)?;
    let mut report = Report::new(args.source.clone(), source.schema_version()?, args.dry_run);
    check_server_names(&source.server_names()?, &config.server_name, args.force_server_name)?;
    if !args.sessions {
        report.skip(Skip::SessionsNotRequested, source.token_count()?);
    }
    let target = open_target(config, args.dry_run)?;
    let total = source.user_count()?;
    // On a terminal only (indicatif draws nothing when stderr is not one).
    let progress = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template("import {bar:40} {pos}/{len} users, {per_sec}, {eta} left")
            .expect("a valid template"),
    );

    let mut after = String::new();
    loop {
        let batch = source.batch(&after, BATCH_USERS, &mut report)?;
        if batch.read == 0 {
            break;
        }
        report.users_read += batch.read;
        if args.dry_run {
            for user in &batch.users {
                report.record(dry_run_outcome(target.as_deref(), user)?);
            }
        } else if let Some(target) = &target {
            let outcomes = target
                .import_users(&batch.users)
                .with_context(|| format!("writing the users after {after:?} to {}", config.database))?;
            outcomes.into_iter().for_each(|outcome| report.record(outcome));
        }
        progress.inc(batch.read);
        after = batch.last;
    }
    progress.finish_and_clear();
    Ok(report)
}

/// Refuses users of another server name unless `force`: their user IDs
/// here would name this server, so clients and other servers that knew them
/// would not find them.
fn check_server_names(names: &HashMap<String, u64>, ours: &str, force: bool) -> anyhow::Result<()> {
    let mut others: Vec<String> =
        names.iter().filter(|(name, _)| *name != ours).map(|(name, count)| format!("{name} ({count} users)")).collect();
    if others.is_empty() || force {
        return Ok(());
    }
    others.sort();
    bail!(
        "the Synapse database's users belong to {}, not to this server ({ours}); their user IDs would change. \
         Set --server-name (or server_name in the configuration) to theirs, or pass --force-server-name to \
         keep their localparts under {ours}",
        others.join(", ")
    )
}

/// The database written to; for a dry run, the existing one (only read, to
/// tell who is already here; like any start, opening it applies pending
/// schema migrations) or none, which is then not created.
fn open_target(config: &Config, dry_run: bool) -> anyhow::Result<Option<Arc<dyn Store>>> {
    if dry_run && config.database.sqlite_path().is_some_and(|path| !path.exists()) {
        return Ok(None);
    }
    let store = config.database.open().with_context(|| format!("opening the database {}", config.database))?;
    Ok(Some(store))
}

/// What importing `user` would do, without writing: already present, or
/// everything read.
fn dry_run_outcome(target: Option<&dyn Store>, user: &ImportedUser) -> anyhow::Result<ImportOutcome> {
    if let Some(target) = target
        && target.user(&user.localpart)?.is_some()
    {
        return Ok(ImportOutcome::AlreadyPresent);
    }
    let tokens = |device: &crate::store::ImportedDevice| (device.access_tokens.len(), device.refresh_tokens.len());
    let (access, refresh) =
        user.devices.iter().map(tokens).fold((0, 0), |(a, r), (da, dr)| (a + da as u64, r + dr as u64));
    Ok(ImportOutcome::Imported(ImportedCounts {
        threepids: user.threepids.len() as u64,
        devices: user.devices.len() as u64,
        access_tokens: access,
        refresh_tokens: refresh,
        ..ImportedCounts::default()
    }))
}

fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as Millis)
}
