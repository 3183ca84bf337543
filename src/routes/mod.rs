//! Thin handlers, one file per resource. `configure` registers every path and names it; redirects
//! are built from those names with `path_for`, and a test resolves every one of them.

mod account;
mod account_sessions;
mod assets;
mod dashboard;
mod health;
mod home;
mod login;
mod logout;
mod password_reset;
mod register;

use actix_web::{HttpRequest, HttpResponse, http::header, middleware::from_fn, web};

use crate::{auth::guard::require_login, error::AppError};

/// Every route name a redirect may target. A test checks each resolves and answers.
pub const REDIRECT_TARGETS: &[&str] =
    &["home", "login", "dashboard", "account", "account_sessions", "password_reset"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").name("home").get(home::index))
        .service(web::resource("/register").name("register").get(register::form).post(register::submit))
        .service(web::resource("/login").name("login").get(login::form).post(login::submit))
        .service(web::resource("/logout").name("logout").post(logout::submit))
        .service(
            web::resource("/password-reset")
                .name("password_reset")
                .get(password_reset::request_form)
                .post(password_reset::request),
        )
        .service(
            web::resource("/password-reset/{token}")
                .name("password_reset_confirm")
                .get(password_reset::confirm_form)
                .post(password_reset::confirm),
        )
        .service(web::resource("/healthz").name("healthz").get(health::check))
        .service(web::resource("/static/style.css").name("stylesheet").get(assets::stylesheet))
        .service(web::resource("/favicon.ico").name("favicon").get(assets::favicon))
        // Logged-in pages: the guard is the one place that sends anonymous visitors to log in.
        .service(
            web::resource("/dashboard").name("dashboard").wrap(from_fn(require_login)).get(dashboard::show),
        )
        .service(
            web::scope("/account")
                .wrap(from_fn(require_login))
                .service(web::resource("").name("account").get(account::show))
                .service(web::resource("/email").name("account_email").post(account::change_email))
                .service(web::resource("/password").name("account_password").post(account::change_password))
                .service(web::resource("/delete").name("account_delete").post(account::delete))
                .service(web::resource("/sessions").name("account_sessions").get(account_sessions::list))
                .service(
                    web::resource("/sessions/revoke-others")
                        .name("account_sessions_revoke_others")
                        .post(account_sessions::revoke_others),
                )
                .service(
                    web::resource("/sessions/{id}/revoke")
                        .name("account_session_revoke")
                        .post(account_sessions::revoke),
                ),
        );
}

/// The path of a named route, e.g. `path_for(&req, "login")` → `/login`.
pub fn path_for(req: &HttpRequest, name: &str) -> Result<String, AppError> {
    let no_elements: [&str; 0] = [];
    req.url_for(name, no_elements)
        .map(|url| url.path().to_owned())
        .map_err(|e| AppError::internal(anyhow::anyhow!("no route named `{name}`: {e}")))
}

/// `303 See Other` to a named route.
pub fn see_other(req: &HttpRequest, name: &str) -> Result<HttpResponse, AppError> {
    Ok(see_other_path(&path_for(req, name)?))
}

/// `303 See Other` to a path already known to be ours.
pub fn see_other_path(path: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, path)).finish()
}
