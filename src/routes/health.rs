use actix_web::{HttpResponse, web};

use crate::web::{AppError, AppState};

/// `200 ok` after a database round trip; 503 when the database cannot be reached.
pub async fn check(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    state.db.ping().await.map_err(|e| AppError::Unavailable(e.into()))?;
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok"))
}
