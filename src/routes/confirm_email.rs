//! `/confirm-email/{token}`: a link from a confirmation email. `GET` only shows what the link would
//! do, with a button; the `POST` of that button confirms. Mail scanners and link previews fetch links
//! (GET) before the person does, and must not use them up. `/confirm-email` lets somebody who cannot
//! log in yet (`REQUIRE_CONFIRMED_EMAIL`) ask for a new link, with the same answer for every address.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::Event,
    auth::{
        accounts::{FieldErrors, normalise_email},
        confirmation::{self, ConfirmError, Confirmed, IssuedLink, Requested},
        throttle::{self, Key},
    },
    mail::Email,
    tokens,
    web::{AppError, AppState, MaybeUser, Route, audit::Audit, client, csrf, flash, see_other, views},
};

pub const LINK_SENT: &str = "If an account with that address is waiting for confirmation, we have sent it a new \
                             link. The link works once, for 24 hours.";

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

pub async fn request_form(req: HttpRequest) -> Result<HttpResponse, AppError> {
    render_request(&req, StatusCode::OK, "", &FieldErrors::new())
}

/// A new link for an unconfirmed address. Like a reset request: the answer (and its timing) is the
/// same for every address, and the work that depends on the account happens after it.
pub async fn request(
    req: HttpRequest,
    form: web::Form<RequestForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let email = match normalise_email(&form.email) {
        Ok(email) => email,
        Err(message) => {
            let errors = FieldErrors::from([("email", message)]);
            return render_request(&req, StatusCode::UNPROCESSABLE_ENTITY, &form.email, &errors);
        }
    };
    if let Some(ip) = client::client_ip(&req, &state.settings.trusted_proxies) {
        let now = state.clock.now();
        let limit = &state.settings.throttle.reset_ip;
        if let Err(until) = throttle::take(&state.db, &Key::confirm_ip(&ip), limit, now).await? {
            log::warn!("too many confirmation link requests from {ip}: refused until {until}");
            return views::too_many_attempts(&req, until, now, false);
        }
    }
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        match confirmation::request(&state.db, &state.clock, &state.settings.throttle, &email).await {
            Ok(Requested::Issued(issued)) => send_link(&state, &issued),
            Ok(Requested::Suppressed { user }) => {
                log::warn!("held back a confirmation email to user {}: too many this hour", user.id);
            }
            Ok(Requested::Nothing) => {
                log::info!("a confirmation link was asked for an address with nothing to confirm")
            }
            Err(error) => {
                log::error!("could not issue a confirmation link: {:?}", anyhow::Error::new(error))
            }
        }
    });
    flash::send(&req, flash::Level::Info, LINK_SENT);
    Ok(see_other(Route::Login))
}

/// The page behind the emailed link: what it confirms, and the button that does it.
pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Some(token_hash) = tokens::link_token_hash(&path) else {
        return render_invalid(&req);
    };
    match confirmation::check(&state.db, &state.clock, &token_hash).await {
        Ok(pending) => {
            csrf::form_token(&req)?;
            let mut context = tera::Context::new();
            context.insert("username", &pending.user.username);
            context.insert("email", &pending.email);
            context.insert("is_change", &pending.is_change());
            context.insert("action", &Route::ConfirmEmailToken.path_with(&[path.as_str()]));
            views::render(&req, StatusCode::OK, "confirm_email.html", context)
        }
        Err(ConfirmError::InvalidToken) => render_invalid(&req),
        Err(error) => Err(error.into()),
    }
}

pub async fn confirm(
    req: HttpRequest,
    path: web::Path<String>,
    user: MaybeUser,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let Some(token_hash) = tokens::link_token_hash(&path) else {
        return render_invalid(&req);
    };
    // Someone logged in goes back to their settings; anyone else (another browser, the phone the
    // email was read on) to the login form.
    let next = if user.0.is_some() { Route::Account } else { Route::Login };
    match confirmation::confirm(&state.db, &state.clock, &token_hash).await {
        Ok(Confirmed::Address { user }) => {
            audit.record(Event::EmailConfirmed, Some(user.id), None).await;
            let text = format!("Thank you: your email address {} is confirmed.", user.email);
            flash::send(&req, flash::Level::Success, text);
            Ok(see_other(next))
        }
        Ok(Confirmed::Changed { user, new_email }) => {
            audit.record(Event::EmailChanged, Some(user.id), None).await;
            notify_changed(&state, &user.username, &user.email, &new_email);
            flash::send(&req, flash::Level::Success, format!("Your email address is now {new_email}."));
            Ok(see_other(next))
        }
        Err(ConfirmError::InvalidToken) => render_invalid(&req),
        Err(ConfirmError::AddressTaken { email }) => {
            let mut context = tera::Context::new();
            context.insert("email", &email);
            views::render(&req, StatusCode::CONFLICT, "confirm_email_taken.html", context)
        }
        Err(error) => Err(error.into()),
    }
}

/// Mails a confirmation link (in the background: the answer must not wait for SMTP).
pub(super) fn send_link(state: &AppState, issued: &IssuedLink) {
    let mut context = tera::Context::new();
    context.insert("username", &issued.user.username);
    context.insert("email", &issued.email);
    context.insert("is_change", &issued.is_change());
    context.insert("link", &format!("{}/confirm-email/{}", state.settings.public_origin, issued.token));
    context.insert("valid_hours", &confirmation::VALID_FOR.num_hours());
    let subject = if issued.is_change() {
        "Confirm your new Gatehouse email address"
    } else {
        "Confirm your Gatehouse email address"
    };
    match Email::render(&state.templates, "confirm_email", &issued.email, subject, &context) {
        Ok(email) => state.mailer.send_in_background(email),
        Err(error) => log::error!("could not render the confirmation email: {error:?}"),
    }
}

/// Tells the current address that a change to `new_email` is waiting, and how to stop it.
pub(super) fn notify_change_requested(state: &AppState, issued: &IssuedLink) {
    let mut context = tera::Context::new();
    context.insert("username", &issued.user.username);
    context.insert("new_email", &issued.email);
    context.insert("site", &state.settings.public_origin);
    context.insert("reset_link", &format!("{}{}", state.settings.public_origin, Route::PasswordReset.path()));
    context.insert("valid_hours", &confirmation::VALID_FOR.num_hours());
    let subject = "Your Gatehouse email address is about to change";
    match Email::render(&state.templates, "email_change_requested", &issued.user.email, subject, &context) {
        Ok(email) => state.mailer.send_in_background(email),
        Err(error) => log::error!("could not render the email-change notice: {error:?}"),
    }
}

/// Tells the old address that the change is done.
fn notify_changed(state: &AppState, username: &str, old_email: &str, new_email: &str) {
    let mut context = tera::Context::new();
    context.insert("username", username);
    context.insert("new_email", new_email);
    context.insert("site", &state.settings.public_origin);
    let subject = "Your Gatehouse email address was changed";
    match Email::render(&state.templates, "email_changed", old_email, subject, &context) {
        Ok(email) => state.mailer.send_in_background(email),
        Err(error) => log::error!("could not render the email-changed notice: {error:?}"),
    }
}

/// With `REQUIRE_CONFIRMED_EMAIL`, the answer to a correct password for an unconfirmed address
/// (403): what to do, and the form for a new link with the address filled in. Only a correct
/// password gets here, so the address can be shown: a typo in it is then plain to see.
pub(super) fn render_confirm_first(req: &HttpRequest, email: &str) -> Result<HttpResponse, AppError> {
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("email", email);
    views::render(req, StatusCode::FORBIDDEN, "confirm_email_first.html", context)
}

fn render_request(
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("email", email);
    context.insert("errors", errors);
    context.insert("focus", &views::focus(errors, &[("email", "email")]));
    views::render(req, status, "confirm_email_request.html", context)
}

/// Unknown, used and expired links look alike.
fn render_invalid(req: &HttpRequest) -> Result<HttpResponse, AppError> {
    views::render(req, StatusCode::NOT_FOUND, "confirm_email_invalid.html", tera::Context::new())
}
