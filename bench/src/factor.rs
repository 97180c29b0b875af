//! Second-factor verifications per second through the real HTTP endpoint
//! (challenge lookup, rate-limit check, TOTP check, the replay-guard UPDATE,
//! session INSERT, audit rows) against a bare axum "hello" measured by the
//! same load loop in the same run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::backend::factors::totp::TotpSecret;
use app::backend::infra::clock::FixedClock;
use app::backend::{UserId, auth::challenges, factors::mfa};
use axum::routing::get;
use twofold_server::config::SecurityArgs;

const T0: i64 = 1_800_000_000;

struct Report {
    ok: usize,
    errors: usize,
    secs: f64,
    latencies: Vec<Duration>,
}

impl Report {
    fn line(&self, what: &str, conc: usize) -> String {
        let mut l = self.latencies.clone();
        l.sort();
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        format!(
            "{what}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms ({} ok, {} errors, concurrency {conc})",
            self.ok as f64 / self.secs,
            pct(0.5),
            pct(0.99),
            self.ok,
            self.errors
        )
    }
}

/// The baseline: a bare axum "hello" on a free port.
async fn start_hello() -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let hello = axum::Router::new().route("/", get(|| async { "hello" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, hello).await;
    });
    Ok(addr)
}

/// Serves the whole app on `listener`, believing `X-Forwarded-For` from this
/// host (the load tool plays the proxy in front of it).
fn serve_behind_local_proxy(
    listener: tokio::net::TcpListener,
    state: app::backend::AppState,
) -> Result<(), String> {
    let options = twofold_server::RouterOptions {
        trusted_proxies: twofold_server::client_ip::TrustedProxies::parse(&["127.0.0.1".into()])
            .map_err(|e| e.to_string())?,
        ..Default::default()
    };
    let app = twofold_server::router_with(state, &options);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(())
}

/// Sends each prepared request once, `conc` at a time.
async fn drive(requests: Vec<reqwest::RequestBuilder>, conc: usize) -> Report {
    let requests = Arc::new(std::sync::Mutex::new(requests));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let requests = requests.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            loop {
                let next = requests.lock().ok().and_then(|mut r| r.pop());
                let Some(req) = next else { break };
                let t = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut report = Report {
        ok: 0,
        errors: 0,
        secs: 0.0,
        latencies: Vec::new(),
    };
    for t in tasks {
        if let Ok((lat, errors)) = t.await {
            report.ok += lat.len();
            report.errors += errors;
            report.latencies.extend(lat);
        }
    }
    report.secs = start.elapsed().as_secs_f64();
    report
}

/// `instances` Twofold instances (each its own router, pools and state, as
/// separate processes would have) on the database `database` names (the
/// data directory's SQLite file when `None`), sharing one key.
pub async fn run(
    users: usize,
    conc: usize,
    database: Option<String>,
    instances: usize,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let clock = FixedClock::new(T0);
    // Limits out of the way: this measures the work, not the lockout.
    let key: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let security = SecurityArgs {
        ip_max_failures: u32::MAX,
        secret_key_hex: Some(key),
        ..SecurityArgs::default()
    };
    let data = twofold_server::config::DataArgs {
        data_dir: dir.path().to_path_buf(),
        database_url: database,
    };
    let mut servers = Vec::new();
    for _ in 0..instances {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
        let state =
            twofold_server::startup::build_state(&data, addr, Arc::new(clock.clone()), &security)
                .await
                .map_err(|e| e.to_string())?;
        servers.push((listener, addr, state));
    }
    let state = servers[0].2.clone();

    // Users with TOTP on and a pending challenge each, written directly: the
    // setup is not what is measured.
    let secret = TotpSecret::generate();
    let code = secret.code_at(T0);
    let mut tokens = Vec::with_capacity(users);
    for i in 0..users {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO users (email, password_hash, mfa_state, created_at)
             VALUES ($1, 'unused', 'Enabled', $2) RETURNING id",
        )
        .bind(format!("bench-{i}@example.com"))
        .bind(T0)
        .fetch_one(&state.pool)
        .await
        .map_err(|e| e.to_string())?;
        let sealed = mfa::seal_secret(&state.settings.key, UserId(id), &secret);
        let (factor,): (i64,) = sqlx::query_as(
            "INSERT INTO factors (user_id, kind, name, created_at)
             VALUES ($1, 'Totp', 'bench', $2) RETURNING id",
        )
        .bind(id)
        .bind(T0)
        .fetch_one(&state.pool)
        .await
        .map_err(|e| e.to_string())?;
        sqlx::query("INSERT INTO totp_factors (factor_id, secret_enc) VALUES ($1, $2)")
            .bind(factor)
            .bind(sealed)
            .execute(&state.pool)
            .await
            .map_err(|e| e.to_string())?;
        let token = challenges::create(&state.pool, UserId(id), false, T0)
            .await
            .map_err(|e| e.to_string())?;
        tokens.push(token);
    }
    // People sign in from many addresses: each request comes through a
    // trusted proxy (this host) with an address of its own, so each counts
    // against its own address budget, as in real traffic. (From a single
    // address every sign-in would also share one address scope, and on
    // PostgreSQL its lock.)
    let mut addrs = Vec::new();
    for (listener, addr, state) in servers {
        serve_behind_local_proxy(listener, state)?;
        addrs.push(addr);
    }

    let hello_addr = start_hello().await?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()
        .map_err(|e| e.to_string())?;
    // Ten times as many: the baseline is fast, and a short run is noisy.
    let hello_requests = (0..users * 10)
        .map(|_| client.get(format!("http://{hello_addr}/")))
        .collect();
    let baseline = drive(hello_requests, conc).await;
    let factor_requests = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let addr = addrs[i % addrs.len()];
            client
                .post(format!("http://{addr}/api/auth/second-factor"))
                .header(
                    "x-forwarded-for",
                    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
                )
                .header(
                    "cookie",
                    format!("{}={}", challenges::CHALLENGE_COOKIE, t.expose()),
                )
                .json(&serde_json::json!({"method": "Totp", "code": code, "trust_device": false}))
        })
        .collect();
    let factor = drive(factor_requests, conc).await;
    println!("{}", baseline.line("bare axum GET / (baseline)", conc));
    println!(
        "{}",
        factor.line(
            &format!(
                "second-factor verifications (TOTP, replay guard, session; {instances} instance{})",
                if instances == 1 { "" } else { "s" }
            ),
            conc
        )
    );
    if factor.errors > 0 {
        return Err(format!("{} verifications failed", factor.errors));
    }
    Ok(())
}

/// Forward-auth checks per second: a proxy asking about a request of a
/// signed-in two-factor session (session lookup, who it is, the rules), as
/// every request of every protected app does; against the same bare
/// "hello" in the same run.
pub async fn run_forward(requests: usize, conc: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let clock = FixedClock::new(T0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\ndomain = \"public.example.com\"\npolicy = \"bypass\"\n\n\
         [[rules]]\ndomain = \"*.example.com\"\npath = \"/admin\"\npolicy = \"deny\"\n\n\
         [[rules]]\ndomain = \"*.example.com\"\npolicy = \"two_factor\"\n",
    )
    .map_err(|e| e.to_string())?;
    let security = SecurityArgs {
        access_rules: Some(rules),
        ..SecurityArgs::default()
    };
    let state = twofold_server::startup::build_state(
        &twofold_server::config::DataArgs::dir(dir.path()),
        addr,
        Arc::new(clock),
        &security,
    )
    .await
    .map_err(|e| e.to_string())?;
    let (user,): (i64,) = sqlx::query_as(
        "INSERT INTO users (email, password_hash, mfa_state, created_at)
         VALUES ('bench@example.com', 'unused', 'Enabled', $1) RETURNING id",
    )
    .bind(T0)
    .fetch_one(&state.pool)
    .await
    .map_err(|e| e.to_string())?;
    let token = app::backend::auth::sessions::SessionToken::generate();
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at,
         password_at, factor_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.hash())
    .bind(user)
    .bind(T0)
    .bind(T0 + 3600)
    .bind(T0)
    .bind(T0)
    .bind(T0)
    .execute(&state.pool)
    .await
    .map_err(|e| e.to_string())?;
    serve_behind_local_proxy(listener, state)?;
    let hello_addr = start_hello().await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()
        .map_err(|e| e.to_string())?;
    let baseline = drive(
        (0..requests)
            .map(|_| client.get(format!("http://{hello_addr}/")))
            .collect(),
        conc,
    )
    .await;
    let cookie = format!("__Host-twofold_session={}", token.expose());
    let checks = drive(
        (0..requests)
            .map(|i| {
                client
                    .get(format!("http://{addr}/api/authz/forward-auth"))
                    .header("x-forwarded-proto", "https")
                    .header("x-forwarded-host", "grafana.example.com")
                    .header("x-forwarded-uri", format!("/d/{i}"))
                    .header("x-forwarded-method", "GET")
                    .header("cookie", &cookie)
            })
            .collect(),
        conc,
    )
    .await;
    println!("{}", baseline.line("bare axum GET / (baseline)", conc));
    println!(
        "{}",
        checks.line(
            "forward-auth checks (two-factor session, three rules)",
            conc
        )
    );
    if checks.errors > 0 {
        return Err(format!("{} checks were not 200", checks.errors));
    }
    Ok(())
}
