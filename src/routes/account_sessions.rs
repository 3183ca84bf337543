//! `/account/sessions`: every device logged in to the account, and ending any of them.

use actix_identity::Identity;
use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use crate::{
    audit::Event,
    auth::{CurrentUser, session::current_session_id},
    db,
    web::{
        AppError, AppState, Route,
        audit::Audit,
        csrf, flash, see_other,
        views::{self, SessionView},
    },
};

pub async fn list(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let sessions = session_views(&req, &state, user.id).await?;
    csrf::form_token(&req)?;
    let mut context = tera::Context::new();
    context.insert("sessions", &sessions);
    views::render(&req, StatusCode::OK, "sessions.html", context)
}

/// The user's sessions as the pages show them, this device first and marked, then the most recently
/// used; also used by the account page.
pub(super) async fn session_views(
    req: &HttpRequest,
    state: &AppState,
    user_id: i64,
) -> Result<Vec<SessionView>, AppError> {
    let now = state.clock.now();
    let this_session = current_session_id(&req.get_session());
    let mut sessions: Vec<SessionView> = db::sessions::list_for_user(&state.db, user_id)
        .await?
        .iter()
        .map(|row| SessionView::new(row, this_session.as_deref(), now))
        .collect();
    sessions.sort_by_key(|session| !session.current);
    Ok(sessions)
}

/// Ends one of the user's sessions; someone else's (or an unknown id) is a 404.
pub async fn revoke(
    req: HttpRequest,
    user: CurrentUser,
    identity: Identity,
    path: web::Path<String>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let public_id = path.into_inner();
    if !db::sessions::delete_for_user_by_public_id(&state.db, user.id, &public_id).await? {
        return Err(AppError::NotFound);
    }
    audit.record(Event::SessionRevoked, Some(user.id), None).await;
    if current_session_id(&req.get_session()).as_deref() == Some(public_id.as_str()) {
        identity.logout();
        flash::send(&req, flash::Level::Info, "You have been logged out.");
        return Ok(see_other(Route::Login));
    }
    flash::send(&req, flash::Level::Success, "That session has been ended.");
    Ok(see_other(Route::AccountSessions))
}

pub async fn revoke_others(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let this_session = current_session_id(&req.get_session())
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a logged-in session without a public id")))?;
    let ended = db::sessions::delete_for_user_except(&state.db, user.id, &this_session).await?;
    let detail = Some(format!("{ended} session(s) ended"));
    audit.record(Event::OtherSessionsRevoked, Some(user.id), detail).await;
    flash::send(&req, flash::Level::Success, "Every other session has been ended.");
    Ok(see_other(Route::AccountSessions))
}
