//! The load benchmark of issue 6: a closed-loop HTTP load generator for the
//! account API, the two limit servers it is compared with, the argon2 hash
//! rate, and the tools the side-by-side run needs (seeding a big database,
//! timing start-up, turning result lines into a Markdown table).
//!
//! Why a Rust client and not the Python one in `../shared/bench/`: that one
//! saturates near 3,000 req/s, and the figures to reach are 20–40 times
//! higher. Why closed-loop: every connection waits for its answer before it
//! sends the next request, so the load adapts to the server and the latency
//! percentiles describe the server, not a queue inside the client. Why every
//! answer is checked (status and body): a fast wrong server must not score.
//!
//! ```text
//! cargo bench --bench load -- --base-url http://127.0.0.1:8008 --scenario whoami --concurrency 64 --duration 10
//! cargo bench --bench load -- serve-hyper --listen 127.0.0.1:18010
//! cargo bench --bench load -- argon2 --duration 10
//! cargo bench --bench load -- --help
//! ```
//!
//! `benches/side_by_side.sh` runs everything against our server, Synapse and
//! the limits; `docs/benchmarks.md` explains the figures.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[path = "load/client.rs"]
mod client;
#[path = "load/limits.rs"]
mod limits;
#[path = "load/procstat.rs"]
mod procstat;
#[path = "load/report.rs"]
mod report;
#[path = "load/run.rs"]
mod run;
#[path = "load/scenario.rs"]
mod scenario;
#[path = "load/seed.rs"]
mod seed;
#[path = "load/startup.rs"]
mod startup;

/// Exit code of a measurement whose answers failed their checks: its
/// figures must not be used.
const EXIT_INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "load",
    about = "Closed-loop load generator for the Matrix account API, limit servers and argon2 rate",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// A bare hyper 1 server answering GET /_matrix/client/v3/account/whoami
    /// with a fixed body: the ceiling for whoami-like requests.
    ServeHyper(limits::ServeArgs),
    /// Raw argon2id hash rate on all cores: the ceiling for login and register.
    Argon2(limits::Argon2Args),
    /// Fill a fresh database with N accounts straight through SQLite, and
    /// write a sample of their tokens for --accounts-file.
    Seed(seed::SeedArgs),
    /// Time process start to the first answered request (median of N).
    Startup(startup::StartupArgs),
    /// Turn the JSON result lines of a side-by-side run into Markdown tables.
    Report(report::ReportArgs),
}

fn main() -> ExitCode {
    // `cargo bench` appends `--bench` to the arguments of a harness-less
    // target; it means nothing here.
    let args: Vec<String> = std::env::args().filter(|arg| arg != "--bench").collect();
    if args.len() == 1 {
        // A bare `cargo bench` over the workspace: no server to measure.
        println!("load: nothing to do without arguments; see `cargo bench --bench load -- --help`");
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        None => run::main(cli.run),
        Some(Command::ServeHyper(args)) => limits::serve_hyper(args).map(|()| true),
        Some(Command::Argon2(args)) => limits::argon2(args).map(|()| true),
        Some(Command::Seed(args)) => seed::main(args).map(|()| true),
        Some(Command::Startup(args)) => startup::main(args),
        Some(Command::Report(args)) => report::main(args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_INVALID),
        Err(error) => {
            eprintln!("load: {error:#}");
            ExitCode::FAILURE
        }
    }
}
