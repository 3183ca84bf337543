use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::Event,
    auth::{
        accounts::{self, FieldErrors, RegisterError, Registration},
        confirmation,
        password::Password,
        throttle::{self, Key},
    },
    config::Settings,
    web::{
        AppError, AppState, MaybeUser, Route, audit::Audit, client, csrf, device, flash, see_other,
        session::begin_login, views,
    },
};

/// Missing fields are empty, so they get a field message (422) rather than a 400.
#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn form(
    req: HttpRequest,
    user: MaybeUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if user.0.is_some() {
        return Ok(see_other(Route::Dashboard));
    }
    render(&req, &state.settings, StatusCode::OK, "", "", &FieldErrors::new())
}

pub async fn submit(
    req: HttpRequest,
    form: web::Form<RegisterForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let settings = &state.settings;
    let form = form.into_inner();
    // Every attempt counts, taken or not, so that neither sign-ups nor probing for addresses that
    // have an account can go on unbounded from one address.
    if let Some(ip) = client::client_ip(&req, &settings.trusted_proxies) {
        let now = state.clock.now();
        let limit = &settings.throttle.register_ip;
        if let Err(until) = throttle::take(&state.db, &Key::register_ip(&ip), limit, now).await? {
            log::warn!("too many registration attempts from {ip}: refused until {until}");
            return views::too_many_registrations(&req, until, now);
        }
    }
    let registration = Registration {
        username: form.username.clone(),
        email: form.email.clone(),
        password: Password::new(&form.password),
        password_confirm: Password::new(&form.password_confirm),
        role: accounts::ROLE_USER,
        email_confirmed: false,
    };
    let registered = accounts::register(
        &state.db,
        &state.hasher,
        &state.clock,
        settings.password_min_length,
        registration,
    )
    .await;
    match registered {
        Ok(user) => {
            log::info!("user {} registered", user.id);
            audit.record(Event::Registered, Some(user.id), None).await;
            let email = user.email.clone();
            let limits = &settings.throttle;
            match confirmation::issue_for_new_account(&state.db, &state.clock, limits, user.clone()).await? {
                Some(issued) => super::confirm_email::send_link(&state, &issued),
                None => {
                    log::warn!("held back the confirmation email of new user {}: too many this hour", user.id)
                }
            }
            if settings.require_confirmed_email {
                // Login waits for the address; so does the first one.
                let text = format!(
                    "Almost done: we sent a link to {email}. Open it to confirm your address, then log in."
                );
                flash::send(&req, flash::Level::Info, text);
                return Ok(see_other(Route::Login));
            }
            begin_login(&req, &user, false, &settings.trusted_proxies)?;
            let text = format!("Your account is ready. We sent a link to {email} to confirm your address.");
            flash::send(&req, flash::Level::Success, text);
            let mut res = see_other(Route::Dashboard);
            device::remember(&mut res, &state, &user)?;
            Ok(res)
        }
        Err(RegisterError::Invalid(errors)) => {
            render(&req, settings, StatusCode::UNPROCESSABLE_ENTITY, &form.username, &form.email, &errors)
        }
        Err(error) => Err(error.into()),
    }
}

/// The form, with what the user typed kept (never the password) and one message per field.
fn render(
    req: &HttpRequest,
    settings: &Settings,
    status: StatusCode,
    username: &str,
    email: &str,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("username", username);
    context.insert("email", email);
    context.insert("errors", errors);
    context.insert("password_min_length", &settings.password_min_length);
    let fields = [
        ("username", "username"),
        ("email", "email"),
        ("password", "password"),
        ("password_confirm", "password_confirm"),
    ];
    context.insert("focus", &views::focus(errors, &fields));
    views::render(req, status, "register.html", context)
}
