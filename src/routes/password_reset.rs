//! `/password-reset`: ask for a link by email (the same answer whether or not the address has an
//! account), then `/password-reset/{token}`: the token's hash is moved from the URL into an encrypted
//! cookie before the form is shown, so the token cannot leak through `Referer` or browser history,
//! and a visitor who is not logged in still has no server-side session.

use actix_identity::Identity;
use actix_web::{HttpRequest, HttpResponse, cookie, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::{self, Event},
    auth::{
        accounts::{FieldErrors, normalise_email},
        password::Password,
        reset::{self, Requested, ResetError},
        throttle::{self, Key},
    },
    mail::Email,
    tokens,
    web::{
        AppError, AppState, Route,
        audit::Audit,
        client,
        cookies::{self, Protection},
        csrf, flash,
        route::see_other_path,
        see_other, views,
    },
};

/// The placeholder that stands in the URL once the real token is in the cookie.
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
    // A flood from one address is refused openly: that answer does not depend on the email.
    if let Some(ip) = client::client_ip(&req, &state.settings.trusted_proxies) {
        let now = state.clock.now();
        if let Err(until) =
            throttle::take(&state.db, &Key::reset_ip(&ip), &state.settings.throttle.reset_ip, now).await?
        {
            log::warn!("too many password reset requests from {ip}: refused until {until}");
            return views::too_many_attempts(&req, until, now, false);
        }
    }
    // Everything that depends on whether the address has an account happens after the answer, so
    // the answer (and its timing) is the same for every address.
    let origin = audit.origin().clone();
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        match reset::request(&state.db, &state.clock, &state.settings.throttle, &email).await {
            Ok(Requested::Issued(issued)) => {
                let user_id = Some(issued.user.id);
                audit::record(&state.db, &state.clock, Event::PasswordResetRequested, user_id, &origin, None)
                    .await;
                send_link(&state, &issued);
            }
            Ok(Requested::Suppressed { user }) => {
                log::warn!("held back a password reset email to user {}: too many this hour", user.id);
                let event = Event::PasswordResetSuppressed;
                audit::record(&state.db, &state.clock, event, Some(user.id), &origin, None).await;
            }
            Ok(Requested::NoAccount) => {
                log::info!("password reset asked for an address with no active account")
            }
            Err(error) => {
                log::error!("could not issue a password reset link: {:?}", anyhow::Error::new(error))
            }
        }
    });
    flash::send(&req, flash::Level::Info, LINK_SENT);
    Ok(see_other(Route::Login))
}

/// The cookie that carries a link's token hash from the link to the form (encrypted, one hour).
const RESET_COOKIE: &str = "gatehouse_reset";

fn held_token_hash(req: &HttpRequest, state: &AppState) -> Option<String> {
    let previous = state.previous_keys.as_ref().map(|keys| &keys.reset);
    cookies::open(req, &state.settings, RESET_COOKIE, &state.keys.reset, previous, Protection::Private)
        .map(|opened| opened.value)
}

fn forget_token_hash(state: &AppState, mut res: HttpResponse) -> Result<HttpResponse, AppError> {
    res.add_cookie(&cookies::removal(&state.settings, RESET_COOKIE)).map_err(AppError::internal)?;
    Ok(res)
}

/// A link from the email: keep the token's hash in an encrypted cookie, then show the form at a URL
/// without the token. A string that cannot be a token is refused at once.
pub async fn confirm_form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    if token != SET_PASSWORD {
        let Some(token_hash) = tokens::link_token_hash(&token) else {
            return render_invalid(&req);
        };
        let lifetime = cookie::time::Duration::minutes(reset::VALID_FOR.num_minutes());
        let cookie = cookies::sealed(
            &state.settings,
            RESET_COOKIE,
            token_hash,
            Some(lifetime),
            &state.keys.reset,
            Protection::Private,
        );
        let mut res = see_other_path(&format!("{}/{SET_PASSWORD}", Route::PasswordReset.path()));
        res.add_cookie(&cookie).map_err(AppError::internal)?;
        return Ok(res);
    }
    let Some(token_hash) = held_token_hash(&req, &state) else {
        return render_invalid(&req);
    };
    match reset::check(&state.db, &state.clock, &token_hash).await {
        Ok(user) => render_new_password(&req, &state, StatusCode::OK, &user.username, &FieldErrors::new()),
        Err(ResetError::InvalidToken) => forget_token_hash(&state, render_invalid(&req)?),
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
    let in_path = path.into_inner();
    let token_hash = if in_path == SET_PASSWORD {
        held_token_hash(&req, &state)
    } else {
        tokens::link_token_hash(&in_path)
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
            forget_token_hash(&state, see_other(Route::Login))
        }
        Err(ResetError::Invalid(errors)) => {
            let username = reset::check(&state.db, &state.clock, &token_hash)
                .await
                .map(|u| u.username)
                .unwrap_or_default();
            render_new_password(&req, &state, StatusCode::UNPROCESSABLE_ENTITY, &username, &errors)
        }
        Err(ResetError::InvalidToken) => forget_token_hash(&state, render_invalid(&req)?),
        Err(error) => Err(error.into()),
    }
}

pub(super) fn send_link(state: &AppState, issued: &reset::IssuedToken) {
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
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("email", email);
    context.insert("errors", errors);
    context.insert("focus", &views::focus(errors, &[("email", "email")]));
    views::render(req, status, "password_reset_request.html", context)
}

fn render_new_password(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    username: &str,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("username", username);
    context.insert("errors", errors);
    context.insert("password_min_length", &state.settings.password_min_length);
    context.insert("action", &format!("{}/{SET_PASSWORD}", Route::PasswordReset.path()));
    let fields = [("password", "password"), ("password_confirm", "password_confirm")];
    context.insert("focus", &views::focus(errors, &fields));
    views::render(req, status, "password_reset_form.html", context)
}

/// Unknown, used and expired links look alike.
fn render_invalid(req: &HttpRequest) -> Result<HttpResponse, AppError> {
    views::render(req, StatusCode::NOT_FOUND, "password_reset_invalid.html", tera::Context::new())
}
