//! What an error answer says, as a page in the app's look or as JSON for a client that accepts only
//! JSON: shared by the error-page middleware (every error without a body of its own) and by the
//! views that answer a refusal themselves (429, the 405 of `GET /logout`).

use actix_web::{HttpMessage as _, HttpResponse, http::StatusCode, http::header};

use super::{Route, request_log::RequestId};
use crate::templates::Templates;

/// One error answer's content.
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub request_id: Option<String>,
    /// Where "Back to the form" leads, on a CSRF refusal.
    pub back: Option<String>,
    /// Links to `/password-reset`.
    pub offer_reset: bool,
}

impl ErrorPage {
    pub fn new(status: StatusCode, message: Option<String>, request_id: Option<String>) -> Self {
        let (title, default_message) = describe(status);
        let message = message.unwrap_or_else(|| default_message.to_owned());
        Self { status, title, message, request_id, back: None, offer_reset: false }
    }

    pub fn fill(&self, context: &mut tera::Context) {
        context.insert("back", &self.back);
        context.insert("offer_reset", &self.offer_reset);
        context.insert("status", &self.status.as_u16());
        context.insert("title", self.title);
        context.insert("message", &self.message);
        // The page shows a reference only for server errors; JSON always carries it.
        context.insert("request_id", &self.request_id.as_ref().filter(|_| self.status.is_server_error()));
    }

    pub fn json(&self) -> (&'static str, String) {
        let mut body = serde_json::json!({
            "status": self.status.as_u16(),
            "error": self.title,
            "message": self.message,
            "request_id": self.request_id,
        });
        if self.offer_reset {
            // The page's way out, for a program to offer its user.
            body["reset_url"] = serde_json::Value::from(Route::PasswordReset.path());
        }
        ("application/json", body.to_string())
    }

    pub fn html(&self, templates: Option<&Templates>, context: &tera::Context) -> (&'static str, String) {
        let body = match templates.map(|t| t.render("errors/error.html", context)) {
            Some(Ok(body)) => body,
            failure => {
                if let Some(Err(error)) = failure {
                    log::error!("the error page itself failed to render: {error:?}");
                }
                format!("{} {}\n{}\n", self.status.as_u16(), self.title, self.message)
            }
        };
        ("text/html; charset=utf-8", body)
    }
}

fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("Bad request", "The request could not be understood. Check the form and try again."),
        401 => ("Login required", "Please log in to access this page."),
        403 => ("Forbidden", "You are not allowed to see this page."),
        404 => ("Page not found", "There is no page at this address. Check the link, or go back home."),
        405 => ("Method not allowed", "This address does not accept that kind of request."),
        408 => ("Request timeout", "The request took too long to arrive. Please try again."),
        413 => ("Request too large", "What you sent is larger than this site accepts."),
        415 => ("Unsupported form", "This address expects an HTML form."),
        422 => ("Invalid input", "Some of what you entered is not valid."),
        429 => ("Too many attempts", "Please wait a little before trying again."),
        503 => {
            ("Service unavailable", "The service is temporarily unavailable. Please try again in a moment.")
        }
        500..=599 => ("Something went wrong", "Something went wrong on our side. Please try again later."),
        _ => ("Request refused", "The request could not be completed."),
    }
}

/// JSON only for clients that accept JSON and not HTML (`Accept: application/json`). Media types
/// are compared without their parameters and without regard to case (RFC 9110 §8.3.1).
pub fn wants_json(headers: &actix_web::http::header::HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let accepts = |kind: &str| {
        accept
            .split(',')
            .any(|part| part.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case(kind))
    };
    accepts("application/json") && !accepts("text/html") && !accepts("*/*")
}

/// A refusal that a handler answers itself with a page of its own (429, the 405 of `GET /logout`),
/// as the JSON every other error gets for a client that accepts only JSON.
pub fn json_refusal(
    req: &actix_web::HttpRequest,
    status: StatusCode,
    message: String,
    offer_reset: bool,
) -> HttpResponse {
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let mut page = ErrorPage::new(status, Some(message), request_id);
    page.offer_reset = offer_reset;
    let (content_type, body) = page.json();
    HttpResponse::build(status).content_type(content_type).body(body)
}
