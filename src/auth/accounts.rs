//! Registering and authenticating accounts: validation, normalisation, hashing, uniqueness.
//! Handlers and the `create-user` command call these; neither validates on its own.

use std::collections::BTreeMap;

use crate::db::Db;
use chrono::{DateTime, Utc};

use super::{
    password::{Password, PasswordError, PasswordHasher, Verification},
    policy,
    throttle::{self, Key, Limits, Reservation, Settlement},
};
use crate::{
    audit::{self, Event, Origin},
    clock::Clock,
    db,
};

pub const ROLE_USER: &str = "user";
pub const ROLE_ADMIN: &str = "admin";

/// Field name → the message shown beside it.
pub type FieldErrors = BTreeMap<&'static str, String>;

/// What someone typed into the registration form (or the `create-user` command).
#[derive(Debug)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: Password,
    pub password_confirm: Password,
    pub role: &'static str,
    /// True when whoever creates the account vouches for the address (an operator's `create-user`);
    /// an account registered on the site confirms it through a mailed link.
    pub email_confirmed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the registration is invalid")]
    Invalid(FieldErrors),
    #[error("database error while registering")]
    Database(#[from] sea_orm::DbErr),
    #[error("could not hash the password")]
    Hashing(#[from] PasswordError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or deactivated account: one answer for all three. The id (when the
    /// name was a real account) is for the security log only.
    #[error("invalid credentials")]
    InvalidCredentials { user_id: Option<i64> },
    #[error("database error while logging in")]
    Database(#[from] sea_orm::DbErr),
    #[error("could not verify the password")]
    Hashing(#[from] PasswordError),
}

/// The case-folded form of a username, used for uniqueness and login.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Usernames are 3–32 ASCII letters, digits, `_`, `-` or `.`: readable, and with no look-alike letters.
pub fn validate_username(username: &str) -> Result<(), String> {
    let length = username.chars().count();
    if !(3..=32).contains(&length) {
        return Err("Use 3 to 32 characters.".to_owned());
    }
    if !username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("Use only the letters a–z and A–Z, digits, and _ - . characters.".to_owned());
    }
    Ok(())
}

/// Trims and lower-cases an email address, or says why it is not one.
pub fn normalise_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err("Enter your email address.".to_owned());
    }
    // Control and bidi/format characters can make one address look like another on every page and
    // in the operator's terminal; no real address needs them.
    let deceptive = email.chars().any(|c| {
        c.is_control() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
    });
    // Quoted local parts ("a b"@…) and address literals (…@[127.0.0.1]) are valid addresses that the
    // mailer refuses to send to: an account holding one would never get a confirmation or reset link.
    // They also give one mailbox two spellings.
    let unmailable = email.contains(['"', '\\', '[', ']']);
    if deceptive
        || unmailable
        || email.len() > 254
        || !email_address::EmailAddress::is_valid(&email)
        || !email.contains('.')
    {
        return Err("Enter a valid email address, like name@example.com.".to_owned());
    }
    Ok(email)
}

/// Validates, hashes and stores a new account.
pub async fn register(
    db: &Db,
    hasher: &PasswordHasher,
    clock: &Clock,
    min_password_length: usize,
    registration: Registration,
) -> Result<db::users::User, RegisterError> {
    let mut errors = FieldErrors::new();
    let username = registration.username.trim().to_owned();
    if let Err(message) = validate_username(&username) {
        errors.insert("username", message);
    }
    let email = normalise_email(&registration.email).unwrap_or_else(|message| {
        errors.insert("email", message);
        String::new()
    });
    if let Err((field, message)) = policy::check_new_password_on(
        hasher,
        &registration.password,
        &registration.password_confirm,
        min_password_length,
        &username,
        &email,
        policy::PASSWORD_FIELDS,
    )
    .await?
    {
        errors.insert(field, message);
    }
    let key = username_key(&username);
    if !errors.contains_key("username") && db::users::username_key_taken(db, &key).await? {
        errors.insert("username", taken_username());
    }
    if !errors.contains_key("email") && db::users::email_taken(db, &email).await? {
        errors.insert("email", taken_email());
    }
    if !errors.is_empty() {
        return Err(RegisterError::Invalid(errors));
    }

    let password_hash = hasher.hash(registration.password).await?;
    let new_user = db::users::NewUser {
        username,
        username_key: key.clone(),
        email: email.clone(),
        password_hash,
        role: registration.role.to_owned(),
        email_confirmed: registration.email_confirmed,
    };
    match db::users::insert(db, new_user, clock.now()).await {
        Ok(user) => Ok(user),
        // Lost a race with another registration for the same name or address since the checks above.
        Err(error) if db::is_unique_violation(&error) => {
            let mut errors = FieldErrors::new();
            if db::users::username_key_taken(db, &key).await? {
                errors.insert("username", taken_username());
            }
            if db::users::email_taken(db, &email).await? {
                errors.insert("email", taken_email());
            }
            if errors.is_empty() {
                return Err(error.into());
            }
            Err(RegisterError::Invalid(errors))
        }
        Err(error) => Err(error.into()),
    }
}

fn taken_username() -> String {
    "This username is already taken.".to_owned()
}

pub(crate) fn taken_email() -> String {
    "An account with this email address already exists.".to_owned()
}

/// Checks a password against the account found for a login name (`None`: no such account). Every
/// failure costs one argon2 verification, so an unknown name cannot be told from a wrong password by
/// timing. `auth::login` adds throttling around it. A completed login is recorded by the route
/// (`audit::record_login`), once any second factor has passed.
pub async fn verify_login(
    db: &Db,
    hasher: &PasswordHasher,
    clock: &Clock,
    user: Option<db::users::User>,
    password: Password,
) -> Result<db::users::User, AuthError> {
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let verification = hasher.verify(password.clone(), stored_hash).await?;
    let user_id = user.as_ref().map(|u| u.id);
    let (Some(user), Verification::Valid { needs_rehash }) = (user, verification) else {
        return Err(AuthError::InvalidCredentials { user_id });
    };
    if !user.is_active {
        log::warn!("login refused for deactivated user {}", user.id);
        return Err(AuthError::InvalidCredentials { user_id });
    }
    if needs_rehash {
        rehash(db, hasher, clock, user.id, password).await;
    }
    Ok(user)
}

/// Brings a hash made with older parameters up to the current ones. An upgrade, not part of the
/// login: when it fails the login goes on (the password was right) and the next one tries again.
async fn rehash(db: &Db, hasher: &PasswordHasher, clock: &Clock, user_id: i64, password: Password) {
    let saved = match hasher.hash(password).await {
        Ok(fresh) => {
            db::users::set_password_hash(db, user_id, fresh, clock.now()).await.map_err(AuthError::from)
        }
        Err(error) => Err(error.into()),
    };
    match saved {
        Ok(()) => log::info!("rehashed the password of user {user_id} with current parameters"),
        Err(error) => log::warn!(
            "could not rehash the password of user {user_id}, kept the old hash: {}",
            crate::telemetry::error_chain(&error)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_allow_letters_digits_and_three_punctuation_marks() {
        assert!(validate_username("alice_the-2nd.x").is_ok());
        assert!(validate_username("ab").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("<script>").is_err());
        assert!(validate_username("al ice").is_err());
        assert!(validate_username("аlice").is_err(), "Cyrillic а looks like Latin a");
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(normalise_email("  Alice@Example.COM ").unwrap(), "alice@example.com");
        assert!(normalise_email("not-an-email").is_err());
        assert!(normalise_email("a@b").is_err());
        assert!(normalise_email("").is_err());
        for deceptive in [
            "\"\u{202e}gnp.exe\"@example.com",
            "\"a\tb\"@example.com",
            "a\u{200b}b@example.com",
            "\"a\u{2028}\"@example.com",
        ] {
            assert!(normalise_email(deceptive).is_err(), "{deceptive:?}");
        }
    }

    #[test]
    fn addresses_the_mailer_cannot_send_to_are_refused() {
        for unmailable in [
            "\"a b\"@example.com",
            "\"bob\"@example.com",
            "\"x,evil@evil.com\"@example.com",
            "\"<img src=x onerror=alert(1)>\"@example.com",
            "bob@[127.0.0.1]",
            "a\\b@example.com",
        ] {
            assert!(normalise_email(unmailable).is_err(), "{unmailable:?}");
        }
        assert!(normalise_email("bob+tag@sub.example.com").is_ok());
    }
}

/// Why a change to an account was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("the change is invalid")]
    Invalid(FieldErrors),
    #[error("database error while changing the account")]
    Database(#[from] sea_orm::DbErr),
    #[error("could not hash or verify the password")]
    Hashing(#[from] PasswordError),
    #[error(transparent)]
    Locked(#[from] ReauthLocked),
}

/// Too many wrong current passwords for one account: every form that asks for it answers this until
/// `until`, whatever the password, without checking it.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("too many wrong current passwords for this account; checks locked until {until}")]
pub struct ReauthLocked {
    pub until: DateTime<Utc>,
    pub retry_after_seconds: u64,
}

const WRONG_CURRENT_PASSWORD: &str = "Your current password is not correct.";

/// What checks a current password: the hasher, and the throttle that counts wrong ones per account
/// (`web::Audit::password_check` builds it for a request).
#[derive(Clone, Copy)]
pub struct PasswordCheck<'a> {
    pub hasher: &'a PasswordHasher,
    pub clock: &'a Clock,
    pub limits: &'a Limits,
    /// Where the request came from, for the security events of wrong passwords and locks.
    pub origin: &'a Origin,
}

/// Re-authentication: every change to an account asks for the current password first. Wrong ones
/// are counted per account on the failed-login budget's terms (shared ROUTES.md, "Throttling"), so
/// somebody at a screen left logged in cannot guess the password through these forms; the budget is
/// its own, so they cannot lock the user out of logging in elsewhere either.
pub(crate) async fn check_current_password(
    db: &Db,
    check: PasswordCheck<'_>,
    user_id: i64,
    current_password: &str,
) -> Result<db::users::User, ChangeError> {
    let PasswordCheck { hasher, clock, limits, origin } = check;
    let now = clock.now();
    let budget = Key::reauth_user(user_id);
    let reservation = throttle::reserve(db, &budget, &limits.login, now).await?;
    let lock_ended = match reservation {
        Reservation::Refused { until } => {
            log::info!("refused a password check for user {user_id}: locked until {until}");
            let retry_after_seconds = throttle::retry_after_seconds(until, now);
            return Err(ReauthLocked { until, retry_after_seconds }.into());
        }
        Reservation::Allowed { lock_ended, .. } => lock_ended,
    };
    if lock_ended {
        audit::record(db, clock, Event::CurrentPasswordLockEnded, Some(user_id), origin, None).await;
    }
    let user = db::users::find_by_id(db, user_id).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verification = match hasher.verify(Password::new(current_password), stored).await {
        Ok(verification) => verification,
        Err(error) => {
            // Not checked (the hashing queue was full, or its pool gone): not an attempt either.
            throttle::give_back(db, &budget, &reservation).await?;
            return Err(error.into());
        }
    };
    match (user, verification) {
        (Some(user), Verification::Valid { .. }) => {
            throttle::settle(db, Settlement::new(&budget, None), now).await?;
            Ok(user)
        }
        _ => {
            audit::record(db, clock, Event::CurrentPasswordFailed, Some(user_id), origin, None).await;
            if let Some(until) = throttle::failed(db, &budget, &limits.login, &reservation, now).await? {
                log::warn!(
                    "too many wrong current passwords for user {user_id}: checks locked until {until}"
                );
                let detail = Some(format!("until {}", until.format("%H:%M UTC")));
                audit::record(db, clock, Event::CurrentPasswordLocked, Some(user_id), origin, detail).await;
            }
            Err(ChangeError::Invalid(FieldErrors::from([(
                "current_password",
                WRONG_CURRENT_PASSWORD.to_owned(),
            )])))
        }
    }
}

/// What the change-password form carries.
#[derive(Debug)]
pub struct PasswordChange {
    pub current_password: Password,
    pub new_password: Password,
    pub new_password_confirm: Password,
}

/// A new password for a logged-in user. Ends every other session (also one a racing request creates
/// later: the user's session epoch is raised) and invalidates reset links; the caller renews the
/// current session's key and records the new epoch in it.
pub async fn change_password(
    db: &Db,
    check: PasswordCheck<'_>,
    min_password_length: usize,
    user_id: i64,
    current_session_id: &str,
    change: PasswordChange,
) -> Result<PasswordChanged, ChangeError> {
    let PasswordChange { current_password, new_password, new_password_confirm } = change;
    let user = check_current_password(db, check, user_id, current_password.expose()).await?;
    let hash = policy::hash_new_password_on(
        check.hasher,
        new_password,
        &new_password_confirm,
        min_password_length,
        &user.username,
        &user.email,
        policy::NEW_PASSWORD_FIELDS,
    )
    .await?
    .map_err(|refusal| ChangeError::Invalid(FieldErrors::from([refusal])))?;
    // All or nothing: a new password must never be left with the other sessions still alive.
    let txn = db::begin_write(db).await?;
    let epoch = db::users::change_password_hash(&txn, user.id, hash, check.clock.now()).await?;
    db::link_tokens::delete_for_user::<db::password_reset_tokens::ResetTokens>(&txn, user.id).await?;
    // A pending change of address may be an intruder's: securing the account cancels it.
    db::email_confirmation_tokens::delete_other_addresses(&txn, user.id, &user.email).await?;
    let ended = db::sessions::delete_for_user_except(&txn, user.id, current_session_id).await?;
    txn.commit().await?;
    Ok(PasswordChanged { other_sessions_ended: ended, session_epoch: epoch })
}

/// A password change as done: how many other sessions ended, and the epoch the caller's own session
/// must record to stay valid.
#[derive(Debug)]
pub struct PasswordChanged {
    pub other_sessions_ended: u64,
    pub session_epoch: i64,
}

/// Deletes the account; its sessions and reset links go with it (foreign keys cascade).
pub async fn delete_account(
    db: &Db,
    check: PasswordCheck<'_>,
    user_id: i64,
    current_password: &str,
) -> Result<db::users::User, ChangeError> {
    let user = check_current_password(db, check, user_id, current_password).await?;
    // Explicit as well as cascaded, so no backend setting can leave a live session behind.
    db::sessions::delete_for_user(db, user.id).await?;
    db::users::delete(db, user.id).await?;
    Ok(user)
}

/// What the dashboard tells a user about their account.
#[derive(Debug)]
pub struct Overview {
    pub email_confirmed: bool,
    pub live_sessions: i64,
    /// The sign-in (login or registration) before the one that started this session.
    pub previous_sign_in: Option<SignIn>,
}

#[derive(Debug)]
pub struct SignIn {
    pub at: chrono::DateTime<chrono::Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The dashboard's facts, in one query. `None` when the user is gone.
pub async fn overview(
    db: &Db,
    clock: &Clock,
    user_id: i64,
    this_session: &str,
) -> Result<Option<Overview>, sea_orm::DbErr> {
    let kinds = [Event::LoggedIn.code(), Event::Registered.code()];
    let Some(row) = db::users::overview(db, user_id, this_session, kinds, clock.now()).await? else {
        return Ok(None);
    };
    Ok(Some(Overview {
        email_confirmed: row.email_confirmed_at.is_some(),
        live_sessions: row.live_sessions,
        previous_sign_in: row.previous_sign_in_at.map(|at| SignIn {
            at,
            ip: row.previous_sign_in_ip,
            user_agent: row.previous_sign_in_user_agent,
        }),
    }))
}
