//! The limits our server is compared with, measured on the same machine in
//! the same run: a bare hyper 1 server answering whoami with a fixed body
//! (what any Rust server can do for a whoami-like request), and the raw
//! argon2id hash rate (what any login or registration with those
//! parameters can do).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use bytes::Bytes;
use clap::Args;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use matrix_accounts::config::Passwords;
use serde_json::json;
use tokio::net::TcpListener;

use crate::scenario::{STATIC_BODY, WHOAMI_PATH};

#[derive(Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:18010")]
    listen: SocketAddr,
    /// Runtime worker threads [default: one per core, like a real server].
    #[arg(long)]
    threads: Option<usize>,
}

fn server_runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads);
    }
    builder.enable_all().build().context("building the server runtime")
}

/// The bare hyper 1 limit server.
pub fn serve_hyper(args: ServeArgs) -> anyhow::Result<()> {
    server_runtime(args.threads)?.block_on(async {
        let listener = TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
        eprintln!("bare hyper limit server on http://{}{WHOAMI_PATH}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("accept: {error}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(answer)).await;
            });
        }
    })
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let found = request.method() == Method::GET && request.uri().path() == WHOAMI_PATH;
    let (status, body) = if found {
        (StatusCode::OK, Bytes::from_static(STATIC_BODY.as_bytes()))
    } else {
        (StatusCode::NOT_FOUND, Bytes::from_static(br#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#))
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[derive(Args)]
pub struct Argon2Args {
    /// Seconds each thread keeps hashing.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Hashing threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    cost: HashCost,
    /// Allocate the argon2 memory anew for every hash, instead of reusing
    /// one buffer per thread as the server does.
    #[arg(long)]
    allocate_per_hash: bool,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "argon2")]
    label: String,
}

/// argon2id parameters, defaulting to the server's own (`[passwords]`).
#[derive(Args)]
pub struct HashCost {
    /// argon2id memory, KiB.
    #[arg(long, default_value_t = Passwords::default().memory_kib)]
    pub memory_kib: u32,
    /// argon2id iterations (t).
    #[arg(long, default_value_t = Passwords::default().iterations)]
    pub iterations: u32,
    /// argon2id lanes (p).
    #[arg(long, default_value_t = Passwords::default().parallelism)]
    pub parallelism: u32,
}

impl HashCost {
    pub fn params(&self) -> anyhow::Result<Params> {
        let passwords = Passwords {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
            ..Passwords::default()
        };
        passwords.argon2_params().map_err(|e| anyhow!("invalid argon2 parameters: {e}"))
    }
}

/// Hashes in a loop on every core and prints hashes per second.
pub fn argon2(args: Argon2Args) -> anyhow::Result<()> {
    let params = args.cost.params()?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let duration = Duration::from_secs_f64(args.duration);
    let start = Arc::new(Barrier::new(threads));
    let failed = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let start = Arc::clone(&start);
            let failed = Arc::clone(&failed);
            let reuse = !args.allocate_per_hash;
            let blocks = if reuse { params.block_count() } else { 0 };
            std::thread::spawn(move || {
                let mut memory = vec![Block::new(); blocks];
                let mut output = [0u8; 32];
                start.wait();
                let began = Instant::now();
                let mut hashes = 0u64;
                while began.elapsed() < duration {
                    let salt = SaltString::generate(&mut OsRng);
                    let ok = if reuse {
                        let mut raw_salt = [0u8; 16];
                        let salt = salt.decode_b64(&mut raw_salt).unwrap_or(b"0123456789abcdef");
                        argon2.hash_password_into_with_memory(b"bench-Passw0rd", salt, &mut output, &mut memory).is_ok()
                    } else {
                        // Exactly what the server does: a PHC string, memory allocated per hash.
                        argon2.hash_password(b"bench-Passw0rd", &salt).is_ok()
                    };
                    if !ok {
                        failed.store(true, Ordering::Relaxed);
                        break;
                    }
                    hashes += 1;
                }
                (hashes, began.elapsed())
            })
        })
        .collect();
    let mut rate = 0.0;
    let mut total = 0;
    let mut thread_ms = Vec::new();
    for worker in workers {
        let (hashes, elapsed) = worker.join().map_err(|_| anyhow!("a hashing thread panicked"))?;
        rate += hashes as f64 / elapsed.as_secs_f64();
        total += hashes;
        thread_ms.push(elapsed.as_secs_f64() * 1000.0 / hashes.max(1) as f64);
    }
    if failed.load(Ordering::Relaxed) {
        anyhow::bail!("argon2 refused to hash with these parameters");
    }
    let ms_per_hash = thread_ms.iter().sum::<f64>() / thread_ms.len() as f64;
    eprintln!(
        "argon2id m={} KiB t={} p={}{}: {rate:.1} hashes/s on {threads} thread(s) ({total} hashes; {ms_per_hash:.1} ms per hash per thread)",
        args.cost.memory_kib,
        args.cost.iterations,
        args.cost.parallelism,
        if args.allocate_per_hash { ", memory allocated per hash" } else { "" }
    );
    if args.json {
        println!(
            "{}",
            json!({
                "kind": "argon2",
                "label": args.label,
                "memory_kib": args.cost.memory_kib,
                "iterations": args.cost.iterations,
                "parallelism": args.cost.parallelism,
                "threads": threads,
                "reuse_memory": !args.allocate_per_hash,
                "hashes": total,
                "hashes_per_s": rate,
                "ms_per_hash": ms_per_hash,
            })
        );
    }
    Ok(())
}
