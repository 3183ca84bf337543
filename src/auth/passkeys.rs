//! Passkeys (WebAuthn discoverable credentials) with webauthn-rs: adding one to an account, and
//! logging in with one. A passkey login is a whole login: the authenticator checked possession of
//! the key and the user's PIN or biometric (user verification is required), so it stands for both
//! factors.
//!
//! Ceremony state never leaves the server's control: a registration's state lives in the logged-in
//! session; a sign-in's state is handed to the web layer to seal in a short-lived encrypted cookie
//! (a visitor costs no write), and its challenge is spent in the database when an answer is checked,
//! so each challenge answers once. Both expire after `VALID_FOR`.

use std::time::Duration;

use crate::db::Db;
use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::{
    accounts::{self, ChangeError, PasswordCheck},
    throttle::{self, Key, Limits, Reservation},
};
use crate::{clock::Clock, db, tokens};

/// How long a ceremony (registration or sign-in) may take, from its options to its answer.
pub const VALID_FOR: chrono::Duration = chrono::Duration::minutes(5);

/// The longest passkey name kept (in characters).
pub const NAME_MAX_CHARS: usize = 100;

/// The relying party: this site, as WebAuthn names it (its host, and the origin pages come from).
#[derive(Clone, Debug)]
pub struct RelyingParty {
    webauthn: Webauthn,
    id: String,
}

/// Why passkeys cannot be offered with the configured public origin.
#[derive(Debug, thiserror::Error)]
pub enum RelyingPartyError {
    #[error("`{0}` is not a URL")]
    NotAUrl(String),
    #[error(
        "the host of `{0}` is an IP address, which cannot be a WebAuthn relying-party id: passkeys are off. \
         Open the site by a name (in development http://localhost:<port>), or set PUBLIC_URL to one"
    )]
    IpAddress(String),
    #[error("webauthn-rs refused `{0}` as a relying party")]
    Refused(String),
}

impl RelyingParty {
    /// The relying party of `public_origin` (`scheme://host[:port]`): its id is the host.
    pub fn new(public_origin: &str) -> Result<Self, RelyingPartyError> {
        let origin =
            Url::parse(public_origin).map_err(|_| RelyingPartyError::NotAUrl(public_origin.to_owned()))?;
        let Some(host) = origin.domain().map(str::to_owned) else {
            return Err(RelyingPartyError::IpAddress(public_origin.to_owned()));
        };
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .and_then(|builder| {
                builder
                    .rp_name("Gatehouse")
                    .timeout(VALID_FOR.to_std().unwrap_or(Duration::from_secs(300)))
                    .build()
            })
            .map_err(|_| RelyingPartyError::Refused(public_origin.to_owned()))?;
        Ok(Self { webauthn, id: host })
    }

    /// The relying-party id (the host).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Why a passkey ceremony was refused. `Display` is what the browser's script shows.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("Passkeys are not available on this site's address.")]
    Unavailable,
    #[error("This passkey request has expired or was already used. Please try again.")]
    Expired,
    #[error("The passkey could not be verified.")]
    Invalid,
    #[error("This passkey is already registered.")]
    AlreadyRegistered,
    #[error("This passkey is not registered here.")]
    UnknownCredential,
    #[error("Too many failed attempts. Please wait before trying again.")]
    Throttled {
        /// Whole seconds until the client IP may try again (for `Retry-After`).
        retry_after: u64,
    },
    #[error("There is no such passkey.")]
    NotFound,
    #[error("database error during a passkey ceremony")]
    Database(#[from] DbErr),
    #[error("could not encode a passkey")]
    Encoding(#[from] serde_json::Error),
}

/// The user handle stored in a user's passkeys: fixed per account, not the database id itself.
pub fn user_handle(user_id: i64) -> Uuid {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("gatehouse passkey user {user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A registration under way, kept in the user's session until the browser answers.
#[derive(Serialize, Deserialize)]
pub struct PendingRegistration {
    state: PasskeyRegistration,
    expires_at: DateTime<Utc>,
}

/// Starts adding a passkey: the options for `navigator.credentials.create` (JSON, a discoverable
/// credential required, the user's existing passkeys excluded) and the state to keep.
pub async fn start_registration(
    rp: &RelyingParty,
    db: &Db,
    clock: &Clock,
    user_id: i64,
    username: &str,
) -> Result<(serde_json::Value, PendingRegistration), PasskeyError> {
    let existing = db::passkeys::list_for_user(db, user_id).await?;
    let exclude = existing
        .iter()
        .filter_map(|stored| serde_json::from_str::<Passkey>(&stored.credential).ok())
        .map(|passkey| passkey.cred_id().clone())
        .collect::<Vec<_>>();
    let (options, state) = rp
        .webauthn
        .start_passkey_registration(user_handle(user_id), username, username, Some(exclude))
        .map_err(|error| {
            log::error!("webauthn-rs could not start a registration: {error}");
            PasskeyError::Invalid
        })?;
    let mut options = serde_json::to_value(options)?;
    // webauthn-rs asks for a server-side credential; a passkey that can sign in without a name must
    // be discoverable (a resident key).
    if let Some(selection) =
        options.pointer_mut("/publicKey/authenticatorSelection").and_then(|s| s.as_object_mut())
    {
        selection.insert("residentKey".to_owned(), "required".into());
        selection.insert("requireResidentKey".to_owned(), true.into());
    }
    Ok((options, PendingRegistration { state, expires_at: clock.now() + VALID_FOR }))
}

/// Checks the browser's answer to a registration and stores the new passkey under `name`.
pub async fn finish_registration(
    rp: &RelyingParty,
    db: &Db,
    clock: &Clock,
    user_id: i64,
    pending: Option<PendingRegistration>,
    credential: &serde_json::Value,
    name: &str,
) -> Result<db::passkeys::StoredPasskey, PasskeyError> {
    let now = clock.now();
    let pending = pending.filter(|p| p.expires_at > now).ok_or(PasskeyError::Expired)?;
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| PasskeyError::Invalid)?;
    let passkey = rp.webauthn.finish_passkey_registration(&credential, &pending.state).map_err(|error| {
        log::info!("refused a passkey registration: {error}");
        PasskeyError::Invalid
    })?;
    let credential_id = credential_id_text(passkey.cred_id().as_ref());
    let name = clean_name(name).unwrap_or_else(|| format!("Passkey added {}", now.format("%Y-%m-%d")));
    match db::passkeys::insert(db, user_id, credential_id, serde_json::to_string(&passkey)?, &name, now).await
    {
        Ok(stored) => Ok(stored),
        Err(error) if db::is_unique_violation(&error) => Err(PasskeyError::AlreadyRegistered),
        Err(error) => Err(error.into()),
    }
}

/// A sign-in under way: its state, its challenge, and when it lapses. The web layer seals it in an
/// encrypted cookie of its own.
#[derive(Serialize, Deserialize)]
pub struct PendingLogin {
    state: DiscoverableAuthentication,
    challenge: String,
    expires_at: DateTime<Utc>,
}

/// Starts a sign-in with any passkey of this site: options for `navigator.credentials.get` (JSON,
/// no credential list: the authenticator offers what it holds), and the state to seal. No database.
pub fn start_login(
    rp: &RelyingParty,
    clock: &Clock,
) -> Result<(serde_json::Value, PendingLogin), PasskeyError> {
    let (options, state) = rp.webauthn.start_discoverable_authentication().map_err(|error| {
        log::error!("webauthn-rs could not start a sign-in: {error}");
        PasskeyError::Invalid
    })?;
    let challenge = credential_id_text(options.public_key.challenge.as_ref());
    let mut options = serde_json::to_value(options)?;
    // The script chooses: conditional (autofill) on page load, a modal prompt on the button.
    if let Some(options) = options.as_object_mut() {
        options.remove("mediation");
    }
    Ok((options, PendingLogin { state, challenge, expires_at: clock.now() + VALID_FOR }))
}

/// How a passkey sign-in ended.
#[derive(Debug)]
pub enum LoginOutcome {
    LoggedIn(db::users::User),
    /// Refused (expired or spent challenge, unknown or forged credential, deactivated account), and
    /// counted on the client IP. `user_id` names the account when the credential is one of ours.
    Refused {
        user_id: Option<i64>,
        error: PasskeyError,
    },
}

/// Checks the browser's answer to a sign-in: the challenge is spent first (a replay fails), the
/// credential must be one of ours and belong to the account its user handle names, the signature
/// must verify; then the stored credential's counter and backup state are updated. Failures count
/// on the client IP's login budget, like wrong passwords.
pub async fn finish_login(
    rp: &RelyingParty,
    db: &Db,
    clock: &Clock,
    limits: &Limits,
    client_ip: Option<&str>,
    pending: Option<PendingLogin>,
    credential: &serde_json::Value,
) -> Result<LoginOutcome, PasskeyError> {
    let now = clock.now();
    let ip_key = client_ip.map(Key::login_ip);
    let reservation = match &ip_key {
        Some(key) => Some(throttle::reserve(db, key, &limits.login_ip, now).await?),
        None => None,
    };
    if let Some(Reservation::Refused { until }) = reservation {
        return Err(PasskeyError::Throttled { retry_after: throttle::retry_after_seconds(until, now) });
    }
    let (user_id, error) = match verify_login(rp, db, now, pending, credential).await {
        Ok(user) if user.is_active => {
            if let (Some(key), Some(reservation)) = (&ip_key, &reservation) {
                throttle::give_back(db, key, reservation).await?;
            }
            return Ok(LoginOutcome::LoggedIn(user));
        }
        // A deactivated account is refused like a wrong password.
        Ok(user) => (Some(user.id), PasskeyError::Invalid),
        Err(Refusal { error: PasskeyError::Database(error), .. }) => {
            return Err(PasskeyError::Database(error));
        }
        Err(Refusal { user_id, error }) => (user_id, error),
    };
    if let (Some(key), Some(reservation)) = (&ip_key, &reservation) {
        throttle::failed(db, key, &limits.login_ip, reservation, now).await?;
    }
    Ok(LoginOutcome::Refused { user_id, error })
}

struct Refusal {
    user_id: Option<i64>,
    error: PasskeyError,
}

impl From<DbErr> for Refusal {
    fn from(error: DbErr) -> Self {
        Self { user_id: None, error: PasskeyError::Database(error) }
    }
}

async fn verify_login(
    rp: &RelyingParty,
    db: &Db,
    now: DateTime<Utc>,
    pending: Option<PendingLogin>,
    credential: &serde_json::Value,
) -> Result<db::users::User, Refusal> {
    let refuse = |error| Refusal { user_id: None, error };
    let pending = pending.filter(|p| p.expires_at > now).ok_or(refuse(PasskeyError::Expired))?;
    if !db::passkeys::spend_challenge(db, tokens::sha256_hex(&pending.challenge), pending.expires_at).await? {
        return Err(refuse(PasskeyError::Expired));
    }
    let credential: PublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| refuse(PasskeyError::Invalid))?;
    let (handle, credential_id) = rp
        .webauthn
        .identify_discoverable_authentication(&credential)
        .map_err(|_| refuse(PasskeyError::Invalid))?;
    let Some(stored) = db::passkeys::find_by_credential_id(db, &credential_id_text(credential_id)).await?
    else {
        return Err(refuse(PasskeyError::UnknownCredential));
    };
    let user_id = Some(stored.user_id);
    if handle != user_handle(stored.user_id) {
        return Err(Refusal { user_id, error: PasskeyError::Invalid });
    }
    let mut passkey: Passkey = serde_json::from_str(&stored.credential)
        .map_err(|error| Refusal { user_id, error: PasskeyError::Encoding(error) })?;
    let result = rp
        .webauthn
        .finish_discoverable_authentication(&credential, pending.state, &[DiscoverableKey::from(&passkey)])
        .map_err(|error| {
            log::info!("refused a passkey assertion: {error}");
            Refusal { user_id, error: PasskeyError::Invalid }
        })?;
    passkey.update_credential(&result);
    let updated = serde_json::to_string(&passkey)
        .map_err(|error| Refusal { user_id, error: PasskeyError::Encoding(error) })?;
    db::passkeys::record_use(db, stored.id, updated, now).await?;
    let user = db::users::find_by_id(db, stored.user_id).await?;
    user.ok_or(Refusal { user_id: None, error: PasskeyError::UnknownCredential })
}

/// A user's passkeys, oldest first.
pub async fn list(db: &Db, user_id: i64) -> Result<Vec<db::passkeys::StoredPasskey>, DbErr> {
    db::passkeys::list_for_user(db, user_id).await
}

/// Renames one of the user's passkeys after the current password (another user's id: `NotFound`).
pub async fn rename(
    db: &Db,
    check: PasswordCheck<'_>,
    user_id: i64,
    id: i64,
    name: &str,
    current_password: &str,
) -> Result<String, RenameError> {
    let name = clean_name(name).ok_or(RenameError::EmptyName)?;
    accounts::check_current_password(db, check, user_id, current_password).await?;
    if db::passkeys::rename(db, user_id, id, &name).await? { Ok(name) } else { Err(RenameError::NotFound) }
}

/// Removes one of the user's passkeys after the current password (another user's id: `NotFound`).
pub async fn remove(
    db: &Db,
    check: PasswordCheck<'_>,
    user_id: i64,
    id: i64,
    current_password: &str,
) -> Result<(), RenameError> {
    accounts::check_current_password(db, check, user_id, current_password).await?;
    if db::passkeys::delete(db, user_id, id).await? { Ok(()) } else { Err(RenameError::NotFound) }
}

/// Why a rename or removal was refused.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("Give the passkey a name.")]
    EmptyName,
    #[error("There is no such passkey.")]
    NotFound,
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error("database error while changing a passkey")]
    Database(#[from] DbErr),
}

/// A name as kept: trimmed, control characters dropped, at most `NAME_MAX_CHARS`; `None` if empty.
fn clean_name(name: &str) -> Option<String> {
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(NAME_MAX_CHARS).collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// Bytes as unpadded base64url, the form credential ids and challenges take in JSON.
fn credential_id_text(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_public_host_and_never_an_ip_address() {
        assert_eq!(RelyingParty::new("http://localhost:8080").unwrap().id(), "localhost");
        assert_eq!(RelyingParty::new("https://auth.example.com").unwrap().id(), "auth.example.com");
        assert!(matches!(RelyingParty::new("http://127.0.0.1:8080"), Err(RelyingPartyError::IpAddress(_))));
        assert!(matches!(RelyingParty::new("http://[::1]:8080"), Err(RelyingPartyError::IpAddress(_))));
    }

    #[test]
    fn user_handles_are_fixed_per_account_and_differ_between_accounts() {
        assert_eq!(user_handle(1), user_handle(1));
        assert_ne!(user_handle(1), user_handle(2));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Laptop \n"), Some("Laptop".to_owned()));
        assert_eq!(clean_name(" \t "), None);
        assert_eq!(clean_name(&"x".repeat(300)).map(|n| n.chars().count()), Some(NAME_MAX_CHARS));
    }
}
