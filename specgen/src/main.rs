//! `specgen`: check a tree of API descriptions, generate code from it, or
//! watch it while editing.
//!
//! ```text
//! specgen check DIR [--lenient] [--placeholder KEY=VALUE]…
//! specgen generate [--api DIR] [--out DIR]
//! specgen emit DIR --out DIR
//! specgen watch [--api DIR] [--no-server] [-- SERVER_ARGS…]
//! ```
//!
//! `check` applies the rules of the server's build (strict) unless told
//! `--lenient` (for third-party trees such as the Matrix spec, whose
//! examples often contradict their schemas: those become warnings). It
//! prints every diagnostic, one per line, then one summary line
//! (`files=N operations=M examples=K errors=E warnings=W`), and exits 1 when
//! there are errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use specgen::{Options, Spec};

mod watch;

#[derive(Parser)]
#[command(name = "specgen", version, about = "Loads, normalizes and checks Swagger 2.0 / OpenAPI 3.x trees")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load, normalize and check every description under DIR, with the
    /// build's rules unless --lenient.
    Check(CheckArgs),
    /// Check `api/` with the build's rules and rewrite the committed copies
    /// under `generated/` (api.rs, openapi.json, client.rs).
    Generate(GenerateArgs),
    /// Check strictly, then write the generated server code, the published
    /// document and the client into a folder.
    Emit(EmitArgs),
    /// On every save under `api/`, check; when clean, rebuild and restart the
    /// server with the arguments after `--`. Ctrl-C stops both.
    Watch(watch::WatchArgs),
}

/// How to read a tree (shared by every subcommand that reads one).
#[derive(Args)]
struct TreeArgs {
    /// The folder to load.
    dir: PathBuf,
    /// A text substitution for basePaths and server URLs, KEY=VALUE; the
    /// Matrix placeholder `%CLIENT_MAJOR_VERSION%=v3` is on by default.
    #[arg(long = "placeholder", value_name = "KEY=VALUE", value_parser = parse_placeholder)]
    placeholders: Vec<(String, String)>,
}

impl TreeArgs {
    fn options(&self, strict: bool) -> Options {
        let mut options = Options::matrix();
        options.strict = strict;
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
    /// For third-party trees: examples that contradict their schemas and
    /// operations without `operationId` are warnings, not errors.
    #[arg(long)]
    lenient: bool,
}

#[derive(Args)]
struct GenerateArgs {
    /// The API descriptions.
    #[arg(long, default_value = "api")]
    api: PathBuf,
    /// Where the committed copies live.
    #[arg(long, default_value = "generated")]
    out: PathBuf,
    /// The hand-written handlers, to generate what the build generates
    /// (stubs for groups nothing implements, stubs marked in the document).
    #[arg(long, default_value = "src/http")]
    handlers: PathBuf,
}

#[derive(Args)]
struct EmitArgs {
    #[command(flatten)]
    tree: TreeArgs,
    /// Where to write `api.rs`, `openapi.json`, `docs.html` and `client.rs`.
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
        Command::Generate(args) => {
            let spec = specgen::build::load_strict(&args.api);
            let handlers = args.handlers.is_dir().then_some(args.handlers.as_path());
            write_generated(&spec, &args.out, handlers)
        }
        Command::Emit(args) => {
            let spec = specgen::load_dir(&args.tree.dir, &args.tree.options(true));
            write_generated(&spec, &args.out, None)
        }
        Command::Watch(args) => watch::run(&args),
    }
}

/// Prints the diagnostics; when there are no errors, writes the generated
/// files and says which changed.
fn write_generated(spec: &Spec, out: &std::path::Path, handlers: Option<&std::path::Path>) -> ExitCode {
    for diagnostic in &spec.diagnostics {
        eprintln!("{diagnostic}");
    }
    if spec.has_errors() {
        eprintln!("{}", spec.summary());
        return ExitCode::FAILURE;
    }
    match specgen::build::generate(spec, out, handlers) {
        Ok(written) => {
            for file in written {
                let what = if file.changed { "wrote" } else { "unchanged" };
                println!("{what} {}", file.path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("specgen: {error}");
            ExitCode::FAILURE
        }
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    if !args.tree.dir.is_dir() {
        eprintln!("specgen: {} is not a folder", args.tree.dir.display());
        return ExitCode::from(2);
    }
    let spec = specgen::load_dir(&args.tree.dir, &args.tree.options(!args.lenient));
    for diagnostic in &spec.diagnostics {
        println!("{diagnostic}");
    }
    println!("{}", spec.summary());
    if spec.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
