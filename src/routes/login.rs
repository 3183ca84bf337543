use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::Event,
    auth::{
        accounts::FieldErrors,
        login::{self, Attempt, Outcome},
        password::Password,
        safe_next::safe_next,
        session::{self as session_keys, PendingLogin},
        throttle::Settlement,
    },
    db::users::User,
    web::{
        AppError, AppState, MaybeUser, Route, audit::Audit, client, csrf, device, route::see_other_path,
        see_other, session::begin_login, views,
    },
};

pub const INVALID_CREDENTIALS: &str = "Invalid username, email or password.";

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Missing fields are empty, so they get a field message (422) rather than a 400.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember: Option<String>,
    #[serde(default)]
    next: String,
}

pub async fn form(
    req: HttpRequest,
    query: web::Query<LoginQuery>,
    user: MaybeUser,
) -> Result<HttpResponse, AppError> {
    if user.0.is_some() {
        return Ok(see_other(Route::Dashboard));
    }
    let next = query.next.as_deref().and_then(safe_next).unwrap_or_default();
    render(&req, StatusCode::OK, "", &next, false, &FieldErrors::new())
}

pub async fn submit(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let next = safe_next(&form.next);
    let remember = form.remember.is_some();
    let mut errors = FieldErrors::new();
    if form.login.trim().is_empty() {
        errors.insert("login", "Enter your username or email.".to_owned());
    }
    if form.password.is_empty() {
        errors.insert("password", "Enter your password.".to_owned());
    }
    if !errors.is_empty() {
        let next = next.unwrap_or_default();
        return render(&req, StatusCode::UNPROCESSABLE_ENTITY, &form.login, &next, remember, &errors);
    }

    let client_ip = client::client_ip(&req, &state.settings.trusted_proxies);
    let attempt = Attempt {
        login: &form.login,
        password: Password::new(&form.password),
        client_ip: client_ip.as_deref(),
        device: device::from_request(&req, &state),
    };
    let outcome = login::log_in(
        &state.db,
        &state.hasher,
        &state.clock,
        &state.settings.throttle,
        state.settings.require_confirmed_email,
        attempt,
    )
    .await?;
    let ip = client_ip.as_deref().unwrap_or("unknown");
    if let Some(user_id) = outcome.ended_lock_of() {
        audit.record_in_background(Event::LoginLockEnded, Some(user_id), None);
    }
    match outcome {
        Outcome::ConfirmationNeeded { user, .. } => {
            log::info!("user {} gave the right password but has not confirmed their address", user.id);
            super::confirm_email::render_confirm_first(&req, &user.email)
        }
        Outcome::SecondFactorNeeded { user, .. } => {
            // Not logged in yet: the code comes first, on a page of its own.
            begin_second_step(&req, &state, &user, remember, next)
        }
        Outcome::LoggedIn { user, settlement, .. } => {
            complete_login(&req, &state, &audit, &user, remember, next, Proof::Password(settlement)).await
        }
        Outcome::Refused { user_id, lock_started, .. } => {
            log::warn!("failed login attempt from {ip}");
            if user_id.is_some() {
                audit.record_in_background(Event::LoginFailed, user_id, None);
            }
            if let Some(until) = lock_started {
                log::warn!("too many failed logins: sign-in locked until {until} (last attempt from {ip})");
                if user_id.is_some() {
                    let detail = Some(format!("until {}", until.format("%H:%M UTC")));
                    audit.record_in_background(Event::LoginLocked, user_id, detail);
                }
            }
            errors.insert("form", INVALID_CREDENTIALS.to_owned());
            let next = next.unwrap_or_default();
            render(&req, StatusCode::UNPROCESSABLE_ENTITY, &form.login, &next, remember, &errors)
        }
        Outcome::Throttled { until, .. } => {
            log::info!("refused a login attempt from {ip}: locked until {until}");
            views::too_many_attempts(&req, until, state.clock.now(), true)
        }
        Outcome::Busy { error, .. } => Err(error.into()),
    }
}

/// What proved who the user is, and what the proof still owes: a right password has yet to settle
/// its throttle counters, which the login's record does (one statement less per login).
pub(super) enum Proof {
    Password(Settlement),
    SecondFactor,
    Passkey,
}

/// The end of every successful login, whatever proved who the user is: a new session key and CSRF
/// token, the audit event, the device cookie, then `next` (already checked by `safe_next`) or the
/// dashboard.
pub(super) async fn complete_login(
    req: &HttpRequest,
    state: &AppState,
    audit: &Audit,
    user: &User,
    remember: bool,
    next: Option<String>,
    proof: Proof,
) -> Result<HttpResponse, AppError> {
    let (method, settlement) = match proof {
        Proof::Password(settlement) => (None, Some(settlement)),
        Proof::SecondFactor => (None, None),
        Proof::Passkey => (Some("passkey"), None),
    };
    let detail = [method, remember.then_some("remember me")].into_iter().flatten().collect::<Vec<_>>();
    let detail = (!detail.is_empty()).then(|| detail.join(", "));
    // Recorded before the session changes: the session middleware saves whatever the handler
    // answers, so a login begun and then not recorded would be an error page and a live session.
    audit.record_login(user.id, detail, settlement).await?;
    begin_login(req, user, remember, &state.settings.trusted_proxies)?;
    let ip = client::client_ip(req, &state.settings.trusted_proxies);
    log::info!("user {} logged in from {}", user.id, ip.as_deref().unwrap_or("unknown"));
    let mut res = match next {
        Some(path) => see_other_path(&path),
        None => see_other(Route::Dashboard),
    };
    if let Err(error) = device::remember(&mut res, state, user) {
        // The same rule: an error page never comes with a session just begun.
        req.get_session().purge();
        return Err(error);
    }
    Ok(res)
}

/// Called by the password step for a user with TOTP on: the session keeps a pending login (no
/// identity), and the browser is sent for the code.
fn begin_second_step(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    remember: bool,
    next: Option<String>,
) -> Result<HttpResponse, AppError> {
    let pending = PendingLogin {
        user_id: user.id,
        epoch: user.session_epoch,
        started_at: state.clock.now(),
        remember,
        next,
    };
    session_keys::record_pending_login(&req.get_session(), &pending)?;
    log::info!("user {} gave the right password; waiting for the second factor", user.id);
    Ok(see_other(Route::LoginTwoFactor))
}

fn render(
    req: &HttpRequest,
    status: StatusCode,
    login: &str,
    next: &str,
    remember: bool,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("login", login);
    context.insert("next", next);
    context.insert("remember", &remember);
    context.insert("errors", errors);
    // Off when the site's host is an IP address (not a valid relying party): no button that cannot work.
    let passkeys = AppState::of(req).is_some_and(|state| state.passkeys.is_some());
    context.insert("passkeys", &passkeys);
    // After "invalid credentials" the password is what to type again (the name is kept).
    let focus = if errors.contains_key("form") {
        "password".to_owned()
    } else {
        views::focus(errors, &[("login", "login"), ("password", "password")])
    };
    context.insert("focus", &focus);
    views::render(req, status, "login.html", context)
}
