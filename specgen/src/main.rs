//! `specgen`: check a tree of API descriptions, or generate code from it.
//!
//! `specgen check DIR` prints every diagnostic, one per line, then one
//! summary line (`files=N operations=M examples=K errors=E warnings=W`), and
//! exits 1 when there are errors: structural ones, or example
//! contradictions under `--strict`.
//!
//! `specgen emit DIR --out OUT` writes what a server build would generate
//! (`api.rs`, `openapi.json`, `client.rs`) into OUT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use specgen::Options;

#[derive(Parser)]
#[command(name = "specgen", version, about = "Loads, normalizes and checks Swagger 2.0 / OpenAPI 3.x trees")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load, normalize and check every description under DIR.
    Check(CheckArgs),
    /// Check strictly, then write the generated server code, the published
    /// document and the client into a folder.
    Emit(EmitArgs),
}

/// How to read a tree (shared by every subcommand that reads one).
#[derive(Args)]
struct TreeArgs {
    /// The folder to load.
    dir: PathBuf,
    /// Example/schema contradictions are errors, not warnings.
    #[arg(long)]
    strict: bool,
    /// A text substitution for basePaths and server URLs, KEY=VALUE; the
    /// Matrix placeholder `%CLIENT_MAJOR_VERSION%=v3` is on by default.
    #[arg(long = "placeholder", value_name = "KEY=VALUE", value_parser = parse_placeholder)]
    placeholders: Vec<(String, String)>,
}

impl TreeArgs {
    fn options(&self) -> Options {
        let mut options = Options::matrix();
        options.strict = self.strict;
        for (key, value) in &self.placeholders {
            options.placeholders.retain(|(existing, _)| existing != key);
            options.placeholders.push((key.clone(), value.clone()));
        }
        options
    }
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    tree: TreeArgs,
}

#[derive(Args)]
struct EmitArgs {
    #[command(flatten)]
    tree: TreeArgs,
    /// Where to write `api.rs`, `openapi.json` and `client.rs`.
    #[arg(long)]
    out: PathBuf,
}

fn parse_placeholder(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Emit(args) => emit(&args),
    }
}

fn emit(args: &EmitArgs) -> ExitCode {
    let mut options = args.tree.options();
    options.strict = true;
    let spec = specgen::load_dir(&args.tree.dir, &options);
    for diagnostic in &spec.diagnostics {
        eprintln!("{diagnostic}");
    }
    if spec.has_errors() {
        eprintln!("{}", spec.summary());
        return ExitCode::FAILURE;
    }
    let output = match specgen::emit::emit(&spec, &specgen::emit::EmitOptions::default()) {
        Ok(output) => output,
        Err(error) => {
            eprintln!("specgen: {error}");
            return ExitCode::FAILURE;
        }
    };
    let files = [
        (specgen::build::SERVER_FILE, &output.server),
        (specgen::build::DOCUMENT_FILE, &output.document),
        (specgen::build::CLIENT_FILE, &output.client),
    ];
    for (name, content) in files {
        let path = args.out.join(name);
        if let Err(error) = std::fs::create_dir_all(&args.out).and_then(|()| std::fs::write(&path, content)) {
            eprintln!("specgen: writing {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

fn check(args: &CheckArgs) -> ExitCode {
    let options = args.tree.options();
    if !args.tree.dir.is_dir() {
        eprintln!("specgen: {} is not a folder", args.tree.dir.display());
        return ExitCode::from(2);
    }
    let spec = specgen::load_dir(&args.tree.dir, &options);
    for diagnostic in &spec.diagnostics {
        println!("{diagnostic}");
    }
    println!("{}", spec.summary());
    if spec.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
