//! What administrators and operators do for others: create admins, list and
//! help accounts (reset a lost second factor, lift a lockout), statistics.
//! The same functions serve the admin API and the `twofold` command line.

use crate::api::{AdminStats, AdminUser, AdminUsersPage, AppError, MfaState, Role};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::passwords::{self, Password};
use crate::backend::auth::rate_limit::{self, Scope};
use crate::backend::policy;
use crate::backend::{AppState, ClientMeta, UserId, auth::validation, factors::mfa, internal};

pub const MAX_PER_PAGE: u32 = 100;
const DAY_S: i64 = 24 * 60 * 60;

/// Who acts, for the audit trail.
#[derive(Debug, Clone)]
pub enum Actor {
    Admin {
        id: UserId,
        email: String,
    },
    /// Someone at the server's command line.
    Operator,
}

impl Actor {
    fn describe(&self) -> String {
        match self {
            Actor::Admin { email, .. } => format!("by admin {email}"),
            Actor::Operator => "by an operator (command line)".to_string(),
        }
    }

    /// The admin signed in with `user`.
    pub async fn admin(state: &AppState, user: UserId) -> Result<Self, AppError> {
        let (email, _) = find_by_id(state, user).await?;
        Ok(Actor::Admin { id: user, email })
    }
}

/// What `twofold admin create` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCreated {
    Created,
    Promoted,
    AlreadyAdmin,
}

/// Creates an admin account, or promotes the existing account with this
/// email (its password is left alone). Only the command line calls this:
/// nothing on the web makes anyone an admin.
///
/// An existing account is promoted only with `promote_existing`: whoever
/// signed up first with the admin's address (before the operator ran this)
/// must not become admin by accident.
pub async fn create_admin(
    state: &AppState,
    email: &str,
    password: Option<String>,
    promote_existing: bool,
) -> Result<AdminCreated, AppError> {
    let email = validation::normalize_email(email)?;
    let now = state.clock.now();
    let meta = ClientMeta::default();
    if let Some((id, role)) = find_by_email(state, &email).await? {
        if role == Role::Admin {
            return Ok(AdminCreated::AlreadyAdmin);
        }
        if !promote_existing {
            return Err(AppError::Conflict {
                message: format!(
                    "An account with {email} already exists, created by whoever signed up with it. \
                     To make that account an admin, run again with --promote-existing."
                ),
            });
        }
        sqlx::query("UPDATE users SET role = 'Admin' WHERE id = $1")
            .bind(id.0)
            .execute(&state.pool)
            .await
            .map_err(|e| internal("promoting an admin", e))?;
        audit::record(
            &state.pool,
            Some(id),
            EventKind::RoleChanged,
            now,
            &meta,
            "Admin, by an operator (command line)",
        )
        .await;
        return Ok(AdminCreated::Promoted);
    }
    let password = password
        .ok_or_else(|| AppError::validation("password", "A new admin account needs a password."))?;
    validation::check_password(&password, &email)?;
    let hash = passwords::hash(&state.hash_pool, Password::new(password)).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (email, password_hash, role, created_at, email_confirmed_at)
         VALUES ($1, $2, 'Admin', $3, $4) RETURNING id",
    )
    .bind(&email)
    .bind(&hash.0)
    .bind(now)
    .bind(now)
    .fetch_one(&state.pool)
    .await
    .map_err(|e| internal("creating an admin", e))?;
    audit::record(
        &state.pool,
        Some(UserId(id)),
        EventKind::Registered,
        now,
        &meta,
        "Admin, by an operator (command line)",
    )
    .await;
    Ok(AdminCreated::Created)
}

async fn find_by_email(state: &AppState, email: &str) -> Result<Option<(UserId, Role)>, AppError> {
    let row: Option<(i64, String)> = sqlx::query_as("SELECT id, role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&state.pool)
        .await
        .map_err(|e| internal("finding an account", e))?;
    Ok(row.map(|(id, role)| (UserId(id), Role::parse(&role).unwrap_or(Role::User))))
}

async fn find_by_id(state: &AppState, user: UserId) -> Result<(String, Role), AppError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT email, role FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("finding an account", e))?;
    let (email, role) = row.ok_or(AppError::NotFound)?;
    Ok((email, Role::parse(&role).unwrap_or(Role::User)))
}

/// The account an admin names by email; unknown ones are 404 (admins may
/// know which accounts exist).
async fn target(state: &AppState, email: &str) -> Result<(UserId, String), AppError> {
    let email = validation::normalize_email(email)?;
    let (id, _) = find_by_email(state, &email)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((id, email))
}

/// Records an admin's action on the admin's own trail too.
async fn record_actor(state: &AppState, actor: &Actor, meta: &ClientMeta, detail: &str) {
    if let Actor::Admin { id, .. } = actor {
        audit::record(
            &state.pool,
            Some(*id),
            EventKind::AdminAction,
            state.clock.now(),
            meta,
            detail,
        )
        .await;
    }
}

/// Resets a user's MFA to `Disabled` when they lost every factor: secret,
/// backup codes, email codes and trusted devices go. Audited on both sides,
/// and the user is told by email.
pub async fn reset_mfa(
    state: &AppState,
    email: &str,
    actor: &Actor,
    meta: &ClientMeta,
) -> Result<MfaState, AppError> {
    let (user, email) = target(state, email).await?;
    let (_, role) = find_by_id(state, user).await?;
    let now = state.clock.now();
    let before = mfa::state_of(&state.pool, user, now).await?;
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    mfa::remove_factors(tx.conn()?, user).await?;
    policy::due_now_if_covered(tx.conn()?, user, now).await?;
    // Whoever holds a session may be the one who took the factors: all end.
    // Apps signed in with the old factors lose their tokens too.
    crate::backend::oidc::tokens::revoke_all(tx.conn()?, user, None, now).await?;
    let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.0)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("ending sessions", e))?
        .rows_affected();
    tx.commit().await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::MfaReset,
        now,
        meta,
        &format!(
            "was {}, {}, {ended} sessions ended",
            before.as_str(),
            actor.describe()
        ),
    )
    .await;
    record_actor(state, actor, meta, &format!("reset MFA of {email}")).await;
    alerts::send(state, user, Alert::MfaReset, meta).await?;
    // An admin's factors guard everyone's: every admin hears of the reset.
    if role == Role::Admin {
        let admins: Vec<i64> = sqlx::query_scalar("SELECT id FROM users WHERE role = 'Admin'")
            .fetch_all(&state.pool)
            .await
            .map_err(|e| internal("listing admins", e))?;
        for admin in admins {
            let alert = Alert::AdminMfaReset {
                target: email.clone(),
            };
            alerts::send(state, UserId(admin), alert, meta).await?;
        }
    }
    Ok(MfaState::Disabled)
}

/// Lifts the account's password and second-factor lockouts.
pub async fn unlock(
    state: &AppState,
    email: &str,
    actor: &Actor,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    let (user, email) = target(state, email).await?;
    rate_limit::reset(&state.writer, &Scope::all_of(user.0, &email)).await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::AccountUnlocked,
        state.clock.now(),
        meta,
        &actor.describe(),
    )
    .await;
    record_actor(state, actor, meta, &format!("unlocked {email}")).await;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    role: String,
    mfa_state: String,
    pending_since: Option<i64>,
    created_at: i64,
    mfa_required_by: Option<i64>,
    last_sign_in_at: Option<i64>,
}

/// Escapes `%`, `_` and `\` so a search is a plain substring match.
fn like_pattern(q: &str) -> String {
    let mut p = String::from("%");
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `GET /api/admin/users`: accounts whose email contains `q`, by email,
/// `per_page` (1 to 100) at a time; `page` starts at 1.
pub async fn list_users(
    state: &AppState,
    q: Option<&str>,
    page: u32,
    per_page: u32,
) -> Result<AdminUsersPage, AppError> {
    if q.is_some_and(|q| q.chars().count() > 254) {
        return Err(AppError::validation("q", "The search is too long."));
    }
    let page = page.max(1);
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    let pattern = like_pattern(q.unwrap_or(""));
    let now = state.clock.now();
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email LIKE $1 ESCAPE '\\'")
            .bind(&pattern)
            .fetch_one(&state.pool)
            .await
            .map_err(|e| internal("counting accounts", e))?;
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT u.id, u.email, u.role, u.mfa_state, t.started_at AS pending_since, u.created_at,
                u.mfa_required_by,
                (SELECT MAX(at) FROM security_events e
                  WHERE e.user_id = u.id AND e.kind = 'LoginSucceeded') AS last_sign_in_at
         FROM users u LEFT JOIN totp_enrolments t ON t.user_id = u.id
         WHERE u.email LIKE $1 ESCAPE '\\'
         ORDER BY u.email LIMIT $2 OFFSET $3",
    )
    .bind(&pattern)
    .bind(i64::from(per_page))
    .bind(i64::from(page - 1) * i64::from(per_page))
    .fetch_all(&state.pool)
    .await
    .map_err(|e| internal("listing accounts", e))?;
    let limits = &state.settings.limits;
    let require = policy::load(&state.pool).await?.require;
    let mut users = Vec::with_capacity(rows.len());
    for r in rows {
        let scopes = Scope::all_of(r.id, &r.email);
        let locked = rate_limit::is_locked(&state.pool, limits, &scopes, now).await?;
        // The same rule `mfa::state_of` applies, from the row already read.
        let stored = MfaState::parse(&r.mfa_state).unwrap_or(MfaState::Disabled);
        let mfa = mfa::effective_state(stored, r.pending_since, now);
        let role = Role::parse(&r.role).unwrap_or(Role::User);
        let policy = policy::standing(require, role, mfa, r.mfa_required_by, now);
        users.push(AdminUser {
            id: r.id,
            email: r.email,
            role,
            mfa,
            created_at: r.created_at,
            last_sign_in_at: r.last_sign_in_at,
            locked,
            mfa_required_by: policy.required_by(),
        });
    }
    Ok(AdminUsersPage {
        users,
        total: u32::try_from(total).unwrap_or(u32::MAX),
        page,
        per_page,
    })
}

async fn count(state: &AppState, sql: &str) -> Result<u32, AppError> {
    let n = sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&state.pool)
        .await
        .map_err(|e| internal("computing statistics", e))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The rule for the enrolment share: one decimal, 0 when there are no accounts.
pub fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (f64::from(part) * 1000.0 / f64::from(whole)).round() / 10.0
}

/// `GET /api/admin/stats`.
pub async fn stats(state: &AppState) -> Result<AdminStats, AppError> {
    let now = state.clock.now();
    let accounts = count(state, "SELECT COUNT(*) FROM users").await?;
    let admins = count(state, "SELECT COUNT(*) FROM users WHERE role = 'Admin'").await?;
    let mfa_enabled = count(
        state,
        "SELECT COUNT(*) FROM users WHERE mfa_state = 'Enabled'",
    )
    .await?;
    let by_kind = |kind: &'static str, since: i64| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM security_events WHERE kind = $1 AND at > $2",
        )
        .bind(kind)
        .bind(since)
        .fetch_one(&state.pool)
        .await
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .map_err(|e| internal("computing statistics", e))
    };
    let locked = rate_limit::locked_accounts(&state.pool, &state.settings.limits, now).await?;
    let mut locked_ids = std::collections::BTreeSet::new();
    for (email, id) in locked {
        let user = match (email, id) {
            (Some(email), _) => find_by_email(state, &email).await?.map(|(id, _)| id.0),
            (None, id) => id,
        };
        if let Some(user) = user {
            locked_ids.insert(user);
        }
    }
    Ok(AdminStats {
        accounts,
        admins,
        mfa_enabled,
        mfa_enabled_percent: percent(mfa_enabled, accounts),
        sign_ins_24h: by_kind("LoginSucceeded", now - DAY_S).await?,
        sign_ins_7d: by_kind("LoginSucceeded", now - 7 * DAY_S).await?,
        failed_factors_24h: by_kind("FactorFailed", now - DAY_S).await?,
        failed_factors_7d: by_kind("FactorFailed", now - 7 * DAY_S).await?,
        active_lockouts: u32::try_from(locked_ids.len()).unwrap_or(u32::MAX),
    })
}

/// Adds someone by email and mails them a link to choose their password
/// (`POST /api/admin/users/invite`, "Invite" on the admin page).
pub async fn invite(
    state: &AppState,
    email: &str,
    actor: &Actor,
    meta: &ClientMeta,
) -> Result<String, AppError> {
    let link = crate::backend::auth::signup::invite(state, email, meta).await?;
    let email = validation::normalize_email(email)?;
    record_actor(state, actor, meta, &format!("invited {email}")).await;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_is_a_plain_substring() {
        assert_eq!(like_pattern(" Ann "), "%ann%");
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn percent_has_one_decimal_and_survives_zero() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(5, 5), 100.0);
    }
}
