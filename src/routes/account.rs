//! `/account`: change email, change password, sessions summary, recent security events, delete.
//! Every change asks for the current password; a wrong one is a 422 with nothing changed.

use actix_identity::Identity;
use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::Event,
    auth::{
        CurrentUser,
        accounts::{self, ChangeError, FieldErrors, PasswordChange},
        password::Password,
        session::{self as session_keys, current_session_id},
    },
    db,
    mail::Email,
    web::{
        AppError, AppState, Route,
        audit::Audit,
        csrf, flash, see_other,
        views::{self, EventView},
    },
};

/// How many security events the account page lists.
const RECENT_EVENTS: u64 = 20;

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    current_password: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    current_password: String,
}

/// Which form on the page failed, with its messages and what the user typed (never a password).
#[derive(Default)]
struct Failed {
    email: Option<(FieldErrors, String)>,
    password: Option<FieldErrors>,
    delete: Option<FieldErrors>,
}

pub async fn show(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render(&req, &user, &state, StatusCode::OK, Failed::default()).await
}

pub async fn change_email(
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<EmailForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let changed = accounts::change_email(
        &state.db,
        &state.hasher,
        &state.clock,
        user.id,
        &form.email,
        &form.current_password,
    )
    .await;
    match changed {
        Ok((old_email, new_email)) => {
            audit.record(Event::EmailChanged, Some(user.id), None).await;
            notify_email_change(&state, &user.username, &old_email, &new_email);
            flash::send(&req, flash::Level::Success, format!("Your email address is now {new_email}."));
            Ok(see_other(Route::Account))
        }
        Err(error) => {
            let typed = form.email.clone();
            refused(&req, &user, &state, error, |errors| Failed {
                email: Some((errors, typed)),
                ..Default::default()
            })
            .await
        }
    }
}

pub async fn change_password(
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<PasswordForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let session = req.get_session();
    let this_session = current_session_id(&session)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a logged-in session without a public id")))?;
    let change = PasswordChange {
        current_password: Password::new(&form.current_password),
        new_password: Password::new(&form.new_password),
        new_password_confirm: Password::new(&form.new_password_confirm),
    };
    let changed = accounts::change_password(
        &state.db,
        &state.hasher,
        &state.clock,
        state.settings.password_min_length,
        user.id,
        &this_session,
        change,
    )
    .await;
    match changed {
        Ok(changed) => {
            // This device stays logged in, under a new key (whoever held the old one is out too) and
            // with the new epoch (every session from before the change is over).
            session_keys::record_epoch(&session, changed.session_epoch)?;
            session_keys::renew_key(&session)?;
            crate::auth::csrf::rotate(&session)?;
            let detail = Some(format!("{} other session(s) ended", changed.other_sessions_ended));
            audit.record(Event::PasswordChanged, Some(user.id), detail).await;
            flash::send(
                &req,
                flash::Level::Success,
                "Your password has been changed. Every other device has been logged out.",
            );
            Ok(see_other(Route::Account))
        }
        Err(error) => {
            refused(&req, &user, &state, error, |errors| Failed {
                password: Some(errors),
                ..Default::default()
            })
            .await
        }
    }
}

pub async fn delete(
    req: HttpRequest,
    user: CurrentUser,
    identity: Identity,
    form: web::Form<DeleteForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    match accounts::delete_account(&state.db, &state.hasher, user.id, &form.current_password).await {
        Ok(deleted) => {
            identity.logout();
            let detail = Some(format!("user {} ({})", deleted.id, deleted.username));
            audit.record(Event::AccountDeleted, None, detail).await;
            log::info!("user {} deleted their account", deleted.id);
            flash::send(&req, flash::Level::Info, "Your account has been deleted.");
            Ok(see_other(Route::Home))
        }
        Err(error) => {
            refused(&req, &user, &state, error, |errors| Failed {
                delete: Some(errors),
                ..Default::default()
            })
            .await
        }
    }
}

/// A refused change shows the page again (422) with the messages beside the form that failed; any
/// other error is passed on.
async fn refused(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    error: ChangeError,
    failed: impl FnOnce(FieldErrors) -> Failed,
) -> Result<HttpResponse, AppError> {
    match error {
        ChangeError::Invalid(errors) => {
            render(req, user, state, StatusCode::UNPROCESSABLE_ENTITY, failed(errors)).await
        }
        other => Err(other.into()),
    }
}

fn notify_email_change(state: &AppState, username: &str, old_email: &str, new_email: &str) {
    let mut context = tera::Context::new();
    context.insert("username", username);
    context.insert("new_email", new_email);
    context.insert("site", &state.settings.public_origin);
    match Email::render(
        &state.templates,
        "email_changed",
        old_email,
        "Your Gatehouse email address was changed",
        &context,
    ) {
        Ok(email) => state.mailer.send_in_background(email),
        Err(error) => log::error!("could not render the email-changed notice: {error:?}"),
    }
}

async fn render(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    failed: Failed,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let sessions = super::account_sessions::session_views(req, state, user.id).await?;
    let events: Vec<EventView> = db::audit_events::recent_for_user(&state.db, user.id, RECENT_EVENTS)
        .await?
        .iter()
        .map(|event| EventView::new(event, now))
        .collect();
    csrf::form_token(req)?;
    let (email_errors, email_value) =
        failed.email.unwrap_or_else(|| (FieldErrors::new(), user.email.clone()));
    let mut context = tera::Context::new();
    context.insert("email_value", &email_value);
    context.insert("email_errors", &email_errors);
    context.insert("password_errors", &failed.password.unwrap_or_default());
    context.insert("delete_errors", &failed.delete.unwrap_or_default());
    context.insert("sessions", &sessions);
    context.insert("events", &events);
    context.insert("password_min_length", &state.settings.password_min_length);
    views::render(req, status, "account.html", context)
}
