use actix_web::{HttpRequest, HttpResponse, http::StatusCode};

use crate::{
    auth::CurrentUser,
    web::{AppError, views},
};

pub async fn show(req: HttpRequest, user: CurrentUser) -> Result<HttpResponse, AppError> {
    let mut context = tera::Context::new();
    context.insert("user", &views::UserView::from(&user));
    views::render(&req, StatusCode::OK, "dashboard.html", context)
}
