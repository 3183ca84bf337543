//! `/password-reset`: ask for a link by email (the same answer whether or not the address has an
//! account), then `/password-reset/{token}`: the token is moved from the URL into the session before
//! the form is shown, so it cannot leak through `Referer` or browser history.

use actix_identity::Identity;
use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::{self, Event},
    auth::{
        accounts::{FieldErrors, normalise_email},
        csrf,
        password::Password,
        reset::{self, ResetError},
        session::RESET_TOKEN_HASH,
    },
    mail::Email,
    web::{AppError, AppState, Route, audit::Audit, flash, route::see_other_path, see_other, views},
};

/// The placeholder that stands in the URL once the real token is in the session.
pub const SET_PASSWORD: &str = "set-password";
pub const LINK_SENT: &str = "If an account exists for that email address, we have sent it a link to reset the \
                             password. The link works once, for one hour.";

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn request_form(req: HttpRequest) -> Result<HttpResponse, AppError> {
    render_request(&req, StatusCode::OK, "", &FieldErrors::new())
}

pub async fn request(
    req: HttpRequest,
    form: web::Form<RequestForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let email = match normalise_email(&form.email) {
        Ok(email) => email,
        Err(message) => {
            let errors = FieldErrors::from([("email", message)]);
            return render_request(&req, StatusCode::UNPROCESSABLE_ENTITY, &form.email, &errors);
        }
    };
    // Everything that depends on whether the address has an account happens after the answer, so
    // the answer (and its timing) is the same for every address.
    let origin = audit.origin().clone();
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        match reset::request(&state.db, &state.clock, &email).await {
            Ok(Some(issued)) => {
                let user_id = Some(issued.user.id);
                audit::record(&state.db, &state.clock, Event::PasswordResetRequested, user_id, &origin, None)
                    .await;
                send_link(&state, &issued);
            }
            Ok(None) => log::info!("password reset asked for an address with no active account"),
            Err(error) => {
                log::error!("could not issue a password reset link: {:?}", anyhow::Error::new(error))
            }
        }
    });
    flash::send(&req, flash::Level::Info, LINK_SENT);
    Ok(see_other(Route::Login))
}

/// A link from the email: keep the token's hash in the session, then show the form at a URL without
/// the token. A string that cannot be a token is refused at once, without creating a session.
pub async fn confirm_form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let session = req.get_session();
    let token = path.into_inner();
    if token != SET_PASSWORD {
        let Some(token_hash) = reset::hash_token(&token) else {
            return render_invalid(&req);
        };
        session.insert(RESET_TOKEN_HASH, token_hash)?;
        return Ok(see_other_path(&format!("{}/{SET_PASSWORD}", Route::PasswordReset.path())));
    }
    let Some(token_hash) = session.get::<String>(RESET_TOKEN_HASH).ok().flatten() else {
        return render_invalid(&req);
    };
    match reset::check(&state.db, &state.clock, &token_hash).await {
        Ok(user) => render_new_password(&req, &state, StatusCode::OK, &user.username, &FieldErrors::new()),
        Err(ResetError::InvalidToken) => {
            session.remove(RESET_TOKEN_HASH);
            render_invalid(&req)
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn confirm(
    req: HttpRequest,
    path: web::Path<String>,
    identity: Option<Identity>,
    form: web::Form<NewPasswordForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let session = req.get_session();
    let in_path = path.into_inner();
    let token_hash = if in_path == SET_PASSWORD {
        session.get::<String>(RESET_TOKEN_HASH).ok().flatten()
    } else {
        reset::hash_token(&in_path)
    };
    let Some(token_hash) = token_hash else {
        return render_invalid(&req);
    };
    let completed = reset::complete(
        &state.db,
        &state.hasher,
        &state.clock,
        state.settings.password_min_length,
        &token_hash,
        Password::new(&form.password),
        Password::new(&form.password_confirm),
    )
    .await;
    match completed {
        Ok(user) => {
            session.remove(RESET_TOKEN_HASH);
            // Every session of the user is gone already; this browser starts afresh too.
            if let Some(identity) = identity {
                identity.logout();
            }
            audit.record(Event::PasswordResetCompleted, Some(user.id), None).await;
            flash::send(
                &req,
                flash::Level::Success,
                "Your password has been reset. You can log in with it now.",
            );
            Ok(see_other(Route::Login))
        }
        Err(ResetError::Invalid(errors)) => {
            let username = reset::check(&state.db, &state.clock, &token_hash)
                .await
                .map(|u| u.username)
                .unwrap_or_default();
            render_new_password(&req, &state, StatusCode::UNPROCESSABLE_ENTITY, &username, &errors)
        }
        Err(ResetError::InvalidToken) => {
            session.remove(RESET_TOKEN_HASH);
            render_invalid(&req)
        }
        Err(error) => Err(error.into()),
    }
}

fn send_link(state: &AppState, issued: &reset::IssuedToken) {
    let mut context = tera::Context::new();
    context.insert("username", &issued.user.username);
    context.insert("link", &format!("{}/password-reset/{}", state.settings.public_origin, issued.token));
    context.insert("valid_minutes", &reset::VALID_FOR.num_minutes());
    match Email::render(
        &state.templates,
        "password_reset",
        &issued.user.email,
        "Reset your Gatehouse password",
        &context,
    ) {
        Ok(email) => state.mailer.send_in_background(email),
        Err(error) => log::error!("could not render the password reset email: {error:?}"),
    }
}

fn render_request(
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::ensure_token(&req.get_session())?;
    let mut context = tera::Context::new();
    context.insert("email", email);
    context.insert("errors", errors);
    views::render(req, status, "password_reset_request.html", context)
}

fn render_new_password(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    username: &str,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::ensure_token(&req.get_session())?;
    let mut context = tera::Context::new();
    context.insert("username", username);
    context.insert("errors", errors);
    context.insert("password_min_length", &state.settings.password_min_length);
    context.insert("action", &format!("{}/{SET_PASSWORD}", Route::PasswordReset.path()));
    views::render(req, status, "password_reset_form.html", context)
}

/// Unknown, used and expired links look alike.
fn render_invalid(req: &HttpRequest) -> Result<HttpResponse, AppError> {
    views::render(req, StatusCode::NOT_FOUND, "password_reset_invalid.html", tera::Context::new())
}
