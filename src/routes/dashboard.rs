//! `/dashboard`: where a login lands. What an account system's user wants to see first: when and
//! where the account was last signed in to, how many sessions are live, whether the address is
//! confirmed, and the way to every setting (and, for administrators, to the admin area).

use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use crate::{
    auth::{CurrentUser, accounts, session::current_session_id},
    web::{AppError, AppState, views},
};

pub async fn show(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let this_session = current_session_id(&req.get_session()).unwrap_or_default();
    let overview = accounts::overview(&state.db, &state.clock, user.id, &this_session)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the logged-in user {} has no row", user.id)))?;
    let mut context = tera::Context::new();
    context.insert("user", &views::UserView::from(&user));
    context.insert("overview", &views::OverviewView::new(&overview, state.clock.now()));
    views::render(&req, StatusCode::OK, "dashboard.html", context)
}
