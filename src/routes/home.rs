use actix_web::{HttpRequest, HttpResponse, http::StatusCode};

use crate::web::{AppError, views};

/// The landing page; the layout shows "Log in"/"Register" or the user's name and "Dashboard".
pub async fn index(req: HttpRequest) -> Result<HttpResponse, AppError> {
    views::render(&req, StatusCode::OK, "home.html", tera::Context::new())
}
