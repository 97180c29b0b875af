//! Measures for docs/BENCHMARKS.md, run by scripts/bench.sh:
//!
//! - `argon2 SECONDS`: raw argon2id verifications per second on all cores
//!   (the ceiling for password sign-ins on this machine);
//! - `logins URL[,URL...] SECONDS CONCURRENCY`: password sign-ins per second
//!   against running servers (several: instances on one database, taken in
//!   turn), with latency percentiles;
//! - `get URL SECONDS CONCURRENCY`: plain GETs per second (a baseline);
//! - `factor USERS CONCURRENCY [DATABASE_URL INSTANCES]`: second-factor
//!   verifications per second in-process over HTTP, against a bare axum
//!   "hello" (see factor.rs); on SQLite, or on a PostgreSQL database with
//!   several instances taking turns;
//! - `forward REQUESTS CONCURRENCY`: forward-auth checks per second for a
//!   signed-in session, against the same bare "hello" (see factor.rs);
//! - `metrics SECONDS`: what the per-request metrics middleware costs:
//!   requests recorded per second on all cores at once (they contend).

mod factor;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use app::backend::auth::passwords::{Password, hash_blocking, verify_blocking};
use serde_json::json;

const PASSWORD: &str = "tuba lantern orbit 42";

fn usage() -> ! {
    eprintln!(
        "usage: twofold-bench argon2 SECS | logins URL[,URL] SECS CONC | get URL SECS CONC | factor USERS CONC [DATABASE_URL INSTANCES] | forward REQUESTS CONC | metrics SECS"
    );
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("argon2") => argon2(Duration::from_secs(arg(&args, 2))),
        Some("metrics") => metrics(Duration::from_secs(arg(&args, 2))),
        Some("factor") => {
            let users: usize = arg(&args, 2);
            let conc: usize = arg(&args, 3);
            let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| {
                eprintln!("runtime: {e}");
                std::process::exit(1)
            });
            let database = args.get(4).cloned();
            let instances: usize = if database.is_some() { arg(&args, 5) } else { 1 };
            if let Err(e) = rt.block_on(factor::run(users, conc, database, instances.max(1))) {
                eprintln!("factor bench failed: {e}");
                std::process::exit(1);
            }
        }
        Some("forward") => {
            let requests: usize = arg(&args, 2);
            let conc: usize = arg(&args, 3);
            let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| {
                eprintln!("runtime: {e}");
                std::process::exit(1)
            });
            if let Err(e) = rt.block_on(factor::run_forward(requests, conc)) {
                eprintln!("forward bench failed: {e}");
                std::process::exit(1);
            }
        }
        Some(mode @ ("logins" | "get")) => {
            let url: String = arg(&args, 2);
            let secs: u64 = arg(&args, 3);
            let conc: usize = arg(&args, 4);
            let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| {
                eprintln!("runtime: {e}");
                std::process::exit(1)
            });
            rt.block_on(load(mode == "logins", url, Duration::from_secs(secs), conc));
        }
        _ => usage(),
    }
}

fn argon2(duration: Duration) {
    let Ok(hash) = hash_blocking(&Password::new(PASSWORD.into())) else {
        eprintln!("hashing failed");
        std::process::exit(1)
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < duration {
                    let ok = verify_blocking(&Password::new(PASSWORD.into()), &hash);
                    assert!(ok);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().filter_map(|h| h.join().ok()).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "argon2id verify (m=19456,t=2,p=1): {:.1}/s on {threads} threads",
        total as f64 / secs
    );
}

fn metrics(duration: Duration) {
    let metrics = Arc::new(app::backend::infra::metrics::Metrics::new());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let routes = ["/api/auth/second-factor", "/api/me", "/healthz", "/login"];
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let metrics = metrics.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < duration {
                    // 64 per clock read: reading the clock is not what is measured.
                    for i in 0..64 {
                        let route = routes[(t + i) % routes.len()];
                        metrics.http_request(route, "POST", 200, 0.0004);
                    }
                    n += 64;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().filter_map(|h| h.join().ok()).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "metrics middleware: {:.0} requests recorded/s on {threads} threads ({:.0} ns each)",
        total as f64 / secs,
        secs * 1e9 * threads as f64 / total as f64
    );
}

async fn load(logins: bool, bases: String, duration: Duration, conc: usize) {
    let client = reqwest::Client::new();
    // Several instances (comma-separated URLs): the workers take turns, as
    // behind a round-robin load balancer.
    let bases: Vec<String> = bases.split(',').map(str::to_string).collect();
    let base_of = |i: usize| bases[i % bases.len()].clone();
    // One account per worker, as in a storm of people signing in: one
    // account admits only as many guesses at once as its lockout budget.
    let emails: Vec<String> = (0..conc)
        .map(|i| format!("bench-{}-{i}@example.com", std::process::id()))
        .collect();
    if logins {
        for (i, email) in emails.iter().enumerate() {
            let base = base_of(i);
            let r = client
                .post(format!("{base}/api/auth/register"))
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await;
            if !r.is_ok_and(|r| r.status().is_success()) {
                eprintln!("could not register the bench accounts");
                std::process::exit(1);
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, email) in emails.into_iter().enumerate() {
        let client = client.clone();
        let stop = stop.clone();
        // Each worker's sign-ins go to the instance after the one it
        // registered on.
        let base = base_of(i + 1);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = if logins {
                    client
                        .post(format!("{base}/api/auth/login"))
                        .json(&json!({"email": email, "password": PASSWORD}))
                        .send()
                        .await
                } else {
                    client.get(format!("{base}/healthz")).send().await
                };
                match r {
                    Ok(r) if r.status().is_success() => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "{}: {:.1}/s, p50 {:.1} ms, p99 {:.1} ms, {} ok, {} errors, concurrency {conc}",
        if logins {
            "password sign-ins"
        } else {
            "GET /healthz"
        },
        all.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        all.len(),
        errors
    );
}
