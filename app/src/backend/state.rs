//! What every request handler can reach: the pool, the clock, settings.

use std::sync::Arc;

use leptos::config::LeptosOptions;
use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::auth::passwords::{HashPool, PasswordHashString};
use crate::backend::auth::rate_limit::Limits;
use crate::backend::infra::clock::Clock;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::infra::direct::{self, Arg, Columns};
use crate::backend::internal;

/// A handle every request clones (axum's `State`), so it is one `Arc`:
/// cloning the fields themselves cost allocations on every request
/// (measured in docs/BENCHMARKS.md).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// Reads, and writes off the hot paths.
    pub pool: AnyPool,
    /// Where write transactions go (see `db::open_writer`).
    pub writer: crate::backend::infra::db::Writer,
    /// SQLite only: the hottest reads, without sqlx's thread hand-off (see
    /// `infra::direct`).
    pub direct_reads: Option<Arc<crate::backend::infra::direct::Reads>>,
    pub clock: Arc<dyn Clock>,
    pub leptos_options: LeptosOptions,
    /// Verified against for unknown emails (see `passwords::dummy_hash`).
    pub dummy_hash: PasswordHashString,
    /// Bounds concurrent argon2 work (see `passwords::HashPool`).
    pub hash_pool: HashPool,
    pub settings: Arc<Settings>,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<crate::backend::infra::metrics::Metrics>,
    /// The latest requests the access rules refused (admin page).
    pub denials: Arc<crate::backend::authz::Denials>,
}

/// Configuration the rules need, loaded once at startup.
#[derive(Debug)]
pub struct Settings {
    /// Encrypts TOTP secrets and keys backup code hashes.
    pub key: SecretKey,
    pub limits: Limits,
    /// Shown in authenticator apps next to the account.
    pub issuer: String,
    pub mailer: crate::backend::infra::mail::Mailer,
    /// Texts (`--sms-provider`); off unless set.
    pub sms: crate::backend::infra::sms::SmsSender,
    /// Texts the server may send in 24 hours (`--sms-daily-cap`).
    pub sms_daily_cap: i64,
    /// How long a recovery without any factor waits (`--recovery-delay-h`).
    pub recovery_delay_s: i64,
    /// Who may create an account, and how.
    pub signup: crate::backend::auth::signup::SignupMode,
    /// Where people reach Twofold (scheme, host, port; no trailing slash):
    /// the base of every link in a mail.
    pub public_url: String,
    /// `--cookie-domain`: the session cookie is shared by every host under
    /// it (single sign-on for the apps behind forward-auth).
    pub cookie_domain: Option<String>,
    /// What the apps behind forward-auth require (`--access-rules`).
    pub access_rules: crate::backend::authz::AccessRules,
    /// The apps that sign people in through Twofold (`--oidc-clients`).
    pub oidc_clients: crate::backend::oidc::Clients,
    /// The WebAuthn relying party `public_url` makes (or why there is none).
    pub passkeys: crate::backend::factors::passkeys::RelyingParty,
    /// A session unused this long ends (remember-me sessions: see `sessions`).
    pub session_idle_s: i64,
    /// No SMTP: links in mail are also written to the log, so a first local
    /// try works without reading `.eml` files.
    pub log_links: bool,
}

impl Shared {
    /// The first row of a read on a hot path: straight into SQLite where it
    /// can (`infra::direct`), through the pool otherwise.
    pub async fn read_row<T: Columns>(
        &self,
        context: &str,
        sql: &str,
        args: &[Arg],
    ) -> Result<Option<T>, AppError> {
        match &self.direct_reads {
            Some(reads) => reads.row(context, sql, args),
            None => sqlx::query_as_with(sql, direct::sqlx_args(args)?)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| internal(context, e)),
        }
    }

    /// Every row of a read on a hot path (see [`Self::read_row`]).
    pub async fn read_rows<T: Columns>(
        &self,
        context: &str,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<T>, AppError> {
        match &self.direct_reads {
            Some(reads) => reads.rows(context, sql, args),
            None => sqlx::query_as_with(sql, direct::sqlx_args(args)?)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| internal(context, e)),
        }
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
