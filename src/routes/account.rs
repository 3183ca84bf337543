//! `/account`: change email (confirmed by a link to the new address), change password, sessions
//! summary, recent security events, delete. Every change asks for the current password; a wrong one
//! is a 422 with nothing changed.

use actix_identity::Identity;
use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::Event,
    auth::{
        CurrentUser,
        accounts::{self, ChangeError, FieldErrors, PasswordChange},
        confirmation::{self, ConfirmError, Resent},
        password::Password,
        session::{self as session_keys, current_session_id},
        two_factor,
    },
    db,
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

/// Asks for a new address: the link goes to it, the current address is told, nothing changes yet.
pub async fn change_email(
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<EmailForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let requested = confirmation::request_change(
        &state.db,
        audit.password_check(),
        user.id,
        &form.email,
        &form.current_password,
    )
    .await;
    match requested {
        Ok(issued) => {
            audit.record(Event::EmailChangeRequested, Some(user.id), None).await;
            super::confirm_email::send_link(&state, &issued);
            super::confirm_email::notify_change_requested(&state, &issued);
            let text = format!(
                "We sent a link to {}. Your address changes when you open it (within {} hours); until then it stays {}.",
                issued.email,
                confirmation::VALID_FOR.num_hours(),
                issued.user.email
            );
            flash::send(&req, flash::Level::Info, text);
            Ok(see_other(Route::Account))
        }
        Err(ConfirmError::Invalid(errors)) => {
            let failed = Failed { email: Some((errors, form.email.clone())), ..Default::default() };
            render(&req, &user, &state, StatusCode::UNPROCESSABLE_ENTITY, failed).await
        }
        Err(ConfirmError::Throttled { until }) => views::too_many_emails(&req, until, state.clock.now()),
        Err(error) => Err(error.into()),
    }
}

/// A new link for what waits to be confirmed: the pending new address, else the current one.
pub async fn resend_confirmation(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    match confirmation::resend(&state.db, &state.clock, &state.settings.throttle, user.id).await? {
        Resent::Sent(issued) => {
            super::confirm_email::send_link(&state, &issued);
            flash::send(&req, flash::Level::Info, format!("We sent a new link to {}.", issued.email));
            Ok(see_other(Route::Account))
        }
        Resent::NothingToConfirm => {
            flash::send(
                &req,
                flash::Level::Info,
                "Your email address is confirmed: there is nothing to send.",
            );
            Ok(see_other(Route::Account))
        }
        Resent::Throttled { until } => views::too_many_emails(&req, until, state.clock.now()),
    }
}

/// Withdraws a pending change of address: its link stops working.
pub async fn cancel_email_change(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    if confirmation::cancel_change(&state.db, user.id, &user.email).await? {
        audit.record(Event::EmailChangeCancelled, Some(user.id), None).await;
        flash::send(
            &req,
            flash::Level::Success,
            format!("The change is cancelled: your address stays {}.", user.email),
        );
    } else {
        flash::send(&req, flash::Level::Info, "No change of address was waiting.");
    }
    Ok(see_other(Route::Account))
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
        audit.password_check(),
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
    match accounts::delete_account(&state.db, audit.password_check(), user.id, &form.current_password).await {
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
    let email_status = confirmation::status(&state.db, &state.clock, user.id).await?;
    let two_factor_enabled = two_factor::is_on(&state.db, user.id).await?;
    csrf::form_token(req)?;
    // After a failure, focus (and so scroll to) the first field with a message in the form that
    // failed, wherever it is on this long page; on a plain visit, nothing is focused.
    let focus = match (&failed.email, &failed.password, &failed.delete) {
        (Some((errors, _)), _, _) => {
            views::focus(errors, &[("email", "new-email"), ("current_password", "email-current_password")])
        }
        (_, Some(errors), _) => views::focus(
            errors,
            &[
                ("current_password", "password-current_password"),
                ("new_password", "new_password"),
                ("new_password_confirm", "new_password_confirm"),
            ],
        ),
        (_, _, Some(errors)) => views::focus(errors, &[("current_password", "delete-current_password")]),
        _ => String::new(),
    };
    let (email_errors, email_value) = failed.email.unwrap_or_else(|| (FieldErrors::new(), String::new()));
    let mut context = tera::Context::new();
    context.insert("focus", &focus);
    context.insert("email_value", &email_value);
    context.insert("email_errors", &email_errors);
    context.insert("email_confirmed", &email_status.as_ref().is_some_and(|s| s.confirmed));
    context.insert("pending_email", &email_status.and_then(|s| s.pending));
    context.insert("two_factor_enabled", &two_factor_enabled);
    context.insert("password_errors", &failed.password.unwrap_or_default());
    context.insert("delete_errors", &failed.delete.unwrap_or_default());
    context.insert("sessions", &sessions);
    context.insert("events", &events);
    context.insert("password_min_length", &state.settings.password_min_length);
    views::render(req, status, "account.html", context)
}
