//! The account's factors: list, rename, remove.

use app::api::{AppError, FactorInfo, MfaStatus, RemoveFactorRequest, RenameFactorRequest};
use app::backend::{AppState, auth::access, factors::named};
use axum::Json;
use axum::extract::State;
use http::HeaderMap;

use super::input::{ClientInfo, Input};

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<FactorInfo>>, AppError> {
    let live = access::caller(&state, &headers).await?;
    Ok(Json(named::list(&state.pool, live.user).await?))
}

pub async fn rename(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<RenameFactorRequest>,
) -> Result<Json<FactorInfo>, AppError> {
    let live = access::caller(&state, &headers).await?;
    let factor = named::rename(&state, live.user, value.id, &value.name, &meta).await?;
    Ok(Json(factor))
}

/// Inside the re-authentication window only: a stolen session alone cannot
/// strip an account of its factors.
pub async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<RemoveFactorRequest>,
) -> Result<Json<MfaStatus>, AppError> {
    let live = access::caller(&state, &headers).await?;
    access::require_fresh(&state, &live).await?;
    let mfa = named::remove(&state, live.user, value.id, &meta).await?;
    Ok(Json(MfaStatus { mfa }))
}
