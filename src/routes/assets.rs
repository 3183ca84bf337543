use actix_web::{HttpResponse, http::header};

/// The one stylesheet, embedded in the binary; cacheable, unlike every page.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/style.css"))
}

/// The passkey script (WebAuthn needs JavaScript; every other page works without it).
pub async fn passkeys_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/passkeys.js"))
}

/// The app's icon: browsers ask for it on every first visit, and a 404 there clutters every console.
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/x-icon")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(&include_bytes!("../../static/favicon.ico")[..])
}
