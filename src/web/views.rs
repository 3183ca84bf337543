//! What templates see: view structs (never an entity model) and the one render function that adds
//! the layout's common values (current user, flash messages, CSRF token).

use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::StatusCode};
use serde::Serialize;
use tera::Context;

use super::{AppError, AppState, csrf, flash};
use crate::auth::{CurrentUser, accounts::FieldErrors};

/// The logged-in user as pages see it: no password hash, ever.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub is_admin: bool,
}

impl From<&CurrentUser> for UserView {
    fn from(user: &CurrentUser) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            role: user.role.clone(),
            is_admin: user.is_admin(),
        }
    }
}

/// The values the layout needs, for pages and error pages alike.
pub fn base_context(req: &HttpRequest) -> Context {
    let mut context = Context::new();
    let user = req.extensions().get::<CurrentUser>().map(UserView::from);
    context.insert("current_user", &user);
    context.insert("flashes", &flash::incoming(req));
    context.insert("csrf_token", &csrf::current_form_token(req).unwrap_or_default());
    // The id of the field to focus when the page loads (see `focus`); none unless a page says so.
    context.insert("focus", "");
    // A form that failed: the title starts with "Error: ", which screen readers announce first.
    context.insert("form_failed", &false);
    context
}

/// Which field a form page focuses when it loads: after a failure the first field (in page order)
/// with a message, so the person lands on what to fix, scrolled into view; otherwise the first field.
/// `fields` are (error key, element id) in page order.
pub fn focus(errors: &FieldErrors, fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .find(|(key, _)| errors.contains_key(key))
        .or(fields.first())
        .map(|(_, id)| (*id).to_owned())
        .unwrap_or_default()
}

/// Renders `template` with the layout's values added to `context`.
pub fn render(
    req: &HttpRequest,
    status: StatusCode,
    template: &str,
    context: Context,
) -> Result<HttpResponse, AppError> {
    let state = AppState::of(req)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the app state is not registered")))?;
    let mut full = base_context(req);
    full.insert("form_failed", &(status == StatusCode::UNPROCESSABLE_ENTITY));
    full.extend(context);
    let body = state.templates.render(template, &full)?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}

/// The 429 page: when to try again, and the way out (a password reset). `Retry-After` says the same
/// to programs.
pub fn too_many_attempts(
    req: &HttpRequest,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    offer_reset: bool,
) -> Result<HttpResponse, AppError> {
    throttled(
        req,
        until,
        now,
        offer_reset,
        "There have been too many attempts to sign in or ask for a reset link from here",
    )
}

/// The 429 page for a client IP that tried to create too many accounts this hour.
pub fn too_many_registrations(
    req: &HttpRequest,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HttpResponse, AppError> {
    throttled(req, until, now, false, "There have been too many attempts to create an account from here")
}

/// The 429 page for an account whose two-factor codes are locked after too many wrong ones.
pub fn too_many_codes(
    req: &HttpRequest,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HttpResponse, AppError> {
    throttled(req, until, now, false, "There have been too many wrong codes for this account")
}

/// The 429 page for an address that had its share of confirmation emails.
pub fn too_many_emails(
    req: &HttpRequest,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HttpResponse, AppError> {
    throttled(
        req,
        until,
        now,
        false,
        "Too many confirmation emails have gone to this address in the last hour",
    )
}

fn throttled(
    req: &HttpRequest,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    offer_reset: bool,
    what: &str,
) -> Result<HttpResponse, AppError> {
    let seconds = crate::auth::throttle::retry_after_seconds(until, now);
    let minutes = seconds.div_ceil(60);
    if super::error_body::wants_json(req.headers()) {
        let plural = if minutes == 1 { "" } else { "s" };
        let message = format!("{what}. Try again in {minutes} minute{plural}.");
        let mut res =
            super::error_body::json_refusal(req, StatusCode::TOO_MANY_REQUESTS, message, offer_reset);
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(seconds),
        );
        return Ok(res);
    }
    let mut context = Context::new();
    context.insert("minutes", &minutes);
    context.insert("until", &until.format("%H:%M UTC").to_string());
    context.insert("offer_reset", &offer_reset);
    context.insert("what", what);
    let mut res = render(req, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts.html", context)?;
    res.headers_mut()
        .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(seconds));
    Ok(res)
}

/// The dashboard's facts as the page shows them.
#[derive(Clone, Debug, Serialize)]
pub struct OverviewView {
    pub email_confirmed: bool,
    pub live_sessions: i64,
    pub previous_sign_in: Option<SignInView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SignInView {
    /// "3 hours ago"
    pub when: String,
    /// "2026-11-30 14:02 UTC"
    pub at: String,
    pub ip: String,
    pub device: String,
}

impl OverviewView {
    pub fn new(overview: &crate::auth::accounts::Overview, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            email_confirmed: overview.email_confirmed,
            live_sessions: overview.live_sessions,
            previous_sign_in: overview.previous_sign_in.as_ref().map(|sign_in| SignInView {
                when: relative_time(sign_in.at, now),
                at: sign_in.at.format("%Y-%m-%d %H:%M UTC").to_string(),
                ip: sign_in.ip.clone().unwrap_or_else(|| "an unknown address".to_owned()),
                device: describe_device(sign_in.user_agent.as_deref()),
            }),
        }
    }
}

/// One row of the sessions list.
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    pub id: String,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub device: String,
    pub remembered: bool,
    pub current: bool,
}

impl SessionView {
    pub fn new(
        row: &crate::db::sessions::SessionRow,
        current_id: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            id: row.public_id.clone(),
            created: row.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            last_seen: relative_time(row.last_seen_at, now),
            ip: row.ip.clone().unwrap_or_else(|| "unknown".to_owned()),
            device: describe_device(row.user_agent.as_deref()),
            remembered: row.remember,
            current: current_id == Some(row.public_id.as_str()),
        }
    }
}

/// One row of the recent security events.
#[derive(Clone, Debug, Serialize)]
pub struct EventView {
    pub what: &'static str,
    pub when: String,
    pub ip: String,
    pub device: String,
    /// Who did it, when someone else did (an administrator or an operator).
    pub detail: Option<String>,
}

impl EventView {
    pub fn new(event: &crate::db::audit_events::AuditEvent, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            what: crate::audit::Event::label(&event.kind),
            when: relative_time(event.created_at, now),
            ip: event.ip.clone().unwrap_or_else(|| "unknown".to_owned()),
            device: describe_device(event.user_agent.as_deref()),
            detail: event.detail.clone(),
        }
    }
}

/// One row of the admin's user list (or the head of one user's page).
#[derive(Clone, Debug, Serialize)]
pub struct AdminUserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub is_admin: bool,
    pub is_active: bool,
    pub created: String,
    pub last_login: String,
    pub live_sessions: i64,
    /// The administrator looking at the page: their own row offers no self-lockout.
    pub is_self: bool,
}

impl AdminUserView {
    pub fn new(user: &crate::db::users::User, live_sessions: i64, viewer_id: i64) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            role: user.role.clone(),
            is_admin: user.role == crate::auth::accounts::ROLE_ADMIN,
            is_active: user.is_active,
            created: user.created_at.format("%Y-%m-%d").to_string(),
            last_login: user
                .last_login_at
                .map_or_else(|| "never".to_owned(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            live_sessions,
            is_self: user.id == viewer_id,
        }
    }
}

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago".
pub fn relative_time(then: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let seconds = (now - then).num_seconds().max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match seconds {
        0..60 => "just now".to_owned(),
        60..3_600 => plural(seconds / 60, "minute"),
        3_600..86_400 => plural(seconds / 3_600, "hour"),
        _ => plural(seconds / 86_400, "day"),
    }
}

/// A readable device from a user agent: "Firefox on Linux", "Safari on iPhone".
pub fn describe_device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("Browser on {system}"),
        (None, None) => ua.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    #[test]
    fn the_first_field_with_a_message_is_focused_else_the_first_field() {
        let fields = [("username", "username"), ("email", "email"), ("password", "password")];
        assert_eq!(focus(&FieldErrors::new(), &fields), "username");
        let errors = FieldErrors::from([("password", "x".to_owned()), ("email", "y".to_owned())]);
        assert_eq!(focus(&errors, &fields), "email", "page order, not the map's");
        assert_eq!(focus(&errors, &[]), "");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(relative_time(now - Duration::seconds(5), now), "just now");
        assert_eq!(relative_time(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative_time(now - Duration::minutes(5), now), "5 minutes ago");
        assert_eq!(relative_time(now - Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative_time(now - Duration::days(2), now), "2 days ago");
    }

    #[test]
    fn user_agents_become_readable_devices() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";
        let chrome_win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36";
        assert_eq!(describe_device(Some(firefox)), "Firefox on Linux");
        assert_eq!(describe_device(Some(iphone)), "Safari on iPhone");
        assert_eq!(describe_device(Some(chrome_win)), "Chrome on Windows");
        assert_eq!(describe_device(None), "Unknown device");
    }
}
