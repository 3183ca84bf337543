//! Two-factor authentication: `/account/two-factor` (turn TOTP on with a first code, off with the
//! password and a code, new recovery codes) and `/login/two-factor`, the second step of a login
//! whose password was right. Until that step passes, the session is anonymous everywhere.

use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use base64::Engine as _;
use serde::Deserialize;

use crate::{
    audit::Event,
    auth::{
        CurrentUser,
        accounts::FieldErrors,
        confirmation,
        safe_next::safe_next,
        session::{self as session_keys, PendingLogin},
        two_factor::{self, CodeCheck, Enrolment, Reauth, SecondStep, TwoFactorError},
    },
    db::{self, users::User},
    mail::Email,
    web::{AppError, AppState, MaybeUser, Route, audit::Audit, client, csrf, flash, see_other, views},
};

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub struct ReauthForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
}

// ---- The second step of a login ----

/// The pending login of this session and its user, while it is still good: at most `PENDING_FOR`
/// old, the user active and their credentials unchanged since the password step. Anything else is
/// forgotten.
async fn live_pending(req: &HttpRequest, state: &AppState) -> Result<Option<(PendingLogin, User)>, AppError> {
    let session = req.get_session();
    let Some(pending) = session_keys::pending_login(&session) else {
        return Ok(None);
    };
    if state.clock.now() - pending.started_at > two_factor::PENDING_FOR {
        session_keys::forget_pending_login(&session);
        flash::send(req, flash::Level::Info, "That took too long: log in again.");
        return Ok(None);
    }
    match db::users::find_by_id(&state.db, pending.user_id).await? {
        Some(user) if user.is_active && user.session_epoch == pending.epoch => Ok(Some((pending, user))),
        _ => {
            session_keys::forget_pending_login(&session);
            Ok(None)
        }
    }
}

pub async fn login_form(
    req: HttpRequest,
    user: MaybeUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if user.0.is_some() {
        return Ok(see_other(Route::Dashboard));
    }
    if live_pending(&req, &state).await?.is_none() {
        return Ok(see_other(Route::Login));
    }
    render_login(&req, StatusCode::OK, &FieldErrors::new())
}

pub async fn login_submit(
    req: HttpRequest,
    user: MaybeUser,
    form: web::Form<CodeForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    if user.0.is_some() {
        return Ok(see_other(Route::Dashboard));
    }
    let Some((pending, user)) = live_pending(&req, &state).await? else {
        return Ok(see_other(Route::Login));
    };
    if form.code.trim().is_empty() {
        let errors = FieldErrors::from([("code", "Enter the code from your app.".to_owned())]);
        return render_login(&req, StatusCode::UNPROCESSABLE_ENTITY, &errors);
    }
    let client_ip = client::client_ip(&req, &state.settings.trusted_proxies);
    let ip = client_ip.as_deref().unwrap_or("unknown");
    let step = two_factor::second_step(
        &state.db,
        &state.clock,
        &state.two_factor_keys,
        &state.settings.throttle,
        user.id,
        client_ip.as_deref(),
        &form.code,
    )
    .await;
    let step = match step {
        Ok(step) => step,
        // Turned off (by the user elsewhere, an administrator or the shell) since the password step:
        // the password alone now logs in, so the browser starts again from the password.
        Err(TwoFactorError::NotEnabled) => {
            session_keys::forget_pending_login(&req.get_session());
            flash::send(&req, flash::Level::Info, "Two-factor authentication was turned off: log in again.");
            return Ok(see_other(Route::Login));
        }
        Err(error) => return Err(error.into()),
    };
    if step.lock_ended() {
        audit.record_in_background(Event::LoginLockEnded, Some(user.id), None);
    }
    match step {
        SecondStep::Passed { code, .. } => {
            if let CodeCheck::Recovery { left } = code {
                let detail = Some(format!("{left} recovery code(s) left"));
                audit.record(Event::RecoveryCodeUsed, Some(user.id), detail).await;
            }
            session_keys::forget_pending_login(&req.get_session());
            if !confirmation::may_log_in(&user, state.settings.require_confirmed_email) {
                return super::confirm_email::render_confirm_first(&req, &user.email);
            }
            let next = pending.next.as_deref().and_then(safe_next);
            super::login::complete_login(
                &req,
                &state,
                &audit,
                &user,
                pending.remember,
                next,
                super::login::Proof::SecondFactor,
            )
            .await
        }
        SecondStep::Refused { lock_started, .. } => {
            log::warn!("wrong second-factor code for user {} from {ip}", user.id);
            // Awaited, not in the background: the user is known here, so timing tells nothing.
            audit.record(Event::TwoFactorFailed, Some(user.id), None).await;
            if let Some(until) = lock_started {
                log::warn!("too many wrong codes: user {}'s codes locked until {until}", user.id);
                let detail = Some(format!("two-factor codes, until {}", until.format("%H:%M UTC")));
                audit.record(Event::LoginLocked, Some(user.id), detail).await;
            }
            let errors = FieldErrors::from([("code", two_factor::WRONG_CODE.to_owned())]);
            render_login(&req, StatusCode::UNPROCESSABLE_ENTITY, &errors)
        }
        SecondStep::Throttled { until, .. } => {
            log::info!("refused a second-factor code for user {} from {ip}: locked until {until}", user.id);
            views::too_many_attempts(&req, until, state.clock.now(), true)
        }
    }
}

fn render_login(
    req: &HttpRequest,
    status: StatusCode,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("errors", errors);
    context.insert("focus", "code");
    views::render(req, status, "login_two_factor.html", context)
}

// ---- The account's settings ----

pub async fn show(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render_status(&req, &user, &state, StatusCode::OK, Forms::default()).await
}

/// `POST /account/two-factor/totp`: after the password, a new secret and its QR code.
pub async fn start(
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<PasswordForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let started = two_factor::start_enrolment(
        &state.db,
        audit.password_check(),
        &state.two_factor_keys,
        user.id,
        &form.current_password,
    )
    .await;
    match started {
        Ok(enrolment) => render_enrolment(&req, &enrolment, StatusCode::OK, &FieldErrors::new()),
        Err(TwoFactorError::Invalid(errors)) if errors.contains_key("form") => {
            flash::send(&req, flash::Level::Info, "Two-factor authentication is already on.");
            Ok(see_other(Route::AccountTwoFactor))
        }
        Err(TwoFactorError::Invalid(errors)) => {
            let forms = Forms { enable: errors, ..Forms::default() };
            render_status(&req, &user, &state, StatusCode::UNPROCESSABLE_ENTITY, forms).await
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /account/two-factor/totp/confirm`: the first code; TOTP is on and the recovery codes shown.
pub async fn confirm(
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<CodeForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let keys = &state.two_factor_keys;
    match two_factor::confirm_enrolment(&state.db, &state.clock, keys, user.id, &user.username, &form.code)
        .await
    {
        Ok(codes) => {
            audit.record(Event::TwoFactorEnabled, Some(user.id), None).await;
            log::info!("user {} turned two-factor authentication on", user.id);
            notify(&state, &user.username, &user.email, Notice::Enabled);
            flash::send(&req, flash::Level::Success, "Two-factor authentication is on.");
            render_codes(&req, &codes)
        }
        Err(TwoFactorError::Invalid(errors)) => {
            let enrolment = two_factor::pending_enrolment(&state.db, keys, user.id, &user.username).await?;
            render_enrolment(&req, &enrolment, StatusCode::UNPROCESSABLE_ENTITY, &errors)
        }
        Err(TwoFactorError::NoEnrolment) => {
            flash::send(&req, flash::Level::Info, "Start again: no two-factor setup was waiting for a code.");
            Ok(see_other(Route::AccountTwoFactor))
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /account/two-factor/totp/disable`: the password and a code; TOTP and its recovery codes go.
pub async fn disable(
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<ReauthForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let reauth = Reauth { current_password: &form.current_password, code: &form.code };
    let disabled =
        two_factor::disable(&state.db, audit.password_check(), &state.two_factor_keys, user.id, &reauth)
            .await;
    match disabled {
        Ok(code) => {
            record_recovery_use(&audit, user.id, code).await;
            audit.record(Event::TwoFactorDisabled, Some(user.id), None).await;
            log::info!("user {} turned two-factor authentication off", user.id);
            notify(&state, &user.username, &user.email, Notice::Disabled);
            flash::send(&req, flash::Level::Success, "Two-factor authentication is off.");
            Ok(see_other(Route::AccountTwoFactor))
        }
        Err(error) => {
            refused(&req, &user, &state, error, |errors| Forms { disable: errors, ..Forms::default() }).await
        }
    }
}

/// `POST /account/two-factor/recovery-codes`: the password and a code; new codes replace the old.
pub async fn regenerate(
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<ReauthForm>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    let reauth = Reauth { current_password: &form.current_password, code: &form.code };
    let regenerated = two_factor::regenerate_recovery_codes(
        &state.db,
        audit.password_check(),
        &state.two_factor_keys,
        user.id,
        &reauth,
    )
    .await;
    match regenerated {
        Ok(codes) => {
            audit.record(Event::RecoveryCodesRegenerated, Some(user.id), None).await;
            render_codes(&req, &codes)
        }
        Err(error) => {
            refused(&req, &user, &state, error, |errors| Forms { regenerate: errors, ..Forms::default() })
                .await
        }
    }
}

async fn record_recovery_use(audit: &Audit, user_id: i64, code: CodeCheck) {
    if let CodeCheck::Recovery { left } = code {
        audit
            .record(Event::RecoveryCodeUsed, Some(user_id), Some(format!("{left} recovery code(s) left")))
            .await;
    }
}

/// A refused re-authentication (422 beside the form), or TOTP that is not on (back to the status).
async fn refused(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    error: TwoFactorError,
    forms: impl FnOnce(FieldErrors) -> Forms,
) -> Result<HttpResponse, AppError> {
    match error {
        TwoFactorError::Invalid(errors) => {
            render_status(req, user, state, StatusCode::UNPROCESSABLE_ENTITY, forms(errors)).await
        }
        TwoFactorError::NotEnabled => {
            flash::send(req, flash::Level::Info, "Two-factor authentication is not on.");
            Ok(see_other(Route::AccountTwoFactor))
        }
        TwoFactorError::Throttled { until } => {
            log::warn!("refused a code for user {}: codes locked until {until}", user.id);
            views::too_many_codes(req, until, state.clock.now())
        }
        other => Err(other.into()),
    }
}

/// The messages of the status page's forms, one set per form.
#[derive(Default)]
struct Forms {
    enable: FieldErrors,
    disable: FieldErrors,
    regenerate: FieldErrors,
}

async fn render_status(
    req: &HttpRequest,
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    forms: Forms,
) -> Result<HttpResponse, AppError> {
    let totp = two_factor::status(&state.db, user.id).await?;
    csrf::form_token(req)?;
    let focus = if forms.enable.contains_key("current_password") {
        "enable-current_password"
    } else if forms.disable.contains_key("current_password") {
        "disable-current_password"
    } else if forms.disable.contains_key("code") {
        "disable-code"
    } else if forms.regenerate.contains_key("current_password") {
        "regenerate-current_password"
    } else if forms.regenerate.contains_key("code") {
        "regenerate-code"
    } else {
        ""
    };
    let mut context = tera::Context::new();
    context.insert("mode", "status");
    context.insert("enabled", &totp.enabled);
    context.insert("recovery_codes_left", &totp.recovery_codes_left);
    context.insert("enable_errors", &forms.enable);
    context.insert("disable_errors", &forms.disable);
    context.insert("regenerate_errors", &forms.regenerate);
    context.insert("focus", focus);
    views::render(req, status, "two_factor.html", context)
}

fn render_enrolment(
    req: &HttpRequest,
    enrolment: &Enrolment,
    status: StatusCode,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::form_token(req)?;
    let mut context = tera::Context::new();
    context.insert("mode", "enrol");
    context.insert("secret", &enrolment.secret_base32);
    context.insert("otpauth_uri", &enrolment.otpauth_uri);
    context.insert("qr_code", &qr_data_uri(&enrolment.otpauth_uri)?);
    context.insert("errors", errors);
    context.insert("focus", "code");
    views::render(req, status, "two_factor.html", context)
}

fn render_codes(req: &HttpRequest, codes: &[String]) -> Result<HttpResponse, AppError> {
    let mut context = tera::Context::new();
    context.insert("mode", "codes");
    context.insert("codes", codes);
    context.insert("focus", "");
    views::render(req, StatusCode::OK, "two_factor.html", context)
}

/// The QR code as an SVG image in a `data:` URI: rendered here, shown by an `<img>` (the CSP allows
/// `data:` images and no inline style or script). Only base64 characters follow the fixed prefix, so
/// the template may print it unescaped.
fn qr_data_uri(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| AppError::internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    Ok(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

/// The security notices emailed to the account's address.
#[derive(Clone, Copy)]
pub(super) enum Notice {
    Enabled,
    Disabled,
    ClearedByAdmin,
}

pub(super) fn notify(state: &AppState, username: &str, email: &str, notice: Notice) {
    let (subject, what) = match notice {
        Notice::Enabled => ("Two-factor authentication is on", "was turned on"),
        Notice::Disabled => ("Two-factor authentication is off", "was turned off"),
        Notice::ClearedByAdmin => {
            ("Two-factor authentication was removed", "was removed by an administrator")
        }
    };
    let mut context = tera::Context::new();
    context.insert("username", username);
    context.insert("what", what);
    context.insert("site", &state.settings.public_origin);
    let subject = format!("Gatehouse: {subject}");
    match Email::render(&state.templates, "two_factor_changed", email, &subject, &context) {
        Ok(email) => state.mailer.send_in_background(email),
        Err(error) => log::error!("could not render the two-factor notice: {error:?}"),
    }
}
