//! `specgen watch`: the spec editor's loop. On every save under `api/`,
//! check with the build's rules and print the diagnostics; when they are
//! clean, `cargo build --bin matrix-accounts` and (re)start the server with
//! the arguments given after `--`.
//!
//! Changes are found by polling: every file's modification time and size,
//! every 300 ms. A few hundred `stat`s a tick cost nothing next to the build
//! they trigger, and polling needs no new dependency and sees every way an
//! editor saves (in place, write-and-rename, over a network mount or a
//! container's bind mount), where file-event APIs differ by platform.
//!
//! Ctrl-C in the terminal reaches the whole foreground process group, so it
//! stops `specgen`, a running `cargo build` and the server alike; nothing
//! is left running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, SystemTime};

use clap::Args;

const POLL: Duration = Duration::from_millis(300);
const BINARY: &str = "matrix-accounts";

#[derive(Args)]
pub struct WatchArgs {
    /// The API descriptions to watch.
    #[arg(long, default_value = "api")]
    api: PathBuf,
    /// Only check on each save; build and run nothing.
    #[arg(long)]
    no_server: bool,
    /// Arguments for the server.
    #[arg(last = true)]
    server_args: Vec<String>,
}

/// Every file under a folder with its modification time and size: two
/// snapshots differ exactly when a file was saved, added or removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<PathBuf, (Option<SystemTime>, u64)>);

impl Snapshot {
    pub fn take(dir: &Path) -> Self {
        let mut snapshot = Snapshot::default();
        snapshot.add(dir);
        snapshot
    }

    fn add(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                self.add(&path);
            } else {
                self.0.insert(path, (meta.modified().ok(), meta.len()));
            }
        }
    }
}

pub fn run(args: &WatchArgs) -> ExitCode {
    let mut server: Option<Child> = None;
    let mut last = Snapshot::take(&args.api);
    cycle(args, &mut server);
    loop {
        std::thread::sleep(POLL);
        let now = Snapshot::take(&args.api);
        if now != last {
            last = now;
            cycle(args, &mut server);
        }
        if let Some(child) = &mut server
            && let Ok(Some(status)) = child.try_wait()
        {
            eprintln!("specgen watch: the server exited ({status}); it restarts on the next clean save");
            server = None;
        }
    }
}

/// One save: check, and when clean, build and restart.
fn cycle(args: &WatchArgs, server: &mut Option<Child>) {
    eprintln!("specgen watch: checking {}", args.api.display());
    let spec = specgen::build::load_strict(&args.api);
    for diagnostic in &spec.diagnostics {
        println!("{diagnostic}");
    }
    println!("{}", spec.summary());
    if spec.has_errors() || args.no_server {
        return;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let binary = target.join("debug").join(BINARY);
    let before = modified(&binary);
    let built = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--bin", BINARY])
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("specgen watch: the build failed; the server keeps running as it was");
        return;
    }
    // A save that changed nothing the server is built from (an editor's
    // swap file, a comment) leaves the binary as it was: keep it running.
    if server.is_some() && modified(&binary) == before {
        return;
    }
    if let Some(mut old) = server.take() {
        let _ = old.kill();
        let _ = old.wait();
    }
    match Command::new(&binary).args(&args.server_args).spawn() {
        Ok(child) => {
            eprintln!("specgen watch: started {} (pid {})", binary.display(), child.id());
            *server = Some(child);
        }
        Err(error) => eprintln!("specgen watch: cannot start {}: {error}", binary.display()),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_an_addition_and_a_removal_are_changes() {
        let dir = std::env::temp_dir().join(format!("specgen-watch-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("v3")).unwrap();
        std::fs::write(dir.join("v3/a.yaml"), "a: 1\n").unwrap();
        let first = Snapshot::take(&dir);
        assert_eq!(Snapshot::take(&dir), first, "nothing changed");

        std::fs::write(dir.join("v3/a.yaml"), "a: 12\n").unwrap();
        let saved = Snapshot::take(&dir);
        assert_ne!(saved, first, "a save");

        std::fs::write(dir.join("b.yaml"), "b: 1\n").unwrap();
        let added = Snapshot::take(&dir);
        assert_ne!(added, saved, "an addition");

        std::fs::remove_file(dir.join("b.yaml")).unwrap();
        assert_eq!(Snapshot::take(&dir), saved, "a removal");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
