//! `/api/admin/*`: only for the admin role (403 for anyone else, whatever
//! the body), and every change needs a re-authentication from the last 10
//! minutes. Plain form posts from the admin page are answered with a
//! redirect back to it.

use app::api::{AdminStats, AdminUsersPage, AppError, MfaPolicy, MfaStatus, UserEmailRequest};
use app::backend::admin::{self, Actor};
use app::backend::auth::sessions::Live;
use app::backend::{AppState, ClientMeta, auth::access, policy};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use http::HeaderMap;
use serde::Deserialize;

use super::input::{ClientInfo, Input, answer};

const ADMIN_PAGE: &str = "/admin";

#[derive(Debug, Deserialize)]
pub struct UsersQuery {
    q: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

pub async fn users(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AdminUsersPage>, AppError> {
    access::admin(&state, &headers).await?;
    let Query(q) = query.map_err(|_| AppError::BadRequest {
        message: "Use ?q=<text>&page=<1..>&per_page=<1-100>.".into(),
    })?;
    Ok(Json(
        admin::list_users(
            &state,
            q.q.as_deref(),
            q.page.unwrap_or(1),
            q.per_page.unwrap_or(20),
        )
        .await?,
    ))
}

pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AdminStats>, AppError> {
    access::admin(&state, &headers).await?;
    Ok(Json(admin::stats(&state).await?))
}

/// `GET /api/admin/access`: the forward-auth rules and recent refusals.
pub async fn access_rules(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<app::api::AccessOverview>, AppError> {
    access::admin(&state, &headers).await?;
    Ok(Json(app::backend::authz::overview(&state)))
}

pub async fn policy(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<MfaPolicy>, AppError> {
    access::admin(&state, &headers).await?;
    Ok(Json(policy::load(&state.pool).await?))
}

/// The admin behind a change: role first (403), then the body, then the
/// re-authentication window.
async fn acting_admin<T>(
    state: &AppState,
    headers: &HeaderMap,
    input: Result<Input<T>, AppError>,
) -> Result<(Live, Input<T>), AppError> {
    let live = access::admin(state, headers).await?;
    let input = input?;
    access::require_fresh(state, &live).await?;
    Ok((live, input))
}

pub async fn set_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<MfaPolicy>, AppError>,
) -> Response {
    let mode = mode_of(&input);
    let result = async {
        let (live, Input { value, .. }) = acting_admin(&state, &headers, input).await?;
        policy::save(&state, Some(live.user), value, &meta).await
    }
    .await;
    answer_admin(mode, result, "policy")
}

/// What an admin does for one account, named in the request body.
#[derive(Debug, Clone, Copy)]
enum UserAction {
    ResetMfa,
    Unlock,
    Invite,
}

/// Adds someone and mails them a link to choose a password.
pub async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<UserEmailRequest>, AppError>,
) -> Response {
    user_action(&state, &headers, &meta, input, UserAction::Invite).await
}

pub async fn reset_mfa(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<UserEmailRequest>, AppError>,
) -> Response {
    user_action(&state, &headers, &meta, input, UserAction::ResetMfa).await
}

pub async fn unlock(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<UserEmailRequest>, AppError>,
) -> Response {
    user_action(&state, &headers, &meta, input, UserAction::Unlock).await
}

async fn user_action(
    state: &AppState,
    headers: &HeaderMap,
    meta: &ClientMeta,
    input: Result<Input<UserEmailRequest>, AppError>,
    action: UserAction,
) -> Response {
    let mode = mode_of(&input);
    let result = async {
        let (live, Input { value, .. }) = acting_admin(state, headers, input).await?;
        let actor = Actor::admin(state, live.user).await?;
        match action {
            UserAction::ResetMfa => {
                let mfa = admin::reset_mfa(state, &value.email, &actor, meta).await?;
                Ok(serde_json::json!(MfaStatus { mfa }))
            }
            UserAction::Unlock => {
                admin::unlock(state, &value.email, &actor, meta).await?;
                Ok(serde_json::json!({ "locked": false }))
            }
            UserAction::Invite => {
                // The link is a credential: it goes to the person, not here.
                admin::invite(state, &value.email, &actor, meta).await?;
                Ok(serde_json::json!({ "invited": value.email.trim().to_lowercase() }))
            }
        }
    }
    .await;
    let done = match action {
        UserAction::ResetMfa => "reset",
        UserAction::Unlock => "unlock",
        UserAction::Invite => "invite",
    };
    answer_admin(mode, result, done)
}

/// Cancels or approves a pending recovery (see `recovery`).
pub(super) async fn recovery_action(
    state: &AppState,
    headers: &HeaderMap,
    meta: &ClientMeta,
    input: Result<Input<app::api::RecoveryIdRequest>, AppError>,
    approve: bool,
) -> Response {
    use app::backend::auth::recovery;
    let mode = mode_of(&input);
    let result = async {
        let (live, Input { value, .. }) = acting_admin(state, headers, input).await?;
        if approve {
            recovery::admin_approve(state, live.user, value.id, meta).await?;
        } else {
            recovery::admin_cancel(state, live.user, value.id, meta).await?;
        }
        Ok(serde_json::json!({ "id": value.id, "approved": approve, "cancelled": !approve }))
    }
    .await;
    answer_admin(
        mode,
        result,
        if approve {
            "recovery-approved"
        } else {
            "recovery-cancelled"
        },
    )
}

/// JSON, or for the admin page's forms a redirect saying what was done.
fn answer_admin<T: serde::Serialize>(
    mode: super::input::Mode,
    result: Result<T, AppError>,
    done: &str,
) -> Response {
    match (&result, mode) {
        // Who may not use this at all hears so plainly, whatever the body.
        (
            Err(e @ (AppError::Forbidden | AppError::NotSignedIn | AppError::EnrolmentRequired)),
            _,
        ) => axum::response::IntoResponse::into_response(e.clone()),
        (Ok(_), super::input::Mode::Form) => axum::response::IntoResponse::into_response(
            axum::response::Redirect::to(&format!("{ADMIN_PAGE}?done={done}")),
        ),
        _ => answer(mode, result, ADMIN_PAGE),
    }
}

/// A body that could not be read is answered as JSON.
fn mode_of<T>(input: &Result<Input<T>, AppError>) -> super::input::Mode {
    input.as_ref().map_or(super::input::Mode::Json, |i| i.mode)
}
