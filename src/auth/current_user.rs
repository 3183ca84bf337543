//! The user loader: on every request with an identity, one `find_by_id`, with three outcomes kept
//! apart: found (logged in), not found or inactive (logged out, with a warning), database error (503).

use std::future::{Ready, ready};

use actix_identity::IdentityExt as _;
use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use sea_orm::DatabaseConnection;

use crate::{db, error::AppError};

/// The logged-in user, loaded once per request. Holds no password hash.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

impl From<db::users::User> for CurrentUser {
    fn from(user: db::users::User) -> Self {
        Self { id: user.id, username: user.username, email: user.email, role: user.role }
    }
}

/// What the loader concluded about a session's identity.
#[derive(Debug)]
pub enum LoadOutcome {
    Anonymous,
    LoggedIn(CurrentUser),
    /// The session names a user who can no longer use it: it is logged out.
    Rejected {
        user_id: String,
        reason: &'static str,
    },
}

/// Loads the user named by the session, if any.
pub async fn load(db: &DatabaseConnection, user_id: Option<String>) -> Result<LoadOutcome, sea_orm::DbErr> {
    let Some(raw_id) = user_id else {
        return Ok(LoadOutcome::Anonymous);
    };
    let Ok(id) = raw_id.parse::<i64>() else {
        return Ok(LoadOutcome::Rejected {
            user_id: raw_id,
            reason: "the session's user id is not a number",
        });
    };
    Ok(match db::users::find_by_id(db, id).await? {
        Some(user) if user.is_active => LoadOutcome::LoggedIn(user.into()),
        Some(_) => LoadOutcome::Rejected { user_id: raw_id, reason: "the user is deactivated" },
        None => LoadOutcome::Rejected { user_id: raw_id, reason: "the user no longer exists" },
    })
}

/// Middleware: runs the loader and leaves a `CurrentUser` in the request's extensions when logged in.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let identity = req.get_identity().ok();
    let user_id = identity.as_ref().and_then(|identity| identity.id().ok());
    let Some(db) = req.app_data::<web::Data<DatabaseConnection>>().cloned() else {
        return Err(AppError::internal(anyhow::anyhow!("database is not registered")).into());
    };
    match load(&db, user_id).await {
        Ok(LoadOutcome::LoggedIn(user)) => {
            req.extensions_mut().insert(user);
        }
        Ok(LoadOutcome::Anonymous) => {}
        Ok(LoadOutcome::Rejected { user_id, reason }) => {
            log::warn!("logged out the session of user {user_id}: {reason}");
            if let Some(identity) = identity {
                identity.logout();
            }
        }
        Err(error) => {
            return Ok(req.error_response(AppError::from(error)).map_into_right_body());
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// Extractor for handlers in the protected scope. The guard has already proven there is a user; this
/// only reads what the loader left, so a page view costs one user query.
impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<CurrentUser>().cloned().ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "CurrentUser extracted outside the login guard: register the route in the protected scope"
            ))
        }))
    }
}

/// Extractor for public pages that look different when someone is logged in.
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequest for MaybeUser {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(MaybeUser(req.extensions().get::<CurrentUser>().cloned())))
    }
}
