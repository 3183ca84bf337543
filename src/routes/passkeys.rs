//! Passkeys: `/account/passkeys` (list, add, rename, remove) and signing in with one from `/login`.
//! The WebAuthn ceremonies are JSON posted by `static/passkeys.js` (CSRF token in `X-CSRF-Token`);
//! rename and remove are plain forms that re-ask the password.

use actix_session::SessionExt as _;
use actix_web::{
    HttpRequest, HttpResponse,
    body::BoxBody,
    cookie::time::Duration,
    http::{StatusCode, header},
    web,
};
use serde::{Deserialize, Serialize};

use crate::{
    audit::Event,
    auth::{
        CurrentUser,
        accounts::ChangeError,
        confirmation,
        passkeys::{self, LoginOutcome, PasskeyError, PendingLogin, RelyingParty, RenameError},
        safe_next::safe_next,
        session::{store_passkey_registration, take_passkey_registration},
        throttle,
        two_factor::{self, CodeCheck, Reauth, TwoFactorError},
    },
    mail::Email,
    web::{
        AppError, AppState, Route,
        audit::Audit,
        client,
        cookies::{self, Protection},
        csrf, flash, see_other, views,
    },
};

/// The encrypted cookie that carries a sign-in's challenge and state from the options to the answer.
const LOGIN_COOKIE: &str = "gatehouse_passkey";

/// A passkey as the page lists it.
#[derive(Serialize)]
struct PasskeyView {
    id: i64,
    name: String,
    created: String,
    last_used: Option<String>,
}

pub async fn list(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render_list(&req, &user, &state, StatusCode::OK, None).await
}

async fn render_list(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    error: Option<(i64, String)>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let passkeys: Vec<PasskeyView> = passkeys::list(&state.db, user.id)
        .await?
        .iter()
        .map(|p| PasskeyView {
            id: p.id,
            name: p.name.clone(),
            created: views::relative_time(p.created_at, now),
            last_used: p.last_used_at.map(|at| views::relative_time(at, now)),
        })
        .collect();
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("passkeys", &passkeys);
    context.insert("passkeys_available", &state.passkeys.is_some());
    context.insert("two_factor_on", &two_factor::is_on(&state.db, user.id).await?);
    context.insert("error_id", &error.as_ref().map(|(id, _)| *id));
    context.insert("error", &error.map(|(_, message)| message));
    views::render(req, status, "passkeys.html", context)
}

/// What the options request carries: the user at the keyboard proves it, as for any change that
/// could outlive a stolen session.
#[derive(Deserialize)]
struct AddOptionsRequest {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
}

/// `POST /account/passkeys/options`: after the current password (and, with TOTP on, a code), the
/// options for `navigator.credentials.create`; the state stays in the session.
pub async fn add_options(
    req: HttpRequest,
    user: CurrentUser,
    body: web::Bytes,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let Some(rp) = relying_party(&state) else { return Ok(refusal(&PasskeyError::Unavailable)) };
    let Ok(request) = serde_json::from_slice::<AddOptionsRequest>(&body) else {
        return Ok(refusal(&PasskeyError::Invalid));
    };
    let reauth = Reauth { current_password: &request.current_password, code: &request.code };
    let presence = two_factor::confirm_presence(
        &state.db,
        audit.password_check(),
        &state.two_factor_keys,
        user.id,
        &reauth,
    )
    .await;
    match presence {
        Ok(Some(CodeCheck::Recovery { left })) => {
            let detail = Some(format!("{left} recovery code(s) left"));
            audit.record(Event::RecoveryCodeUsed, Some(user.id), detail).await;
        }
        Ok(_) => {}
        Err(TwoFactorError::Invalid(errors)) => {
            let message = errors.get("current_password").or_else(|| errors.get("code"));
            let message = message.map_or("Check the password and code.", String::as_str);
            return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, message, None));
        }
        Err(TwoFactorError::Throttled { until }) => {
            let retry_after = throttle::retry_after_seconds(until, state.clock.now());
            return Ok(refusal(&PasskeyError::Throttled { retry_after }));
        }
        Err(TwoFactorError::ReauthLocked(locked)) => {
            return Ok(refusal(&PasskeyError::Throttled { retry_after: locked.retry_after_seconds }));
        }
        Err(error) => return Err(error.into()),
    }
    match passkeys::start_registration(rp, &state.db, &state.clock, user.id, &user.username).await {
        Ok((options, pending)) => {
            store_passkey_registration(&req.get_session(), &pending)?;
            Ok(HttpResponse::Ok().json(options))
        }
        Err(error) => failure(error),
    }
}

#[derive(Deserialize)]
struct AddRequest {
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
}

/// `POST /account/passkeys/add`: the browser's new credential, checked and stored.
pub async fn add(
    req: HttpRequest,
    user: CurrentUser,
    body: web::Bytes,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let Some(rp) = relying_party(&state) else { return Ok(refusal(&PasskeyError::Unavailable)) };
    // Taken whatever the outcome: a registration's challenge answers once.
    let pending = take_passkey_registration(&req.get_session());
    let Ok(request) = serde_json::from_slice::<AddRequest>(&body) else {
        return Ok(refusal(&PasskeyError::Invalid));
    };
    let result = passkeys::finish_registration(
        rp,
        &state.db,
        &state.clock,
        user.id,
        pending,
        &request.credential,
        &request.name,
    )
    .await;
    match result {
        Ok(stored) => {
            audit.record(Event::PasskeyAdded, Some(user.id), Some(stored.name.clone())).await;
            log::info!("user {} added a passkey", user.id);
            notify_added(&state, &user, &stored.name);
            flash::send(&req, flash::Level::Success, format!("Passkey “{}” added.", stored.name));
            Ok(HttpResponse::Ok().json(serde_json::json!({ "redirect": Route::AccountPasskeys.path() })))
        }
        Err(error) => failure(error),
    }
}

/// The security notice: a passkey was added to the account.
fn notify_added(state: &AppState, user: &CurrentUser, name: &str) {
    let mut context = tera::Context::new();
    context.insert("username", &user.username);
    context.insert("name", name);
    context.insert("site", &state.settings.public_origin);
    context.insert(
        "passkeys_link",
        &format!("{}{}", state.settings.public_origin, Route::AccountPasskeys.path()),
    );
    let subject = "A passkey was added to your Gatehouse account";
    match Email::render(&state.templates, "passkey_added", &user.email, subject, &context) {
        Ok(email) => state.mailer.send_in_background(email),
        Err(error) => log::error!("could not render the passkey notice: {error:?}"),
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    current_password: String,
}

/// `POST /account/passkeys/{id}/rename`: a new name, after the password.
pub async fn rename(
    req: HttpRequest,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<RenameForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    match passkeys::rename(&state.db, audit.password_check(), user.id, id, &form.name, &form.current_password)
        .await
    {
        Ok(name) => {
            audit.record(Event::PasskeyRenamed, Some(user.id), Some(name.clone())).await;
            flash::send(&req, flash::Level::Success, format!("Passkey renamed to “{name}”."));
            Ok(see_other(Route::AccountPasskeys))
        }
        Err(error) => change_refused(&req, &user, &state, id, error).await,
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    current_password: String,
}

/// `POST /account/passkeys/{id}/remove`: after the password.
pub async fn remove(
    req: HttpRequest,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<RemoveForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    match passkeys::remove(&state.db, audit.password_check(), user.id, id, &form.current_password).await {
        Ok(()) => {
            audit.record(Event::PasskeyRemoved, Some(user.id), Some(format!("passkey {id}"))).await;
            flash::send(&req, flash::Level::Success, "Passkey removed.");
            Ok(see_other(Route::AccountPasskeys))
        }
        Err(error) => change_refused(&req, &user, &state, id, error).await,
    }
}

/// A wrong password or an empty name shows the page again (422) beside the passkey's form; somebody
/// else's passkey (or none) is a 404.
async fn change_refused(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    id: i64,
    error: RenameError,
) -> Result<HttpResponse, AppError> {
    let message = match error {
        RenameError::NotFound => return Err(AppError::NotFound),
        RenameError::EmptyName => error.to_string(),
        RenameError::Change(ChangeError::Invalid(errors)) => {
            errors.into_values().next().unwrap_or_else(|| "The change was refused.".to_owned())
        }
        RenameError::Change(error) => return Err(error.into()),
        RenameError::Database(error) => return Err(error.into()),
    };
    render_list(req, user, state, StatusCode::UNPROCESSABLE_ENTITY, Some((id, message))).await
}

/// `POST /login/passkey/options`: options for `navigator.credentials.get`. The state goes into an
/// encrypted five-minute cookie, so a visitor costs no session row and no write.
pub async fn login_options(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let Some(rp) = relying_party(&state) else { return Ok(refusal(&PasskeyError::Unavailable)) };
    let (options, pending) = match passkeys::start_login(rp, &state.clock) {
        Ok(started) => started,
        Err(error) => return failure(error),
    };
    let sealed = serde_json::to_string(&pending).map_err(AppError::internal)?;
    let max_age = Duration::seconds(passkeys::VALID_FOR.num_seconds());
    let cookie = cookies::sealed(
        &state.settings,
        LOGIN_COOKIE,
        sealed,
        Some(max_age),
        &state.keys.passkey,
        Protection::Private,
    );
    Ok(HttpResponse::Ok().cookie(cookie).json(options))
}

#[derive(Deserialize)]
struct LoginRequest {
    credential: serde_json::Value,
    #[serde(default)]
    next: String,
    #[serde(default)]
    remember: bool,
}

/// `POST /login/passkey`: the browser's assertion. Success is a whole login (both factors), answered
/// with where to go; the challenge cookie is removed whatever happens.
pub async fn log_in(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let mut res = log_in_inner(&req, &body, &state, &audit).await?;
    res.add_cookie(&cookies::removal(&state.settings, LOGIN_COOKIE)).map_err(AppError::internal)?;
    Ok(res)
}

async fn log_in_inner(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
    audit: &Audit,
) -> Result<HttpResponse, AppError> {
    let Some(rp) = relying_party(state) else { return Ok(refusal(&PasskeyError::Unavailable)) };
    let pending = open_login_cookie(req, state);
    let Ok(request) = serde_json::from_slice::<LoginRequest>(body) else {
        return Ok(refusal(&PasskeyError::Invalid));
    };
    let client_ip = client::client_ip(req, &state.settings.trusted_proxies);
    let ip = client_ip.as_deref().unwrap_or("unknown");
    let outcome = passkeys::finish_login(
        rp,
        &state.db,
        &state.clock,
        &state.settings.throttle,
        client_ip.as_deref(),
        pending,
        &request.credential,
    )
    .await;
    let user = match outcome {
        Ok(LoginOutcome::LoggedIn(user)) => user,
        Ok(LoginOutcome::Refused { user_id, error }) => {
            log::warn!("failed passkey sign-in from {ip}: {error}");
            // Like a wrong password: recorded for a real account only (a stranger's garbage is no event).
            if user_id.is_some() {
                audit.record_in_background(Event::PasskeyLoginFailed, user_id, Some(error.to_string()));
            }
            return Ok(refusal(&error));
        }
        Err(error) => return failure(error),
    };
    if !confirmation::may_log_in(&user, state.settings.require_confirmed_email) {
        log::info!("user {} used a valid passkey but has not confirmed their address", user.id);
        return Ok(json_error(
            StatusCode::FORBIDDEN,
            "Confirm your email address first: we can send you a new link.",
            Some(Route::ConfirmEmail.path()),
        ));
    }
    let next = safe_next(&request.next);
    let res = super::login::complete_login(
        req,
        state,
        audit,
        &user,
        request.remember,
        next,
        super::login::Proof::Passkey,
    )
    .await?;
    // The script follows the redirect itself: a fetch would follow it invisibly.
    let location = res
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(Route::Dashboard.path())
        .to_owned();
    let mut res = res.set_body(BoxBody::new(serde_json::json!({ "redirect": location }).to_string()));
    *res.status_mut() = StatusCode::OK;
    res.headers_mut().remove(header::LOCATION);
    res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Ok(res)
}

fn open_login_cookie(req: &HttpRequest, state: &AppState) -> Option<PendingLogin> {
    let previous = state.previous_keys.as_ref().map(|keys| &keys.passkey);
    let opened = cookies::open(
        req,
        &state.settings,
        LOGIN_COOKIE,
        &state.keys.passkey,
        previous,
        Protection::Private,
    )?;
    serde_json::from_str(&opened.value).ok()
}

fn relying_party(state: &AppState) -> Option<&RelyingParty> {
    state.passkeys.as_ref()
}

/// A refused ceremony: its status, and a message the script shows.
fn refusal(error: &PasskeyError) -> HttpResponse {
    let status = match error {
        PasskeyError::Unavailable => StatusCode::NOT_FOUND,
        PasskeyError::Expired | PasskeyError::Invalid => StatusCode::BAD_REQUEST,
        PasskeyError::UnknownCredential => StatusCode::UNAUTHORIZED,
        PasskeyError::AlreadyRegistered => StatusCode::CONFLICT,
        PasskeyError::NotFound => StatusCode::NOT_FOUND,
        PasskeyError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        PasskeyError::Database(_) | PasskeyError::Encoding(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut res = json_error(status, &error.to_string(), None);
    if let PasskeyError::Throttled { retry_after } = error
        && let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, value);
    }
    res
}

/// Refusals are answered here; failures of the server go to the error pages.
fn failure(error: PasskeyError) -> Result<HttpResponse, AppError> {
    match error {
        PasskeyError::Database(error) => Err(error.into()),
        PasskeyError::Encoding(error) => Err(AppError::internal(error)),
        refused => Ok(refusal(&refused)),
    }
}

fn json_error(status: StatusCode, message: &str, link: Option<&str>) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": message, "link": link }))
}
