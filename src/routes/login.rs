use actix_session::SessionExt as _;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use crate::{
    audit::Event,
    auth::{
        accounts::{self, AuthError, FieldErrors},
        csrf,
        password::Password,
        safe_next::safe_next,
    },
    web::{
        AppError, AppState, MaybeUser, Route, audit::Audit, route::see_other_path, see_other,
        session::begin_login, views,
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

    let password = Password::new(&form.password);
    match accounts::authenticate(&state.db, &state.hasher, &state.clock, &form.login, password).await {
        Ok(user) => {
            begin_login(&req, user.id, remember, &state.settings.trusted_proxies)?;
            log::info!("user {} logged in", user.id);
            let detail = remember.then(|| "remember me".to_owned());
            audit.record(Event::LoggedIn, Some(user.id), detail).await;
            match next {
                Some(path) => Ok(see_other_path(&path)),
                None => Ok(see_other(Route::Dashboard)),
            }
        }
        Err(AuthError::InvalidCredentials { user_id }) => {
            log::warn!("failed login attempt");
            if user_id.is_some() {
                audit.record_in_background(Event::LoginFailed, user_id, None);
            }
            errors.insert("form", INVALID_CREDENTIALS.to_owned());
            let next = next.unwrap_or_default();
            render(&req, StatusCode::UNPROCESSABLE_ENTITY, &form.login, &next, remember, &errors)
        }
        Err(error) => Err(error.into()),
    }
}

fn render(
    req: &HttpRequest,
    status: StatusCode,
    login: &str,
    next: &str,
    remember: bool,
    errors: &FieldErrors,
) -> Result<HttpResponse, AppError> {
    csrf::ensure_token(&req.get_session())?;
    let mut context = tera::Context::new();
    context.insert("login", login);
    context.insert("next", next);
    context.insert("remember", &remember);
    context.insert("errors", errors);
    views::render(req, status, "login.html", context)
}
