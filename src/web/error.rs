//! `AppError`: the one error type handlers return, and the only place a failure picks its status:
//! every domain error converts here. The body of every error page is rendered later, in one place,
//! by `web::error_pages`.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};

use crate::{
    auth::{
        accounts::{AuthError, ChangeError, FieldErrors, ReauthLocked, RegisterError},
        admin::AdminError,
        confirmation::ConfirmError,
        password::PasswordError,
        reset::ResetError,
        session::SessionError,
        two_factor::TwoFactorError,
    },
    tokens::RandomError,
};

/// `Display` is safe to show a user; the cause stays in `source()` and reaches only the log.
#[derive(thiserror::Error)]
pub enum AppError {
    #[error("Bad request: the form could not be read.")]
    BadRequest,
    #[error(
        "Your session has expired or the form came from another site, so nothing was changed. Go back to the form, then send it again."
    )]
    CsrfRejected,
    #[error("Please log in to access this page.")]
    Unauthorized,
    #[error("You are not allowed to see this page.")]
    Forbidden,
    #[error("There is no page at this address.")]
    NotFound,
    #[error("The request is too large.")]
    PayloadTooLarge,
    #[error("The request took too long to arrive.")]
    RequestTimeout,
    /// Too many wrong current passwords for this account (`accounts::ReauthLocked`).
    #[error(
        "There have been too many wrong passwords for this account. Please try again in {}, or reset your password.",
        minutes(*.retry_after_seconds)
    )]
    PasswordChecksLocked { retry_after_seconds: u64 },
    #[error("The service is temporarily unavailable. Please try again in a moment.")]
    Unavailable(#[source] anyhow::Error),
    #[error("Something went wrong on our side.")]
    Internal(#[source] anyhow::Error),
}

/// "1 minute", "15 minutes": a wait in whole minutes, rounded up.
fn minutes(seconds: u64) -> String {
    match seconds.div_ceil(60) {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

impl AppError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }
}

impl std::fmt::Debug for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::CsrfRejected | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PasswordChecksLocked { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A bare status: `web::error_pages` gives it the app's page (or JSON) and logs the cause.
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let Self::PasswordChecksLocked { retry_after_seconds } = self {
            res.insert_header((actix_web::http::header::RETRY_AFTER, *retry_after_seconds));
        }
        res.finish()
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        if crate::db::is_unavailable(&error) {
            Self::Unavailable(error.into())
        } else {
            Self::Internal(error.into())
        }
    }
}

impl From<PasswordError> for AppError {
    fn from(error: PasswordError) -> Self {
        match error {
            // A full hashing queue is load, not a fault: "try again in a moment".
            PasswordError::Busy => Self::Unavailable(error.into()),
            _ => Self::Internal(error.into()),
        }
    }
}

impl From<actix_session::SessionInsertError> for AppError {
    fn from(error: actix_session::SessionInsertError) -> Self {
        Self::Internal(anyhow::anyhow!("{error}"))
    }
}

impl From<SessionError> for AppError {
    fn from(error: SessionError) -> Self {
        Self::Internal(error.into())
    }
}

impl From<RandomError> for AppError {
    fn from(error: RandomError) -> Self {
        Self::Internal(error.into())
    }
}

impl From<ReauthLocked> for AppError {
    fn from(locked: ReauthLocked) -> Self {
        Self::PasswordChecksLocked { retry_after_seconds: locked.retry_after_seconds }
    }
}

/// A handler answers a domain error's `Invalid` case itself (a 422 with field messages); reaching
/// here with one is a bug, reported as a server fault with what was refused.
fn unhandled_validation(errors: &FieldErrors) -> AppError {
    let fields: Vec<&str> = errors.keys().copied().collect();
    AppError::internal(anyhow::anyhow!("a validation failure was not shown to the user (fields {fields:?})"))
}

impl From<RegisterError> for AppError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(errors) => unhandled_validation(&errors),
            RegisterError::Database(error) => error.into(),
            RegisterError::Hashing(error) => error.into(),
        }
    }
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials { .. } => {
                Self::internal(anyhow::anyhow!("invalid credentials were not shown to the user"))
            }
            AuthError::Database(error) => error.into(),
            AuthError::Hashing(error) => error.into(),
        }
    }
}

impl From<ChangeError> for AppError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Invalid(errors) => unhandled_validation(&errors),
            ChangeError::Database(error) => error.into(),
            ChangeError::Hashing(error) => error.into(),
            ChangeError::Locked(locked) => locked.into(),
        }
    }
}

impl From<TwoFactorError> for AppError {
    fn from(error: TwoFactorError) -> Self {
        match error {
            TwoFactorError::Invalid(errors) => unhandled_validation(&errors),
            TwoFactorError::Database(error) => error.into(),
            TwoFactorError::Hashing(error) => error.into(),
            TwoFactorError::ReauthLocked(locked) => locked.into(),
            other => Self::internal(anyhow::Error::new(other)),
        }
    }
}

impl From<AdminError> for AppError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::UnknownUser => Self::NotFound,
            AdminError::Database(error) => error.into(),
            refusal => {
                Self::internal(anyhow::anyhow!("an administrator's refused act was not shown: {refusal}"))
            }
        }
    }
}

impl From<ResetError> for AppError {
    fn from(error: ResetError) -> Self {
        match error {
            ResetError::InvalidToken => Self::NotFound,
            ResetError::Invalid(errors) => unhandled_validation(&errors),
            ResetError::Database(error) => error.into(),
            ResetError::Hashing(error) => error.into(),
            ResetError::Random(error) => error.into(),
        }
    }
}

impl From<ConfirmError> for AppError {
    fn from(error: ConfirmError) -> Self {
        match error {
            ConfirmError::InvalidToken => Self::NotFound,
            ConfirmError::Invalid(errors) => unhandled_validation(&errors),
            ConfirmError::Database(error) => error.into(),
            ConfirmError::Hashing(error) => error.into(),
            ConfirmError::Random(error) => error.into(),
            ConfirmError::ReauthLocked(locked) => locked.into(),
            refusal @ (ConfirmError::AddressTaken { .. } | ConfirmError::Throttled { .. }) => {
                Self::internal(anyhow::anyhow!("a refused email confirmation was not shown: {refusal}"))
            }
        }
    }
}

impl From<tera::Error> for AppError {
    fn from(error: tera::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// Prints an error and then each `source()` below it, one per line.
pub fn error_chain_fmt(
    error: &(dyn std::error::Error + 'static),
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    write!(f, "{error}")?;
    let mut current = error.source();
    while let Some(cause) = current {
        write!(f, "\n  caused by: {cause}")?;
        current = cause.source();
    }
    Ok(())
}
