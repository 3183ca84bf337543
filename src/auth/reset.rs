//! Password reset by emailed link: a random 256-bit token, stored only as a hash, single use, valid
//! one hour, void once the password changes by any path. Success ends every session of the user,
//! confirms the address the link was mailed to, and cancels a pending change of address.

use crate::db::Db;

use super::{
    accounts::FieldErrors,
    password::{Password, PasswordError, PasswordHasher},
    policy,
    throttle::{self, Key, Limits},
};
use crate::{
    clock::Clock,
    db::{self, link_tokens, password_reset_tokens::ResetTokens},
    tokens::{self, RandomError},
};

pub const VALID_FOR: chrono::Duration = chrono::Duration::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used or expired: the same answer for all three.
    #[error("the reset link is invalid or has expired")]
    InvalidToken,
    #[error("the new password is invalid")]
    Invalid(FieldErrors),
    #[error("database error during a password reset")]
    Database(#[from] sea_orm::DbErr),
    #[error("could not hash the password")]
    Hashing(#[from] PasswordError),
    #[error("could not generate a token")]
    Random(#[from] RandomError),
}

/// A reset link to email: the user it is for and the token (shown once, in the link).
pub struct IssuedToken {
    pub user: db::users::User,
    pub token: String,
}

/// What a reset request for an address came to; the person asking sees the same answer for all.
pub enum Requested {
    /// A link to email.
    Issued(IssuedToken),
    /// No active account has this address.
    NoAccount,
    /// The address had its share of reset emails this hour: no link, no email.
    Suppressed { user: db::users::User },
}

/// Issues a token when `email` belongs to an active account and its hourly share of reset emails is
/// not spent. The caller answers the same whatever the outcome.
pub async fn request(db: &Db, clock: &Clock, limits: &Limits, email: &str) -> Result<Requested, ResetError> {
    let Some(user) = db::users::find_by_email(db, email).await? else {
        return Ok(Requested::NoAccount);
    };
    if !user.is_active {
        return Ok(Requested::NoAccount);
    }
    let now = clock.now();
    if throttle::take(db, &Key::reset_email(email), &limits.reset_emails, now).await?.is_err() {
        return Ok(Requested::Suppressed { user });
    }
    Ok(Requested::Issued(issue(db, clock, user).await?))
}

/// A new reset link for `user`, without the per-address budget: for an administrator's "send reset".
pub async fn issue(db: &Db, clock: &Clock, user: db::users::User) -> Result<IssuedToken, ResetError> {
    let now = clock.now();
    let link = tokens::LinkToken::new()?;
    db::password_reset_tokens::insert(db, user.id, link.hash, now, now + VALID_FOR).await?;
    Ok(IssuedToken { user, token: link.token })
}

/// The token's row and the user it may reset, if it is valid now.
async fn usable(
    db: &impl sea_orm::ConnectionTrait,
    clock: &Clock,
    token_hash: &str,
) -> Result<(db::password_reset_tokens::ResetToken, db::users::User), ResetError> {
    let row = link_tokens::find_usable::<ResetTokens>(db, token_hash, clock.now())
        .await?
        .ok_or(ResetError::InvalidToken)?;
    match db::users::find_by_id(db, row.user_id).await? {
        Some(user) if user.is_active => Ok((row, user)),
        _ => Err(ResetError::InvalidToken),
    }
}

/// The user a token may reset, if it is valid now. Takes the token's hash
/// (`tokens::link_token_hash`): the raw token is never kept anywhere, not even in the session between
/// the link and the form.
pub async fn check(db: &Db, clock: &Clock, token_hash: &str) -> Result<db::users::User, ResetError> {
    Ok(usable(db, clock, token_hash).await?.1)
}

/// Sets the new password, uses up the token (and every other of the user's), ends every session.
pub async fn complete(
    db: &Db,
    hasher: &PasswordHasher,
    clock: &Clock,
    min_password_length: usize,
    token_hash: &str,
    password: Password,
    password_confirm: Password,
) -> Result<db::users::User, ResetError> {
    let (row, user) = usable(db, clock, token_hash).await?;
    let hash = policy::hash_new_password_on(
        hasher,
        password,
        &password_confirm,
        min_password_length,
        &user.username,
        &user.email,
        policy::PASSWORD_FIELDS,
    )
    .await?
    .map_err(|refusal| ResetError::Invalid(FieldErrors::from([refusal])))?;
    // All or nothing: a used-up token with the old password, or a new password with live sessions,
    // must never be left behind by a failure half-way.
    let txn = db::begin_write(db).await?;
    // Two tabs submitting one link: only the first wins.
    if !link_tokens::mark_used::<ResetTokens>(&txn, row.id, clock.now()).await? {
        return Err(ResetError::InvalidToken);
    }
    db::users::change_password_hash(&txn, user.id, hash, clock.now()).await?;
    link_tokens::delete_for_user::<ResetTokens>(&txn, user.id).await?;
    // The link reached the account's address, which confirms it; and a pending change of address
    // may be an intruder's, so securing the account cancels it.
    db::users::confirm_email(&txn, user.id, clock.now()).await?;
    db::email_confirmation_tokens::delete_other_addresses(&txn, user.id, &user.email).await?;
    db::sessions::delete_for_user(&txn, user.id).await?;
    // The owner has the account back: the wrong current passwords of whoever held a session of it
    // must not keep them from securing it (two-factor, passkeys) for the rest of that lock.
    let reauth = throttle::Settlement::new(&Key::reauth_user(user.id), None);
    db::throttle::settle_success(&txn, &reauth.into_success(), clock.now()).await?;
    txn.commit().await?;
    Ok(user)
}
