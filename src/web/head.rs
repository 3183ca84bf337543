//! `HEAD` answers like `GET` without a body (RFC 9110 §9.3.2) on every route, without registering
//! each route twice: the router sees `GET`, and the HTTP layer, which remembers that the request was
//! `HEAD`, sends the headers (with the `Content-Length` the body would have had) and drops the body.

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
};

/// The innermost middleware: everything outside it (logging, CSRF, the loader) still sees `HEAD`.
pub async fn as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
