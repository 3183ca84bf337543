use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;

use crate::error::AppError;

/// `200 ok` after a database round trip; 503 when the database cannot be reached.
pub async fn check(db: web::Data<DatabaseConnection>) -> Result<HttpResponse, AppError> {
    db.ping().await.map_err(|e| AppError::Unavailable(e.into()))?;
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok"))
}
