//! The closed loop: N workers, each with its own connection, each sending
//! its next request as soon as the previous answer is checked.
//!
//! Timeline: connect every worker, run `--warmup` seconds unmeasured, then
//! measure `--duration` seconds. Throughput and latency count the
//! operations that *complete* inside the window (the usual closed-loop
//! measure: in a steady state, completions per second is the throughput);
//! an operation still in flight at the end is dropped, not counted. Errors
//! are counted over warm-up and window together, so a server that fails
//! only while warming up is caught too. The server's CPU time is sampled
//! from `/proc` at the two edges of the window, its memory at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use http::HeaderValue;
use serde_json::{Value, json};

use crate::client::{Connection, Target};
use crate::procstat;
use crate::scenario::{
    self, DEFAULT_MIX, Failure, Mix, Op, Rng, STATIC_BODY, Scenario, Shared, WHOAMI_PATH, WorkerState,
};

#[derive(Args, Clone)]
pub struct RunArgs {
    /// The server, http://HOST:PORT on a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:8008")]
    base_url: String,
    /// Other instances of the same server (on one shared database): the
    /// connections are spread over all of them, round robin, as a load
    /// balancer would. --pid still names one process.
    #[arg(long)]
    also_base_url: Vec<String>,
    #[arg(long, value_enum, default_value = "whoami")]
    scenario: Scenario,
    /// Concurrent connections, one closed-loop worker each.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured load before the window, seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Accounts to register through the API before measuring (login, whoami,
    /// threepid_list, mixed), unless --accounts-file gives them.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Password of the registered accounts (and of the seeded ones).
    #[arg(long, default_value = "bench-Passw0rd")]
    password: String,
    /// Existing accounts, one `USER_ID ACCESS_TOKEN` per line (written by
    /// --accounts-out or by `seed`); all must have --password.
    #[arg(long)]
    accounts_file: Option<PathBuf>,
    /// Write the accounts registered by the preparation step here.
    #[arg(long)]
    accounts_out: Option<PathBuf>,
    /// Registrations in parallel during preparation.
    #[arg(long, default_value_t = 8)]
    prepare_concurrency: usize,
    /// The server's process ID: report its RSS and CPU time per request.
    #[arg(long)]
    pid: Option<u32>,
    /// Client runtime worker threads (default 1: leave the cores to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON line with the result on standard output.
    #[arg(long)]
    json: bool,
    /// Name of the server in the JSON result (ours, synapse, hyper…).
    #[arg(long, default_value = "server")]
    label: String,
    /// The blend of `mixed`: NAME=WEIGHT,… over register, login, whoami, threepid_list.
    #[arg(long, default_value = DEFAULT_MIX)]
    mix: String,
    /// The path `static` requests.
    #[arg(long, default_value = WHOAMI_PATH)]
    path: String,
    /// Per-operation timeout, seconds (a timeout is an error and reconnects).
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Largest error rate of a valid run (0.001 = 0.1%); above it, or when an
    /// operation never succeeds, the exit code is 2.
    #[arg(long, default_value_t = 0.001)]
    max_error_rate: f64,
}

/// Returns whether the measurement is valid.
pub fn main(args: RunArgs) -> anyhow::Result<bool> {
    if args.concurrency == 0 || args.threads == 0 {
        bail!("--concurrency and --threads must be at least 1");
    }
    if !(args.duration > 0.0 && args.warmup >= 0.0 && args.timeout > 0.0) {
        bail!("--duration and --timeout must be positive, --warmup not negative");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("building the client runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let target = Target::parse(&args.base_url)?;
    let mut targets = vec![target.clone()];
    for url in &args.also_base_url {
        targets.push(Target::parse(url)?);
    }
    let run_id = scenario::run_id();
    let mix = Mix::for_scenario(args.scenario, &args.mix)?;

    let needs_accounts = args.scenario.needs_accounts() || args.scenario == Scenario::Prepare;
    let accounts = match (&args.accounts_file, needs_accounts) {
        (_, false) => Vec::new(),
        (Some(path), true) if args.scenario != Scenario::Prepare => {
            let accounts = scenario::read_accounts(path)?;
            eprintln!("using {} accounts from {}", accounts.len(), path.display());
            accounts
        }
        _ => {
            let started = Instant::now();
            let accounts =
                scenario::prepare_accounts(&target, args.users, &args.password, &run_id, args.prepare_concurrency)
                    .await?;
            eprintln!(
                "registered {} accounts in {:.1} s (not measured)",
                accounts.len(),
                started.elapsed().as_secs_f64()
            );
            if let Some(path) = &args.accounts_out {
                scenario::write_accounts(path, &accounts)?;
                eprintln!("wrote them to {}", path.display());
            }
            accounts
        }
    };
    if args.scenario == Scenario::Prepare {
        return Ok(true);
    }
    if args.scenario.needs_accounts() && accounts.is_empty() {
        bail!("scenario {} needs accounts: --users 0 and no --accounts-file", args.scenario.name());
    }

    let shared = Arc::new(Shared {
        accounts,
        password: args.password.clone(),
        run_id,
        mix: mix.clone(),
        static_path: Box::leak(args.path.clone().into_boxed_str()),
        static_body: Bytes::from_static(STATIC_BODY.as_bytes()),
        static_auth: HeaderValue::from_static("Bearer static-limit-benchmark"),
    });

    let mut connections = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        connections.push(Connection::open(&targets[i % targets.len()]).await?);
    }
    let start = Instant::now();
    let window_start = start + Duration::from_secs_f64(args.warmup);
    let window_end = window_start + Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_secs_f64(args.timeout);

    let workers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(worker, conn)| {
            let shared = Arc::clone(&shared);
            let target = targets[worker % targets.len()].clone();
            let concurrency = args.concurrency;
            tokio::spawn(async move {
                let state = WorkerState::new(worker, concurrency, shared.accounts.len());
                work(conn, target, shared, state, window_start, window_end, timeout).await
            })
        })
        .collect();

    let pid = args.pid.map(|pid| pid.to_string());
    tokio::time::sleep_until(window_start.into()).await;
    let server_cpu_before = pid.as_deref().map(procstat::cpu_us).transpose()?;
    let client_cpu_before = procstat::cpu_us("self")?;
    let measured_from = Instant::now();
    tokio::time::sleep_until(window_end.into()).await;
    let server_cpu_after = pid.as_deref().map(procstat::cpu_us).transpose()?;
    let client_cpu_after = procstat::cpu_us("self")?;
    let window = measured_from.elapsed().as_secs_f64();
    let memory = pid.as_deref().map(procstat::memory_kib).transpose()?;

    let mut total = Stats::new();
    for worker in workers {
        total.merge(worker.await.context("a worker panicked")?);
    }

    let result = Outcome {
        args: &args,
        mix: &mix,
        stats: &total,
        window,
        server_cpu_us: server_cpu_before.zip(server_cpu_after).map(|(before, after)| after.saturating_sub(before)),
        client_cpu_us: client_cpu_after.saturating_sub(client_cpu_before),
        memory,
    };
    let json = result.to_json();
    result.print_human(&json);
    if args.json {
        println!("{json}");
    }
    Ok(json["valid"] == Value::Bool(true))
}

/// One worker's loop; returns what it counted.
async fn work(
    mut conn: Connection,
    target: Target,
    shared: Arc<Shared>,
    mut state: WorkerState,
    window_start: Instant,
    window_end: Instant,
    timeout: Duration,
) -> Stats {
    let mut stats = Stats::new();
    let mut rng = Rng::new(0x5EED ^ (state.worker as u64).wrapping_mul(0x9E37_79B9));
    loop {
        let started = Instant::now();
        if started >= window_end {
            break;
        }
        let op = shared.mix.pick(&mut rng);
        let deadline = started + timeout;
        let outcome = tokio::time::timeout_at(
            deadline.min(window_end).into(),
            scenario::execute(op, &mut conn, &shared, &mut state),
        )
        .await;
        let done = Instant::now();
        let failure = match outcome {
            Ok(Ok(_)) => {
                stats.ok(op, done >= window_start, done.duration_since(started));
                continue;
            }
            // Cut off by the end of the window: neither success nor error.
            Err(_) if deadline >= window_end => break,
            Err(_) => Failure::timeout(op),
            Ok(Err(failure)) => failure,
        };
        let broken = failure.broken;
        stats.error(op, done >= window_start, failure);
        if broken {
            match reconnect(&target, window_end).await {
                Some(fresh) => conn = fresh,
                None => break,
            }
        }
    }
    stats
}

async fn reconnect(target: &Target, until: Instant) -> Option<Connection> {
    while Instant::now() < until {
        if let Ok(conn) = Connection::open(target).await {
            return Some(conn);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// Counts per operation kind.
struct OpStats {
    /// Successes inside the window (the throughput).
    ok: u64,
    /// Successes during warm-up.
    ok_warmup: u64,
    errors: u64,
    errors_warmup: u64,
    /// Latency of the window's successes, µs.
    latency: Histogram<u64>,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            ok: 0,
            ok_warmup: 0,
            errors: 0,
            errors_warmup: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
        }
    }
}

struct Stats {
    ops: Vec<OpStats>,
    /// Failure kind → (count, first example).
    failures: BTreeMap<String, (u64, String)>,
}

impl Stats {
    fn new() -> Stats {
        Stats { ops: Op::ALL.iter().map(|_| OpStats::new()).collect(), failures: BTreeMap::new() }
    }

    fn ok(&mut self, op: Op, in_window: bool, latency: Duration) {
        let stats = &mut self.ops[op.index()];
        if in_window {
            stats.ok += 1;
            stats.latency.saturating_record(latency.as_micros().max(1) as u64);
        } else {
            stats.ok_warmup += 1;
        }
    }

    fn error(&mut self, op: Op, in_window: bool, failure: Failure) {
        let stats = &mut self.ops[op.index()];
        if in_window {
            stats.errors += 1;
        } else {
            stats.errors_warmup += 1;
        }
        self.failures.entry(failure.kind).or_insert_with(|| (0, failure.detail)).0 += 1;
    }

    fn merge(&mut self, other: Stats) {
        for (mine, theirs) in self.ops.iter_mut().zip(other.ops) {
            mine.ok += theirs.ok;
            mine.ok_warmup += theirs.ok_warmup;
            mine.errors += theirs.errors;
            mine.errors_warmup += theirs.errors_warmup;
            mine.latency.add(&theirs.latency).expect("histograms of equal bounds");
        }
        for (kind, (count, example)) in other.failures {
            self.failures.entry(kind).or_insert_with(|| (0, example)).0 += count;
        }
    }
}

struct Outcome<'a> {
    args: &'a RunArgs,
    mix: &'a Mix,
    stats: &'a Stats,
    window: f64,
    server_cpu_us: Option<u64>,
    client_cpu_us: u64,
    memory: Option<(u64, u64)>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Outcome<'_> {
    fn to_json(&self) -> Value {
        let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        let (mut ok, mut errors, mut attempts_all, mut http_requests) = (0u64, 0u64, 0u64, 0u64);
        let mut valid = true;
        let mut reasons = Vec::new();
        let mut per_op = serde_json::Map::new();
        for op in Op::ALL.into_iter().filter(|op| self.mix.uses(*op)) {
            let stats = &self.stats.ops[op.index()];
            all.add(&stats.latency).expect("histograms of equal bounds");
            ok += stats.ok;
            errors += stats.errors + stats.errors_warmup;
            http_requests += stats.ok * op.http_requests();
            let attempts = stats.ok + stats.ok_warmup + stats.errors + stats.errors_warmup;
            attempts_all += attempts;
            let op_errors = stats.errors + stats.errors_warmup;
            if attempts > 0 && stats.ok + stats.ok_warmup == 0 {
                valid = false;
                reasons.push(format!("{}: no answer passed its checks", op.name()));
            } else if attempts > 0 && op_errors as f64 / attempts as f64 > self.args.max_error_rate {
                valid = false;
                reasons.push(format!("{}: {op_errors} of {attempts} failed", op.name()));
            }
            per_op.insert(
                op.name().into(),
                json!({
                    "ok": stats.ok,
                    "errors": op_errors,
                    "rps": stats.ok as f64 / self.window,
                    "p50_ms": ms(stats.latency.value_at_quantile(0.5)),
                    "p99_ms": ms(stats.latency.value_at_quantile(0.99)),
                }),
            );
        }
        if ok == 0 {
            valid = false;
            reasons.push(
                "no operation passed its checks inside the window (a wrong server, or --duration too short)".into(),
            );
        }
        let per_op_cpu = |micros: u64| if ok == 0 { Value::Null } else { json!(micros as f64 / ok as f64) };
        let failures: serde_json::Map<String, Value> = self
            .stats
            .failures
            .iter()
            .map(|(kind, (count, example))| (kind.clone(), json!({"count": count, "example": example})))
            .collect();
        json!({
            "kind": "load",
            "label": self.args.label,
            "scenario": self.args.scenario.name(),
            "base_url": self.args.base_url,
            "concurrency": self.args.concurrency,
            "client_threads": self.args.threads,
            "duration_s": self.window,
            "warmup_s": self.args.warmup,
            "accounts": self.args.users,
            "mix": self.mix.describe(),
            "ops": ok,
            "http_requests": http_requests,
            "rps": ok as f64 / self.window,
            "p50_ms": ms(all.value_at_quantile(0.5)),
            "p90_ms": ms(all.value_at_quantile(0.9)),
            "p99_ms": ms(all.value_at_quantile(0.99)),
            "max_ms": ms(all.max()),
            "errors": errors,
            "error_rate": if attempts_all == 0 { 0.0 } else { errors as f64 / attempts_all as f64 },
            "failures": failures,
            "per_op": per_op,
            "server_rss_kib": self.memory.map(|(rss, _)| rss),
            "server_hwm_kib": self.memory.map(|(_, hwm)| hwm),
            "server_cpu_us_per_op": self.server_cpu_us.map_or(Value::Null, per_op_cpu),
            "server_cores": self.server_cpu_us.map(|micros| micros as f64 / 1e6 / self.window),
            "client_cpu_us_per_op": per_op_cpu(self.client_cpu_us),
            "client_cores": self.client_cpu_us as f64 / 1e6 / self.window,
            "valid": valid,
            "invalid_because": reasons,
        })
    }

    fn print_human(&self, json: &Value) {
        let args = self.args;
        let f = |key: &str| json[key].as_f64().unwrap_or(f64::NAN);
        eprintln!(
            "{} {} against {} ({}): {} connections, {} client thread(s), {:.1} s window after {} s warm-up",
            args.label,
            args.scenario.name(),
            args.base_url,
            self.mix.describe(),
            args.concurrency,
            args.threads,
            self.window,
            args.warmup
        );
        eprintln!(
            "  throughput {:.1} ops/s ({} ops, {} HTTP requests){}",
            f("rps"),
            json["ops"],
            json["http_requests"],
            if args.scenario == Scenario::Register { "; one op = both UIA steps" } else { "" }
        );
        eprintln!(
            "  latency    p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
            f("p50_ms"),
            f("p90_ms"),
            f("p99_ms"),
            f("max_ms")
        );
        eprintln!("  errors     {} ({:.4}%)", json["errors"], 100.0 * f("error_rate"));
        for (kind, failure) in json["failures"].as_object().into_iter().flatten() {
            eprintln!("    {kind}: {} × e.g. {}", failure["count"], failure["example"].as_str().unwrap_or(""));
        }
        if args.scenario == Scenario::Mixed {
            for (op, stats) in json["per_op"].as_object().into_iter().flatten() {
                eprintln!(
                    "    {op:<14} {:>10.1} ops/s  p50 {:.3} ms  p99 {:.3} ms  errors {}",
                    stats["rps"].as_f64().unwrap_or(0.0),
                    stats["p50_ms"].as_f64().unwrap_or(0.0),
                    stats["p99_ms"].as_f64().unwrap_or(0.0),
                    stats["errors"]
                );
            }
        }
        if let Some((rss, hwm)) = self.memory {
            eprintln!(
                "  server     RSS {:.1} MiB (peak {:.1} MiB), CPU {:.1} µs/op ({:.2} cores)",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0,
                f("server_cpu_us_per_op"),
                f("server_cores")
            );
        }
        eprintln!("  client     CPU {:.1} µs/op ({:.2} cores)", f("client_cpu_us_per_op"), f("client_cores"));
        if json["valid"] != Value::Bool(true) {
            eprintln!("  INVALID: {}", json["invalid_because"]);
        }
    }
}
