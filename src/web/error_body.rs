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
/// are compared without regard to case (RFC 9110 §8.3.1), and a type counts as accepted when the
/// most specific range that names it has a quality above zero (§12.5.1): so `text/html;q=0`
/// refuses HTML, and `*/*` accepts it unless `text/html` or `text/*` says otherwise. Every
/// `Accept` line counts, as one list.
pub fn wants_json(headers: &actix_web::http::header::HeaderMap) -> bool {
    // Read in place, not joined into one string: this runs on every request.
    let elements =
        || headers.get_all(header::ACCEPT).filter_map(|v| v.to_str().ok()).flat_map(|line| line.split(','));
    accepts(elements(), "application", "json") && !accepts(elements(), "text", "html")
}

/// Whether the elements of an `Accept` list accept `kind/subtype`.
fn accepts<'a>(elements: impl Iterator<Item = &'a str>, kind: &str, subtype: &str) -> bool {
    // (how specific the matching range is, its quality in thousandths): `*/*` is 0, `text/*` is 1,
    // `text/html` is 2.
    let mut best: Option<(u8, u16)> = None;
    for element in elements {
        let mut parts = element.split(';');
        let range = parts.next().unwrap_or_default().trim();
        let Some((range_kind, range_subtype)) = range.split_once('/') else { continue };
        let (range_kind, range_subtype) = (range_kind.trim(), range_subtype.trim());
        let specificity = if range_kind == "*" && range_subtype == "*" {
            0
        } else if range_kind.eq_ignore_ascii_case(kind) && range_subtype == "*" {
            1
        } else if range_kind.eq_ignore_ascii_case(kind) && range_subtype.eq_ignore_ascii_case(subtype) {
            2
        } else {
            continue;
        };
        // A quality that is not a qvalue is read as if it were absent: 1, as the element would be
        // without it.
        let quality = parts
            .filter_map(|param| param.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, value)| qvalue(value.trim()))
            .unwrap_or(1000);
        best = match best {
            Some((seen, seen_quality))
                if seen > specificity || (seen == specificity && seen_quality >= quality) =>
            {
                best
            }
            _ => Some((specificity, quality)),
        };
    }
    best.is_some_and(|(_, quality)| quality > 0)
}

/// A qvalue in thousandths, by RFC 9110's grammar: `0` or `1`, then at most three decimals, none
/// above `1.000`.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    if decimals.len() > 3 {
        return None;
    }
    let mut thousandths = 0;
    for (digit, weight) in decimals.bytes().zip([100, 10, 1]) {
        if !digit.is_ascii_digit() {
            return None;
        }
        thousandths += u16::from(digit - b'0') * weight;
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    fn accepts(accept: &str, kind: &str, subtype: &str) -> bool {
        super::accepts(accept.split(','), kind, subtype)
    }

    #[test]
    fn the_most_specific_range_decides() {
        assert!(accepts("application/json", "application", "json"));
        assert!(!accepts("application/json", "text", "html"));
        assert!(!accepts("application/json, text/html;q=0", "text", "html"));
        assert!(!accepts("application/json, */*;q=0.5, text/*;q=0", "text", "html"));
        assert!(accepts("application/json, text/*;q=0, text/html;q=0.1", "text", "html"));
        assert!(accepts("*/*", "text", "html"));
        assert!(!accepts("*/*;q=0", "text", "html"));
        assert!(accepts("TEXT/HTML;Q=0.3", "text", "html"));
    }

    #[test]
    fn a_quality_that_is_not_a_qvalue_counts_as_absent() {
        for q in ["abc", "2", "-0", "+0", "1e-3", "NaN", "inf", "0.0001", "1.5", "", "0.-1"] {
            assert!(accepts(&format!("text/html;q={q}"), "text", "html"), "q={q}");
        }
        for q in ["0", "0.", "0.0", "0.000", " 0", "0 "] {
            assert!(!accepts(&format!("text/html;q={q}"), "text", "html"), "q={q}");
        }
        assert_eq!(super::qvalue("0.5"), Some(500));
        assert_eq!(super::qvalue("1."), Some(1000));
        assert_eq!(super::qvalue("1.000"), Some(1000));
        assert_eq!(super::qvalue("0.001"), Some(1));
        assert!(!accepts("application/jsonl", "application", "json"));
        assert!(!accepts("json", "application", "json"));
    }
}
