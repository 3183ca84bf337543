//! The innermost middleware, just before the router: what a request must look like to reach it.
//!
//! - A NUL byte anywhere in the target (`%00`) is a 400: no route, parameter or query of ours has
//!   one, and Postgres refuses it inside text, which would turn a stray byte into a 500.
//! - `HEAD` is routed as `GET` (RFC 9110 §9.3.2) and its answer loses the body here. Stripping it in
//!   the app, not only in the HTTP layer, keeps a `HEAD` pipelined before a `GET` from sending a body
//!   (actix-http remembers "HEAD" per connection, not per request). The cost: no `Content-Length`
//!   on `HEAD` answers, which RFC 9110 allows.

use actix_web::{
    body::{self, BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
};

use super::AppError;

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let target = req.uri().path_and_query().map_or("", |pq| pq.as_str());
    // "%00" has no letters, so no case folding (and no allocation) is needed on this hot path.
    if target.contains("%00") {
        return Ok(req.error_response(AppError::BadRequest).map_into_boxed_body());
    }
    let head = req.method() == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let res = next.call(req).await?;
    Ok(if head { res.map_body(|_, _| BoxBody::new(body::None::new())) } else { res.map_into_boxed_body() })
}
