use actix_web::{HttpResponse, http::header};

/// The one stylesheet, embedded in the binary; cacheable, unlike every page.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/style.css"))
}
