//! Fill a fresh database with N accounts, fast, for the "does the size of
//! the database matter" comparison (1,000 vs 1,000,000 accounts).
//!
//! The schema comes from the server itself: the database is created and
//! migrated by `SqliteStore::open`, so a schema change breaks the inserts
//! below loudly instead of seeding something the server cannot read. Rows
//! are then written the way the store writes them: tokens as the SHA-256 of
//! the token string, passwords as argon2id PHC strings. One hash is computed
//! once and shared by every account (a real one, with the server's default
//! parameters, so a login verifies it at full cost): hashing a million
//! passwords would take hours. Each account gets one device and one
//! non-expiring access token. A sample of `USER_ID TOKEN` lines, spread
//! evenly over the accounts, goes to `--accounts-out` for the load's
//! `--accounts-file`.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Version};
use clap::Args;
use rusqlite::{Connection, params};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::limits::HashCost;
use crate::scenario::{self, Account};

#[derive(Args)]
pub struct SeedArgs {
    /// The database to create (must not exist yet).
    #[arg(long)]
    database: PathBuf,
    /// How many accounts.
    #[arg(long, default_value_t = 1000)]
    accounts: u64,
    /// The password of every account.
    #[arg(long, default_value = "bench-Passw0rd")]
    password: String,
    /// The server name in the user IDs written to --accounts-out.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Write a sample of the accounts (`USER_ID TOKEN` lines) here.
    #[arg(long)]
    accounts_out: Option<PathBuf>,
    /// How many accounts the sample holds, spread evenly over all of them.
    #[arg(long, default_value_t = 1000)]
    sample: u64,
    /// The cost of the shared password hash.
    #[command(flatten)]
    cost: HashCost,
    #[arg(long)]
    json: bool,
}

/// Localparts sort in insertion order (zero-padded), so the `users` and
/// `devices` B-trees are appended to, not split at random.
fn localpart(index: u64) -> String {
    format!("seed{index:09}")
}

/// A token nobody else has: this run's random tag, then the index.
fn token(run: &str, index: u64) -> String {
    format!("mat_seed{run}x{index:012}")
}

pub fn main(args: SeedArgs) -> anyhow::Result<()> {
    if args.database.exists() {
        bail!("{} exists; seed writes a fresh database only", args.database.display());
    }
    let started = Instant::now();
    // The server creates and migrates the schema.
    drop(
        matrix_accounts::store::SqliteStore::open_with_readers(&args.database, 1)
            .map_err(|e| anyhow!("creating {}: {e}", args.database.display()))?,
    );

    let params = args.cost.params()?;
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(args.password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map_err(|e| anyhow!("argon2: {e}"))?
        .to_string();

    let run = scenario::run_id();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let mut conn = Connection::open(&args.database)?;
    // Nothing to protect while seeding: no sync, a big page cache.
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -524288; PRAGMA foreign_keys = OFF;")?;
    let sample_every = (args.accounts / args.sample.clamp(1, args.accounts.max(1))).max(1);
    let mut sample = Vec::new();
    let tx = conn.transaction()?;
    {
        let mut user = tx.prepare(
            "INSERT INTO users (localpart, password_hash, is_guest, deactivated, created_at) VALUES (?1, ?2, 0, 0, ?3)",
        )?;
        let mut device = tx.prepare(
            "INSERT INTO devices (user_id, device_id, display_name, created_at) VALUES (?1, 'SEEDDEVICE', NULL, ?2)",
        )?;
        let mut access = tx.prepare(
            "INSERT INTO access_tokens (token_hash, user_id, device_id, refresh_token_id, expires_at, created_at) \
             VALUES (?1, ?2, 'SEEDDEVICE', NULL, NULL, ?3)",
        )?;
        for index in 0..args.accounts {
            let localpart = localpart(index);
            let token = token(&run, index);
            let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            user.execute(params![localpart, phc, now_ms]).context("inserting a user (schema changed?)")?;
            device.execute(params![localpart, now_ms]).context("inserting a device (schema changed?)")?;
            access.execute(params![&hash[..], localpart, now_ms]).context("inserting a token (schema changed?)")?;
            if index % sample_every == 0 && (sample.len() as u64) < args.sample {
                sample.push(Account::new(format!("@{localpart}:{}", args.server_name), token)?);
            }
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(conn);
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.accounts_out {
        scenario::write_accounts(path, &sample)?;
    }
    let bytes = std::fs::metadata(&args.database).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "seeded {} accounts into {} in {seconds:.1} s ({:.0} MiB); {} sampled",
        args.accounts,
        args.database.display(),
        bytes as f64 / (1024.0 * 1024.0),
        sample.len()
    );
    if args.json {
        println!(
            "{}",
            json!({"kind": "seed", "accounts": args.accounts, "seconds": seconds, "bytes": bytes, "sample": sample.len()})
        );
    }
    Ok(())
}
