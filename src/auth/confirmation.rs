//! Confirmed email addresses (Devise's confirmable and reconfirmable): a link mailed to an address
//! proves it reaches the account's owner. New accounts get one for their address; a change of address
//! waits in a link mailed to the *new* address and takes effect only when that link is opened, so a
//! typo can never take the account's address away. Links are like reset links: 256 random bits, only
//! their SHA-256 stored, single use, valid 24 hours.

use crate::db::Db;
use chrono::{DateTime, Utc};

use super::{
    accounts::{self, FieldErrors, PasswordCheck, ReauthLocked},
    password::PasswordError,
    throttle::{self, Key, Limits},
};
use crate::{
    clock::Clock,
    db::{
        self, email_confirmation_tokens::ConfirmationTokens, link_tokens, password_reset_tokens::ResetTokens,
    },
    tokens::{self, RandomError},
};

pub const VALID_FOR: chrono::Duration = chrono::Duration::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Unknown, used, expired, or for a deactivated account: the same answer for all.
    #[error("the confirmation link is invalid or has expired")]
    InvalidToken,
    /// Another account took the address between the request and the confirmation.
    #[error("the address now belongs to another account")]
    AddressTaken { email: String },
    #[error("the email change is invalid")]
    Invalid(FieldErrors),
    /// The address had its share of confirmation emails this hour.
    #[error("too many confirmation emails to one address")]
    Throttled { until: DateTime<Utc> },
    #[error("database error during an email confirmation")]
    Database(#[from] sea_orm::DbErr),
    #[error("could not verify the password")]
    Hashing(#[from] PasswordError),
    #[error("could not generate a token")]
    Random(#[from] RandomError),
    #[error(transparent)]
    ReauthLocked(ReauthLocked),
}

impl From<accounts::ChangeError> for ConfirmError {
    fn from(error: accounts::ChangeError) -> Self {
        match error {
            accounts::ChangeError::Invalid(errors) => Self::Invalid(errors),
            accounts::ChangeError::Database(error) => Self::Database(error),
            accounts::ChangeError::Hashing(error) => Self::Hashing(error),
            accounts::ChangeError::Locked(locked) => Self::ReauthLocked(locked),
        }
    }
}

/// A link to email: the account, the address it goes to, and the token (shown once, in the link).
pub struct IssuedLink {
    pub user: db::users::User,
    pub email: String,
    pub token: String,
}

impl IssuedLink {
    /// True when the link changes the account's address (rather than confirming the current one).
    pub fn is_change(&self) -> bool {
        self.email != self.user.email
    }
}

/// A new link for `email` on `user`'s account. Older links stay valid until they expire or one of
/// them is used: a resend must not break the first email when it arrives late.
pub async fn issue(
    db: &Db,
    clock: &Clock,
    user: db::users::User,
    email: &str,
) -> Result<IssuedLink, ConfirmError> {
    let now = clock.now();
    let link = tokens::LinkToken::new()?;
    db::email_confirmation_tokens::insert(db, user.id, email, link.hash, now, now + VALID_FOR).await?;
    Ok(IssuedLink { user, email: email.to_owned(), token: link.token })
}

/// Takes one of `email`'s confirmation emails for this hour; `Err(until)` when they are spent.
async fn take_share(
    db: &Db,
    clock: &Clock,
    limits: &Limits,
    email: &str,
) -> Result<Result<(), DateTime<Utc>>, ConfirmError> {
    Ok(throttle::take(db, &Key::confirm_email(email), &limits.confirm_emails, clock.now()).await?)
}

/// The link a new account gets for its address; `None` when the address had its share this hour
/// (the account is made all the same; the owner can ask again later).
pub async fn issue_for_new_account(
    db: &Db,
    clock: &Clock,
    limits: &Limits,
    user: db::users::User,
) -> Result<Option<IssuedLink>, ConfirmError> {
    if take_share(db, clock, limits, &user.email).await?.is_err() {
        return Ok(None);
    }
    let email = user.email.clone();
    Ok(Some(issue(db, clock, user, &email).await?))
}

/// A logged-in user asks to change their address to `new_email` (after their current password).
/// Nothing changes yet: the link goes to the new address, and the old one stays until it is opened.
/// A newer request replaces an older pending one.
pub async fn request_change(
    db: &Db,
    check: PasswordCheck<'_>,
    user_id: i64,
    new_email: &str,
    current_password: &str,
) -> Result<IssuedLink, ConfirmError> {
    let PasswordCheck { clock, limits, .. } = check;
    let invalid = |message: String| ConfirmError::Invalid(FieldErrors::from([("email", message)]));
    let new_email = accounts::normalise_email(new_email).map_err(invalid)?;
    let user = accounts::check_current_password(db, check, user_id, current_password).await?;
    if new_email == user.email {
        return Err(invalid("This is already your email address.".to_owned()));
    }
    if db::users::email_taken(db, &new_email).await? {
        return Err(invalid(accounts::taken_email()));
    }
    // Counted per account: an address's own quota (registration, resend) is its owner's alone.
    let key = Key::confirm_change_by(user.id);
    if let Err(until) = throttle::take(db, &key, &limits.confirm_emails, clock.now()).await? {
        return Err(ConfirmError::Throttled { until });
    }
    db::email_confirmation_tokens::delete_other_addresses(db, user.id, &user.email).await?;
    issue(db, clock, user, &new_email).await
}

/// Withdraws a pending change of address; true when there was one.
pub async fn cancel_change(db: &Db, user_id: i64, current_email: &str) -> Result<bool, ConfirmError> {
    Ok(db::email_confirmation_tokens::delete_other_addresses(db, user_id, current_email).await? > 0)
}

/// What "send the link again" on the account page came to.
pub enum Resent {
    Sent(Box<IssuedLink>),
    /// The address is confirmed and no change is pending: nothing to send.
    NothingToConfirm,
    Throttled {
        until: DateTime<Utc>,
    },
}

/// A fresh link for what is waiting: the pending change if there is one, else the unconfirmed address.
pub async fn resend(db: &Db, clock: &Clock, limits: &Limits, user_id: i64) -> Result<Resent, ConfirmError> {
    let Some(user) = db::users::find_by_id(db, user_id).await? else {
        return Ok(Resent::NothingToConfirm);
    };
    let now = clock.now();
    let pending = db::email_confirmation_tokens::pending_change(db, user.id, &user.email, now).await?;
    let email = match pending {
        Some(pending) => pending.email,
        None if user.email_confirmed_at.is_none() => user.email.clone(),
        None => return Ok(Resent::NothingToConfirm),
    };
    if let Err(until) = take_share(db, clock, limits, &email).await? {
        return Ok(Resent::Throttled { until });
    }
    Ok(Resent::Sent(Box::new(issue(db, clock, user, &email).await?)))
}

/// What an anonymous "send the link again" for an address came to; the person asking sees the same
/// answer for all.
pub enum Requested {
    Issued(IssuedLink),
    /// No active account has this address, or its address is confirmed already.
    Nothing,
    /// The address had its share of confirmation emails this hour: no link, no email.
    Suppressed {
        user: db::users::User,
    },
}

/// A link for the unconfirmed address of an active account, asked for by someone who cannot log in
/// yet (`REQUIRE_CONFIRMED_EMAIL`). The caller answers the same whatever the outcome.
pub async fn request(
    db: &Db,
    clock: &Clock,
    limits: &Limits,
    email: &str,
) -> Result<Requested, ConfirmError> {
    let Some(user) = db::users::find_by_email(db, email).await? else {
        return Ok(Requested::Nothing);
    };
    if !user.is_active || user.email_confirmed_at.is_some() {
        return Ok(Requested::Nothing);
    }
    if take_share(db, clock, limits, &user.email).await?.is_err() {
        return Ok(Requested::Suppressed { user });
    }
    let email = user.email.clone();
    Ok(Requested::Issued(issue(db, clock, user, &email).await?))
}

/// What a valid link would do, for the page that asks "confirm?" before anything happens.
pub struct Pending {
    pub user: db::users::User,
    pub email: String,
}

impl Pending {
    pub fn is_change(&self) -> bool {
        self.email != self.user.email
    }
}

/// The token row and its account when the link is usable now.
async fn usable(
    db: &impl sea_orm::ConnectionTrait,
    clock: &Clock,
    token_hash: &str,
) -> Result<(db::email_confirmation_tokens::ConfirmationToken, db::users::User), ConfirmError> {
    let row = link_tokens::find_usable::<ConfirmationTokens>(db, token_hash, clock.now())
        .await?
        .ok_or(ConfirmError::InvalidToken)?;
    match db::users::find_by_id(db, row.user_id).await? {
        Some(user) if user.is_active => Ok((row, user)),
        _ => Err(ConfirmError::InvalidToken),
    }
}

/// The account and address a link is for, if it is usable now. Changes nothing: opening a link
/// (or a mail scanner fetching it) only shows a page; the button on it confirms.
pub async fn check(db: &Db, clock: &Clock, token_hash: &str) -> Result<Pending, ConfirmError> {
    let (row, user) = usable(db, clock, token_hash).await?;
    Ok(Pending { user, email: row.email })
}

/// What a confirmation did.
pub enum Confirmed {
    /// The account's own address is confirmed.
    Address { user: db::users::User },
    /// The account's address is now `new_email`; `user` is the account as it was (old address).
    Changed { user: db::users::User, new_email: String },
}

/// Uses the link: confirms the address, or makes the pending address the account's, after checking
/// (again, now) that no other account has it. Every other link of the account dies with it, and reset
/// links mailed to the old address too.
pub async fn confirm(db: &Db, clock: &Clock, token_hash: &str) -> Result<Confirmed, ConfirmError> {
    let now = clock.now();
    // All or nothing: a used-up link with the address unchanged must never be left behind.
    let txn = db::begin_write(db).await?;
    let (row, user) = usable(&txn, clock, token_hash).await?;
    // Two tabs submitting one link: only the first wins.
    if !link_tokens::mark_used::<ConfirmationTokens>(&txn, row.id, now).await? {
        return Err(ConfirmError::InvalidToken);
    }
    let confirmed = if row.email == user.email {
        db::users::confirm_email(&txn, user.id, now).await?;
        Confirmed::Address { user }
    } else {
        let taken = || ConfirmError::AddressTaken { email: row.email.clone() };
        if db::users::email_taken(&txn, &row.email).await? {
            return Err(taken());
        }
        match db::users::set_confirmed_email(&txn, user.id, &row.email, now).await {
            Ok(()) => {}
            // Another account took it since the check above.
            Err(error) if db::is_unique_violation(&error) => return Err(taken()),
            Err(error) => return Err(error.into()),
        }
        // A reset link mailed to the old address must not outlive the change.
        link_tokens::delete_for_user::<ResetTokens>(&txn, user.id).await?;
        Confirmed::Changed { user, new_email: row.email.clone() }
    };
    link_tokens::delete_for_user::<ConfirmationTokens>(&txn, row.user_id).await?;
    txn.commit().await?;
    Ok(confirmed)
}

/// The address as the account page shows it.
pub struct EmailStatus {
    pub confirmed: bool,
    /// A new address waiting for its link to be opened.
    pub pending: Option<String>,
}

pub async fn status(db: &Db, clock: &Clock, user_id: i64) -> Result<Option<EmailStatus>, ConfirmError> {
    let Some(user) = db::users::find_by_id(db, user_id).await? else {
        return Ok(None);
    };
    let pending =
        db::email_confirmation_tokens::pending_change(db, user.id, &user.email, clock.now()).await?;
    Ok(Some(EmailStatus { confirmed: user.email_confirmed_at.is_some(), pending: pending.map(|p| p.email) }))
}

/// With `REQUIRE_CONFIRMED_EMAIL`, a correct password is not enough until the address is confirmed.
pub fn may_log_in(user: &db::users::User, confirmation_required: bool) -> bool {
    !confirmation_required || user.email_confirmed_at.is_some()
}
