//! Process start to the first answered request: spawn the server, ask
//! `GET URL` every 0.2 ms until it answers 200, stop it; the median of N.
//!
//! The clock starts just before `spawn` and stops when the answer's status
//! line has been read, so it includes exec, the dynamic loader, opening (and
//! creating) the database and binding the socket. `{n}` in the command is
//! replaced by the run's number, so each run can get a fresh database.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use crate::client::Target;

#[derive(Args)]
pub struct StartupArgs {
    /// What to ask until it answers 200.
    #[arg(long, default_value = "http://127.0.0.1:8008/_matrix/client/versions")]
    url: String,
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "server")]
    label: String,
    /// The server's command line (after `--`); `{n}` becomes the run number.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// One plain HTTP/1.1 GET; whether it answered 200.
fn answers(addr: SocketAddr, request: &[u8]) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_nodelay(true);
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

pub fn main(args: StartupArgs) -> anyhow::Result<bool> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let target = Target::parse(&args.url)?;
    let path = args.url.splitn(4, '/').nth(3).map_or("/".to_owned(), |rest| format!("/{rest}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", target.addr);
    if answers(target.addr, request.as_bytes()) {
        bail!("something already answers {}: stop it first", args.url);
    }
    let mut times = Vec::new();
    for run in 1..=args.runs {
        let argv: Vec<String> = args.command.iter().map(|arg| arg.replace("{n}", &run.to_string())).collect();
        let began = Instant::now();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", argv[0]))?;
        let mut answered = None;
        while began.elapsed().as_secs_f64() < args.timeout {
            if answers(target.addr, request.as_bytes()) {
                answered = Some(began.elapsed());
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the server exited with {status} before answering");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        let elapsed = answered.with_context(|| format!("no answer from {} within {} s", args.url, args.timeout))?;
        eprintln!("run {run}: first answer after {:.2} ms", elapsed.as_secs_f64() * 1000.0);
        times.push(elapsed.as_secs_f64() * 1000.0);
        // Let the port and the machine settle.
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    eprintln!(
        "{}: start → first answer median {median:.2} ms (min {:.2}, max {:.2}, {} runs)",
        args.label,
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len()
    );
    if args.json {
        println!("{}", json!({"kind": "startup", "label": args.label, "median_ms": median, "runs_ms": times}));
    }
    Ok(true)
}
