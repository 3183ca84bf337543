//! `/admin/users`: looking after accounts (role `admin`). Every act is refused when it would lock the
//! administrator out, takes effect on the user's next request, is recorded naming the actor, and
//! answers with a confirmation on the user's page.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use super::password_reset;
use crate::{
    audit::Event,
    auth::{
        CurrentUser,
        admin::{self, Actor, AdminError},
        reset,
    },
    web::{
        AppError, AppState, Route,
        audit::Audit,
        csrf, flash,
        route::see_other_path,
        views::{self, AdminUserView, EventView, SessionView},
    },
};

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<String>,
}

/// What an act's form carries besides its CSRF token: the new role, for `SET_ROLE`.
#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    role: String,
}

/// The highest page number taken seriously: its offset still fits the database's integers.
const MAX_PAGE: u64 = (i64::MAX as u64) / admin::PER_PAGE;

/// `?page=` from 1; anything else is no page of ours.
fn page_number(raw: Option<&str>) -> Option<u64> {
    match raw.map(str::trim) {
        None | Some("") => Some(1),
        Some(raw) => raw.parse::<u64>().ok().filter(|page| (1..=MAX_PAGE).contains(page)),
    }
}

pub async fn list(
    req: HttpRequest,
    user: CurrentUser,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref()).ok_or(AppError::NotFound)?;
    let search = Some(query.q.trim()).filter(|q| !q.is_empty());
    let listing = admin::list_users(&state.db, &state.clock, search, page).await?;
    let rows: Vec<AdminUserView> =
        listing.users.iter().map(|(row, live)| AdminUserView::new(row, *live, user.id)).collect();
    csrf::form_token(&req)?;
    let mut context = tera::Context::new();
    context.insert("users", &rows);
    context.insert("q", query.q.trim());
    let q_encoded = percent_encoding::utf8_percent_encode(query.q.trim(), percent_encoding::NON_ALPHANUMERIC);
    context.insert("q_encoded", &q_encoded.to_string());
    context.insert("page", &listing.page);
    context.insert("pages", &listing.pages);
    context.insert("total", &listing.total);
    views::render(&req, StatusCode::OK, "admin_users.html", context)
}

pub async fn show(
    req: HttpRequest,
    user: CurrentUser,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render_user(&req, &user, &state, path.into_inner(), StatusCode::OK, None).await
}

async fn render_user(
    req: &HttpRequest,
    viewer: &CurrentUser,
    state: &AppState,
    user_id: i64,
    status: StatusCode,
    refusal: Option<String>,
) -> Result<HttpResponse, AppError> {
    let detail = admin::user_detail(&state.db, user_id).await?;
    let now = state.clock.now();
    let sessions: Vec<SessionView> =
        detail.sessions.iter().map(|row| SessionView::new(row, None, now)).collect();
    let events: Vec<EventView> = detail.events.iter().map(|event| EventView::new(event, now)).collect();
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert(
        "target",
        &AdminUserView::new(&detail.user, i64::try_from(sessions.len()).unwrap_or(0), viewer.id),
    );
    context.insert("sessions", &sessions);
    context.insert("events", &events);
    context.insert("refusal", &refusal);
    context.insert("two_factor", &detail.two_factor);
    views::render(req, status, "admin_user.html", context)
}

/// What an action did, for the flash and the security log.
struct Done {
    user_id: i64,
    event: Event,
    message: String,
}

/// Records and confirms a finished action, or shows the refusal on the user's page (422).
async fn answer(
    req: &HttpRequest,
    viewer: &CurrentUser,
    state: &AppState,
    audit: &Audit,
    user_id: i64,
    outcome: Result<Done, AdminError>,
) -> Result<HttpResponse, AppError> {
    match outcome {
        Ok(done) => {
            let actor = Actor::admin(viewer);
            audit.record(done.event, Some(done.user_id), Some(actor.describe())).await;
            log::info!("{} ({}) {}", done.message, done.event.code(), actor.describe());
            flash::send(req, flash::Level::Success, done.message);
            Ok(see_other_path(&Route::AdminUser.path_with(&[&done.user_id.to_string()])))
        }
        Err(AdminError::UnknownUser) => Err(AppError::NotFound),
        Err(AdminError::Database(error)) => Err(error.into()),
        Err(refusal) => {
            render_user(
                req,
                viewer,
                state,
                user_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(refusal.to_string()),
            )
            .await
        }
    }
}

/// The acts on one user; each route passes its own as `act`'s constant.
pub const DEACTIVATE: u8 = 0;
pub const ACTIVATE: u8 = 1;
pub const SET_ROLE: u8 = 2;
pub const END_SESSIONS: u8 = 3;
pub const SEND_RESET: u8 = 4;
pub const CLEAR_TWO_FACTOR: u8 = 5;

/// `POST /admin/users/{id}/<act>`: does the act, records it naming the administrator, confirms it.
pub async fn act<const ACT: u8>(
    req: HttpRequest,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<ActForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let actor = Actor::admin(&user);
    let (db, clock) = (&state.db, &state.clock);
    let done =
        |target: &crate::db::users::User, event, message: String| Done { user_id: target.id, event, message };
    let outcome = match ACT {
        DEACTIVATE => admin::deactivate(db, clock, &actor, id).await.map(|target| {
            let message = format!("{} is deactivated and logged out everywhere.", target.username);
            done(&target, Event::AdminDeactivated, message)
        }),
        ACTIVATE => admin::activate(db, clock, id).await.map(|target| {
            done(&target, Event::AdminActivated, format!("{} can log in again.", target.username))
        }),
        SET_ROLE => {
            let role = form.role.trim();
            admin::set_role(db, clock, &actor, id, role).await.map(|target| {
                done(
                    &target,
                    Event::AdminRoleChanged,
                    format!("{} now has the role {role}.", target.username),
                )
            })
        }
        END_SESSIONS => admin::end_sessions(db, clock, id).await.map(|(target, ended)| {
            done(
                &target,
                Event::AdminEndedSessions,
                format!("Ended {ended} session(s) of {}.", target.username),
            )
        }),
        CLEAR_TWO_FACTOR => match admin::clear_two_factor(db, id).await {
            Ok((target, was_on)) => {
                if was_on {
                    super::two_factor::notify(
                        &state,
                        &target.username,
                        &target.email,
                        super::two_factor::Notice::ClearedByAdmin,
                    );
                }
                let message = if was_on {
                    format!("{} can log in with the password alone now.", target.username)
                } else {
                    format!("{} had no second factor: nothing to remove.", target.username)
                };
                Ok(done(&target, Event::AdminClearedTwoFactor, message))
            }
            Err(error) => Err(error),
        },
        // SEND_RESET, the only other act a route passes.
        _ => match admin::user_detail(db, id).await {
            Ok(detail) => {
                let issued = reset::issue(db, clock, detail.user).await?;
                password_reset::send_link(&state, &issued);
                let message = format!("A password reset link is on its way to {}.", issued.user.email);
                Ok(done(&issued.user, Event::AdminSentReset, message))
            }
            Err(error) => Err(error),
        },
    };
    answer(&req, &user, &state, &audit, id, outcome).await
}

#[cfg(test)]
mod tests {
    use super::page_number;

    #[test]
    fn pages_count_from_one_and_nothing_else_is_a_page() {
        assert_eq!(page_number(None), Some(1));
        assert_eq!(page_number(Some("")), Some(1));
        assert_eq!(page_number(Some("3")), Some(3));
        for bad in ["0", "-1", "abc", "1.5", "99999999999999999999999", "184467440737095518"] {
            assert_eq!(page_number(Some(bad)), None, "{bad}");
        }
    }
}
