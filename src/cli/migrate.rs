//! `matrix-accounts migrate --from accounts.db --to postgres://…`: moves a
//! deployment from SQLite to PostgreSQL (see [`crate::store::transfer`]).
//!
//! Stop the server first: writes made to the SQLite file during the copy
//! would not come over. The target is refused if it holds anything, unless
//! `--force`, which replaces its contents.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print_json;
use crate::store::transfer::{self, TableCount};

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy (it is migrated to the current schema
    /// first, and otherwise only read).
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into: `postgres://user@host/db`.
    #[arg(long)]
    pub to: String,
    /// Replace what the target holds instead of refusing a non-empty one.
    #[arg(long)]
    pub force: bool,
    /// Print the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &MigrateArgs) -> ExitCode {
    if !args.to.starts_with("postgres://") && !args.to.starts_with("postgresql://") {
        return super::fail(&anyhow::anyhow!("--to must be a postgres:// URL, not {:?}", args.to));
    }
    if !args.from.is_file() {
        return super::fail(&anyhow::anyhow!("no SQLite database at {}", args.from.display()));
    }
    match transfer::sqlite_to_postgres(&args.from, &args.to, args.force) {
        Ok(counts) if args.json => match print_json(&counts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => super::fail(&error),
        },
        Ok(counts) => {
            print_counts(&counts);
            ExitCode::SUCCESS
        }
        Err(error) => super::fail(&error.into()),
    }
}

fn print_counts(counts: &[TableCount]) {
    println!("{:<20} {:>10} {:>10}", "table", "sqlite", "postgres");
    for count in counts {
        println!("{:<20} {:>10} {:>10}", count.table, count.source, count.target);
    }
    println!("copied; every table's count matches");
}
