//! Markdown tables from the JSON result lines of a side-by-side run: the
//! median of each figure over the repeated runs, and the ratios of our
//! server to Synapse and to the limits.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

#[derive(Args)]
pub struct ReportArgs {
    /// Files of JSON lines (`--json` output of the load, argon2, startup, seed).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Label of our server.
    #[arg(long, default_value = "ours")]
    ours: String,
    /// Label of the reference server.
    #[arg(long, default_value = "synapse")]
    peer: String,
    #[arg(long, default_value = "hyper")]
    hyper: String,
    /// Label of an earlier build of our server measured in the same run.
    #[arg(long, default_value = "baseline")]
    baseline: String,
}

const SCENARIOS: [&str; 6] = ["whoami", "threepid_list", "mixed", "login", "register", "static"];

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

/// The runs of one (server, scenario).
struct Group<'a> {
    runs: Vec<&'a Value>,
}

impl Group<'_> {
    fn median(&self, key: &str) -> Option<f64> {
        median(self.runs.iter().filter_map(|run| run[key].as_f64()).collect())
    }

    fn max(&self, key: &str) -> Option<f64> {
        self.runs.iter().filter_map(|run| run[key].as_f64()).reduce(f64::max)
    }

    fn errors(&self) -> u64 {
        self.runs.iter().filter_map(|run| run["errors"].as_u64()).sum()
    }

    fn invalid(&self) -> usize {
        self.runs.iter().filter(|run| run["valid"] != Value::Bool(true)).count()
    }
}

fn num(value: Option<f64>, decimals: usize) -> String {
    match value {
        None => "—".into(),
        Some(v) if decimals == 0 => group_thousands(v.round() as i64),
        Some(v) => format!("{v:.decimals$}"),
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn rate(value: Option<f64>) -> String {
    match value {
        Some(v) if v < 100.0 => format!("{v:.1}"),
        other => num(other, 0),
    }
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            if r >= 10.0 { format!("{r:.0}×") } else { format!("{r:.2}×") }
        }
        _ => "—".into(),
    }
}

pub fn main(args: ReportArgs) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for line in text.lines().filter(|line| line.trim_start().starts_with('{')) {
            lines.push(serde_json::from_str::<Value>(line).with_context(|| format!("{}: {line}", file.display()))?);
        }
    }
    let of_kind = |kind: &'static str| lines.iter().filter(move |line| line["kind"] == kind);

    // (label, scenario) → runs; labels in order of first appearance.
    let mut labels: Vec<String> = Vec::new();
    let mut groups: BTreeMap<(String, String), Group<'_>> = BTreeMap::new();
    for run in of_kind("load") {
        let label = run["label"].as_str().unwrap_or("?").to_owned();
        let scenario = run["scenario"].as_str().unwrap_or("?").to_owned();
        if !labels.contains(&label) {
            labels.push(label.clone());
        }
        groups.entry((label, scenario)).or_insert_with(|| Group { runs: Vec::new() }).runs.push(run);
    }
    let group = |label: &str, scenario: &str| groups.get(&(label.to_owned(), scenario.to_owned()));
    let rps = |label: &str, scenario: &str| group(label, scenario).and_then(|g| g.median("rps"));
    let is_size_label = |label: &str| label.starts_with(&format!("{}@", args.ours));

    println!("### Side by side (median of the runs)\n");
    println!(
        "| scenario | server | conc. | req/s | p50 ms | p99 ms | errors | RSS MiB (peak) | server CPU µs/req | runs |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut scenarios: Vec<&str> = SCENARIOS.to_vec();
    for (_, scenario) in groups.keys() {
        if !scenarios.contains(&scenario.as_str()) {
            scenarios.push(scenario);
        }
    }
    for scenario in &scenarios {
        for label in labels.iter().filter(|label| !is_size_label(label)) {
            let Some(g) = group(label, scenario) else { continue };
            let rss = g.median("server_rss_kib").map(|kib| kib / 1024.0);
            let hwm = g.max("server_hwm_kib").map(|kib| kib / 1024.0);
            let invalid = g.invalid();
            println!(
                "| {scenario} | {label} | {} | {} | {} | {} | {}{} | {} ({}) | {} | {} |",
                g.runs[0]["concurrency"],
                rate(g.median("rps")),
                num(g.median("p50_ms"), 2),
                num(g.median("p99_ms"), 2),
                g.errors(),
                if invalid > 0 { format!(" **INVALID in {invalid} run(s)**") } else { String::new() },
                num(rss, 1),
                num(hwm, 1),
                num(g.median("server_cpu_us_per_op"), 1),
                g.runs.len()
            );
        }
    }
    println!(
        "\nregister: one request = a whole two-step UIA registration (two HTTP requests). \
         The limit servers run the `static` scenario: the same GET as whoami, answered with a fixed body.\n"
    );

    let argon2 = median(of_kind("argon2").filter_map(|line| line["hashes_per_s"].as_f64()).collect());
    let hyper = rps(&args.hyper, "static");

    println!("### Ratios of {} to the reference server and to the limits\n", args.ours);
    println!(
        "| scenario | {} req/s | ÷ {} | ÷ {} | ÷ bare hyper | ÷ argon2 hashes/s |",
        args.ours, args.peer, args.baseline
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for scenario in scenarios.iter().filter(|s| **s != "static") {
        let ours = rps(&args.ours, scenario);
        if ours.is_none() {
            continue;
        }
        let cheap = matches!(*scenario, "whoami" | "threepid_list" | "mixed");
        let hashed = matches!(*scenario, "login" | "register");
        println!(
            "| {scenario} | {} | {} | {} | {} | {} |",
            rate(ours),
            ratio(ours, rps(&args.peer, scenario)),
            ratio(ours, rps(&args.baseline, scenario)),
            if cheap { ratio(ours, hyper) } else { "—".into() },
            if hashed { ratio(ours, argon2) } else { "—".into() },
        );
    }
    println!(
        "\nA two-step registration costs ours one hash (the session keeps the first step's hash and the \
         completing step uses it) and Synapse two, one per step."
    );
    println!();

    println!("### Limits and start-up\n");
    println!("| figure | value |");
    println!("| --- | ---: |");
    for line in of_kind("argon2").take(1) {
        let ms = median(of_kind("argon2").filter_map(|line| line["ms_per_hash"].as_f64()).collect());
        println!(
            "| argon2id m={} KiB t={} p={}, {} threads: hashes/s (ms per hash) | {} ({}) |",
            line["memory_kib"],
            line["iterations"],
            line["parallelism"],
            line["threads"],
            num(argon2, 1),
            num(ms, 1)
        );
    }
    println!("| bare hyper, fixed whoami: req/s | {} |", rate(hyper));
    for line in of_kind("startup") {
        println!(
            "| {}: process start → first answered request, median ms | {} |",
            line["label"].as_str().unwrap_or("?"),
            num(line["median_ms"].as_f64(), 1)
        );
    }
    println!();

    let mut sizes: Vec<(u64, &str)> = labels
        .iter()
        .filter(|label| is_size_label(label))
        .filter_map(|label| label.rsplit_once('@').and_then(|(_, n)| n.parse().ok()).map(|n| (n, label.as_str())))
        .collect();
    sizes.sort();
    if let Some(&(_, smallest)) = sizes.first() {
        println!("### Does the size of the database matter? ({})\n", args.ours);
        println!("| accounts | whoami req/s | whoami p50 ms | ÷ smallest | login req/s | login p50 ms | ÷ smallest |");
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let p50 = |label: &str, scenario: &str| group(label, scenario).and_then(|g| g.median("p50_ms"));
        for (accounts, label) in &sizes {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                group_thousands(*accounts as i64),
                rate(rps(label, "whoami")),
                num(p50(label, "whoami"), 3),
                ratio(p50(label, "whoami"), p50(smallest, "whoami")),
                rate(rps(label, "login")),
                num(p50(label, "login"), 1),
                ratio(p50(label, "login"), p50(smallest, "login")),
            );
        }
        let seeded: Vec<String> = of_kind("seed")
            .map(|line| {
                format!(
                    "{} accounts in {} s ({} MiB)",
                    group_thousands(line["accounts"].as_i64().unwrap_or(0)),
                    num(line["seconds"].as_f64(), 1),
                    num(line["bytes"].as_f64().map(|b| b / 1048576.0), 0)
                )
            })
            .collect();
        if !seeded.is_empty() {
            println!("\nSeeded straight into SQLite (one shared argon2 hash): {}.", seeded.join("; "));
        }
        println!(
            "\nwhoami rotates over the sampled accounts' tokens (see `seed --sample`); login verifies a real \
             argon2id hash, so its p50 is mostly hashing and queueing for the hash permits."
        );
        println!();
    }

    let notes: Vec<&str> = of_kind("note").filter_map(|line| line["text"].as_str()).collect();
    if !notes.is_empty() {
        println!("### Notes from the run\n");
        for note in notes {
            println!("- {note}");
        }
        println!();
    }
    Ok(())
}
