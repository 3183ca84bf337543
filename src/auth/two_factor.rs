//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of drift either way) with single-use
//! recovery codes. The secret is stored sealed (AES-256-GCM under a key derived from
//! SESSION_SECRET); a code is accepted once: the last step used is kept, and that step and every
//! earlier one are refused. Recovery codes carry 80 random bits and are stored as SHA-256 hashes.
//!
//! At login the password is the first step: a user with TOTP on is only *pending* (see
//! `session::PendingLogin`) until `second_step` accepts a code, throttled like passwords.

use crate::db::Db;
use aes_gcm::{
    Aes256Gcm, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use totp_rs::{Builder, Totp};

use super::{
    accounts::{self, ChangeError, FieldErrors, PasswordCheck, ReauthLocked},
    password::PasswordError,
    throttle::{self, Key, Limits, Reservation},
};
use crate::{
    audit::{self, Event},
    clock::Clock,
    config::SessionSecret,
    db,
    tokens::{self, RandomError},
};

/// How long the half-step between the password and the code lasts.
pub const PENDING_FOR: chrono::Duration = chrono::Duration::minutes(5);
/// How many recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// The name authenticator apps show for the account.
pub const ISSUER: &str = "Gatehouse";
const STEP_SECONDS: u64 = 30;
/// Random bytes in a secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Random bytes in a recovery code: 80 bits, 16 base32 characters.
const RECOVERY_CODE_BYTES: usize = 10;
const SEALED_PREFIX: &str = "v1.";

/// While turning TOTP on: no code has been used yet, and there are no recovery codes.
pub const WRONG_ENROLMENT_CODE: &str =
    "That code is not right. Type the 6-digit code your app shows now for this account.";

/// Also the answer to a code used already (each works once, so one typed right after turning TOTP
/// on, in the same 30 s, is refused): the message says so, lest it look like a broken app.
pub const WRONG_CODE: &str = "That code is not right, or it was used already (each code works once). Type the next \
                              6-digit code from your app, or a recovery code.";

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("the request is invalid")]
    Invalid(FieldErrors),
    /// No enrolment is waiting (finished elsewhere, or never started).
    #[error("no two-factor enrolment is waiting")]
    NoEnrolment,
    /// TOTP is not on for this user.
    #[error("two-factor authentication is not on")]
    NotEnabled,
    /// Too many wrong codes: the user's codes are locked until then.
    #[error("too many wrong codes")]
    Throttled { until: DateTime<Utc> },
    #[error("database error in two-factor authentication")]
    Database(#[from] sea_orm::DbErr),
    #[error("could not hash or verify the password")]
    Hashing(#[from] PasswordError),
    #[error("could not generate a secret")]
    Random(#[from] RandomError),
    /// A stored secret that no key opens (SESSION_SECRET changed without SESSION_SECRET_PREVIOUS).
    #[error("the stored TOTP secret cannot be opened: {0}")]
    Unreadable(String),
    #[error(transparent)]
    ReauthLocked(ReauthLocked),
}

impl From<ChangeError> for TwoFactorError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Invalid(errors) => Self::Invalid(errors),
            ChangeError::Database(error) => Self::Database(error),
            ChangeError::Hashing(error) => Self::Hashing(error),
            ChangeError::Locked(locked) => Self::ReauthLocked(locked),
        }
    }
}

/// The keys that seal TOTP secrets: from SESSION_SECRET, and from SESSION_SECRET_PREVIOUS while a
/// secret is being rotated out (a secret opened with it is sealed again under the current key).
#[derive(Clone)]
pub struct SecretKeys {
    current: [u8; 32],
    previous: Option<[u8; 32]>,
}

impl SecretKeys {
    pub fn derive(secret: &SessionSecret, previous: Option<&SessionSecret>) -> Self {
        let key = |secret: &SessionSecret| {
            let derived = tokens::derive_key(secret.as_bytes(), "totp secrets at rest");
            let mut key = [0u8; 32];
            key.copy_from_slice(&derived[..32]);
            key
        };
        Self { current: key(secret), previous: previous.map(key) }
    }

    /// `v1.` and base64url of nonce ‖ ciphertext; the user id is the associated data, so a sealed
    /// secret copied to another user's row does not open.
    fn seal(&self, user_id: i64, secret: &[u8]) -> Result<String, TwoFactorError> {
        let nonce = tokens::random_bytes::<12>()?;
        let cipher = Aes256Gcm::new(&self.current.into());
        let aad = user_id.to_be_bytes();
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad: &aad })
            .map_err(|e| TwoFactorError::Unreadable(format!("sealing failed: {e}")))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The secret, and whether it was opened with the previous key.
    fn open(&self, user_id: i64, sealed: &str) -> Result<(Vec<u8>, bool), TwoFactorError> {
        let unreadable = |why: &str| TwoFactorError::Unreadable(format!("user {user_id}: {why}"));
        let encoded = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(|| unreadable("unknown format"))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| unreadable("not base64"))?;
        if bytes.len() < 12 {
            return Err(unreadable("too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let aad = user_id.to_be_bytes();
        let open = |key: &[u8; 32]| {
            Aes256Gcm::new(key.into())
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
        };
        if let Ok(secret) = open(&self.current) {
            return Ok((secret, false));
        }
        match self.previous.as_ref().map(open) {
            Some(Ok(secret)) => Ok((secret, true)),
            _ => Err(unreadable("no key opens it")),
        }
    }
}

fn totp(secret: Vec<u8>, account: &str) -> Result<Totp, TwoFactorError> {
    Builder::new()
        .with_secret(secret)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(|e| TwoFactorError::Unreadable(format!("not a usable TOTP secret: {e}")))
}

fn unix_seconds(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or(0)
}

/// What the enrolment page shows: the secret in base32 and the `otpauth://` URI of the QR code.
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

impl Enrolment {
    fn of(totp: &Totp) -> Result<Self, TwoFactorError> {
        Ok(Self {
            secret_base32: totp.secret().to_base32(),
            otpauth_uri: totp.to_url().map_err(|e| TwoFactorError::Unreadable(e.to_string()))?,
        })
    }
}

/// Starts turning TOTP on, after the password: a new secret, kept (sealed) until the first code
/// proves the app has it. TOTP stays off until then.
pub async fn start_enrolment(
    db: &Db,
    check: PasswordCheck<'_>,
    keys: &SecretKeys,
    user_id: i64,
    current_password: &str,
) -> Result<Enrolment, TwoFactorError> {
    let clock = check.clock;
    let user = accounts::check_current_password(db, check, user_id, current_password).await?;
    let secret = tokens::random_bytes::<SECRET_BYTES>()?.to_vec();
    let sealed = keys.seal(user.id, &secret)?;
    let totp = totp(secret, &user.username)?;
    // Twice at most: a second request starting enrolment at the same moment may insert its row
    // between this one's delete and insert (a unique violation); the retry replaces that row.
    let mut tries = 0;
    let started = loop {
        tries += 1;
        let txn = db::begin_write(db).await?;
        match db::two_factor::start_enrolment(&txn, user.id, sealed.clone(), clock.now()).await {
            Ok(started) => {
                txn.commit().await?;
                break started;
            }
            Err(error) if tries < 2 && db::is_unique_violation(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    };
    if !started {
        return Err(TwoFactorError::Invalid(FieldErrors::from([(
            "form",
            "Two-factor authentication is already on.".to_owned(),
        )])));
    }
    Enrolment::of(&totp)
}

/// The enrolment waiting for its first code, to show again after a wrong code.
pub async fn pending_enrolment(
    db: &Db,
    keys: &SecretKeys,
    user_id: i64,
    username: &str,
) -> Result<Enrolment, TwoFactorError> {
    let row = db::two_factor::find(db, user_id).await?.filter(|row| row.enabled_at.is_none());
    let row = row.ok_or(TwoFactorError::NoEnrolment)?;
    let (secret, _) = keys.open(user_id, &row.totp_secret)?;
    Enrolment::of(&totp(secret, username)?)
}

/// Finishes enrolment with a first valid code: TOTP is on, and the recovery codes (returned to be
/// shown once) replace any earlier ones.
pub async fn confirm_enrolment(
    db: &Db,
    clock: &Clock,
    keys: &SecretKeys,
    user_id: i64,
    username: &str,
    code: &str,
) -> Result<Vec<String>, TwoFactorError> {
    let row = db::two_factor::find(db, user_id).await?.filter(|row| row.enabled_at.is_none());
    let row = row.ok_or(TwoFactorError::NoEnrolment)?;
    let (secret, _) = keys.open(user_id, &row.totp_secret)?;
    let totp = totp(secret, username)?;
    let now = clock.now();
    let code = normalise(code);
    let Some(step) = totp.check(&code, unix_seconds(now)) else {
        return Err(TwoFactorError::Invalid(FieldErrors::from([("code", WRONG_ENROLMENT_CODE.to_owned())])));
    };
    let (codes, hashes) = new_recovery_codes()?;
    let txn = db::begin_write(db).await?;
    // Only the enrolment whose secret the code matched: one started since (another tab) is not it.
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if !db::two_factor::enable(&txn, user_id, &row.totp_secret, step, now).await? {
        return Err(TwoFactorError::NoEnrolment);
    }
    db::two_factor::replace_recovery_codes(&txn, user_id, hashes, now).await?;
    txn.commit().await?;
    Ok(codes)
}

/// What a code typed at login (or to re-authenticate) turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// A current TOTP code, now used up.
    Totp,
    /// An unused recovery code, now used up; how many are left.
    Recovery { left: u64 },
    /// Wrong, used before, or from outside the drift window.
    Wrong,
}

/// Checks and uses up a code: a 6-digit TOTP code for the current step or one either side, later
/// than the last step used, or an unused recovery code. Private: every caller goes through
/// `throttled_check`, so no code is ever checked outside the account's budget.
async fn check_code(
    db: &Db,
    clock: &Clock,
    keys: &SecretKeys,
    user_id: i64,
    code: &str,
) -> Result<CodeCheck, TwoFactorError> {
    let code = normalise(code);
    let now = clock.now();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let row = db::two_factor::find(db, user_id).await?.filter(|row| row.enabled_at.is_some());
        let row = row.ok_or(TwoFactorError::NotEnabled)?;
        let (secret, with_previous) = match keys.open(user_id, &row.totp_secret) {
            Ok(opened) => opened,
            // SESSION_SECRET changed without SESSION_SECRET_PREVIOUS: no code can match, but the
            // recovery codes still work, and an administrator can clear the second factor.
            Err(error) => {
                log::error!("{error}: refusing the TOTP code; a recovery code still works");
                return Ok(CodeCheck::Wrong);
            }
        };
        if with_previous {
            db::two_factor::reseal(db, user_id, keys.seal(user_id, &secret)?, now).await?;
        }
        let totp = totp(secret, "-")?;
        let Some(step) = totp.check(&code, unix_seconds(now)) else {
            return Ok(CodeCheck::Wrong);
        };
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if row.last_used_step.is_some_and(|last| step <= last) {
            return Ok(CodeCheck::Wrong);
        }
        return Ok(if db::two_factor::use_step(db, user_id, step, now).await? {
            CodeCheck::Totp
        } else {
            CodeCheck::Wrong
        });
    }
    let Some(hash) = recovery_code_hash(&code) else {
        return Ok(CodeCheck::Wrong);
    };
    if db::two_factor::use_recovery_code(db, user_id, &hash, now).await? {
        let left = db::two_factor::unused_recovery_codes(db, user_id).await?;
        Ok(CodeCheck::Recovery { left })
    } else {
        Ok(CodeCheck::Wrong)
    }
}

/// How the second step of a login ended.
#[derive(Debug)]
pub enum SecondStep {
    Passed {
        code: CodeCheck,
        /// A lock on the user's code budget had run out (and is now recorded as over).
        lock_ended: bool,
    },
    Refused {
        /// This failure locked the user's codes: until when.
        lock_started: Option<DateTime<Utc>>,
        lock_ended: bool,
    },
    /// Locked: nothing was checked. `lock_ended`: the client IP was refused, but the user's own
    /// lock had run out.
    Throttled { until: DateTime<Utc>, lock_ended: bool },
}

impl SecondStep {
    /// A lock on the user's code budget had run out and this attempt cleared it, whatever its own
    /// outcome: no later attempt will see that lock end, so it is recorded now.
    pub fn lock_ended(&self) -> bool {
        match self {
            Self::Passed { lock_ended, .. }
            | Self::Refused { lock_ended, .. }
            | Self::Throttled { lock_ended, .. } => *lock_ended,
        }
    }
}

/// The code of a pending login, throttled like passwords: failures count per user (the login
/// limits) and per client IP (on the same budget as failed passwords from it).
pub async fn second_step(
    db: &Db,
    clock: &Clock,
    keys: &SecretKeys,
    limits: &Limits,
    user_id: i64,
    client_ip: Option<&str>,
    code: &str,
) -> Result<SecondStep, TwoFactorError> {
    throttled_check(db, clock, keys, limits, user_id, client_ip, code).await
}

/// A code checked on the user's code budget (and the client IP's, when there is one): counted
/// before it is checked, so parallel guesses get no more than the budget; wrong codes count, a
/// right one gives the budget back. The login step and every settings form that asks for a code
/// share the one budget, so guesses cannot be spread over them.
async fn throttled_check(
    db: &Db,
    clock: &Clock,
    keys: &SecretKeys,
    limits: &Limits,
    user_id: i64,
    client_ip: Option<&str>,
    code: &str,
) -> Result<SecondStep, TwoFactorError> {
    let now = clock.now();
    let budget = Key::two_factor_user(user_id);
    let ip_key = client_ip.map(Key::login_ip);
    let mut budgets = vec![(&budget, &limits.login)];
    if let Some(ip_key) = &ip_key {
        budgets.push((ip_key, &limits.login_ip));
    }
    let reservations = throttle::reserve_all(db, &budgets, now).await?;
    let reservation = reservations[0];
    let ip_reservation = reservations.get(1).copied();
    if let Some(Reservation::Refused { until }) = ip_reservation {
        throttle::give_back(db, &budget, &reservation).await?;
        let lock_ended = matches!(reservation, Reservation::Allowed { lock_ended: true, .. });
        return Ok(SecondStep::Throttled { until, lock_ended });
    }
    let lock_ended = match reservation {
        Reservation::Refused { until } => return Ok(SecondStep::Throttled { until, lock_ended: false }),
        Reservation::Allowed { lock_ended, .. } => lock_ended,
    };
    match check_code(db, clock, keys, user_id, code).await? {
        CodeCheck::Wrong => {
            let lock_started = throttle::failed(db, &budget, &limits.login, &reservation, now).await?;
            if let (Some(key), Some(ip_reservation)) = (&ip_key, &ip_reservation) {
                throttle::failed(db, key, &limits.login_ip, ip_reservation, now).await?;
            }
            Ok(SecondStep::Refused { lock_started, lock_ended })
        }
        passed => {
            let ip_budget = ip_key.as_ref().zip(ip_reservation.as_ref());
            throttle::settle(db, throttle::Settlement::new(&budget, ip_budget), now).await?;
            Ok(SecondStep::Passed { code: passed, lock_ended })
        }
    }
}

/// What the settings forms that need the user at the keyboard ask for: the current password and a
/// code (TOTP or recovery).
pub struct Reauth<'a> {
    pub current_password: &'a str,
    pub code: &'a str,
}

/// Re-authentication for turning TOTP off or replacing the recovery codes: the password, then a
/// code (used up), on the same code budget as the login step.
async fn reauthenticate(
    db: &Db,
    check: PasswordCheck<'_>,
    keys: &SecretKeys,
    user_id: i64,
    reauth: &Reauth<'_>,
) -> Result<CodeCheck, TwoFactorError> {
    let PasswordCheck { clock, limits, origin, .. } = check;
    accounts::check_current_password(db, check, user_id, reauth.current_password).await?;
    let step = throttled_check(db, clock, keys, limits, user_id, None, reauth.code).await?;
    if step.lock_ended() {
        audit::record(db, clock, Event::LoginLockEnded, Some(user_id), origin, None).await;
    }
    match step {
        SecondStep::Passed { code, .. } => Ok(code),
        SecondStep::Refused { .. } => Err(wrong_code()),
        SecondStep::Throttled { until, .. } => Err(TwoFactorError::Throttled { until }),
    }
}

/// Re-authentication before adding something that signs in on its own (a passkey, which stands for
/// both factors): the current password, and with TOTP on a code as well, on the same code budget
/// as the login step. Without it a stolen session could add a passkey that outlives a password reset.
pub async fn confirm_presence(
    db: &Db,
    check: PasswordCheck<'_>,
    keys: &SecretKeys,
    user_id: i64,
    reauth: &Reauth<'_>,
) -> Result<Option<CodeCheck>, TwoFactorError> {
    if db::two_factor::is_enabled(db, user_id).await? {
        if reauth.code.trim().is_empty() {
            accounts::check_current_password(db, check, user_id, reauth.current_password).await?;
            let errors = FieldErrors::from([("code", "Enter the code from your app.".to_owned())]);
            return Err(TwoFactorError::Invalid(errors));
        }
        return reauthenticate(db, check, keys, user_id, reauth).await.map(Some);
    }
    accounts::check_current_password(db, check, user_id, reauth.current_password).await?;
    Ok(None)
}

/// Turns TOTP off (password and a code first); the recovery codes go with it.
pub async fn disable(
    db: &Db,
    check: PasswordCheck<'_>,
    keys: &SecretKeys,
    user_id: i64,
    reauth: &Reauth<'_>,
) -> Result<CodeCheck, TwoFactorError> {
    let passed = reauthenticate(db, check, keys, user_id, reauth).await?;
    db::two_factor::delete_for_user(db, user_id).await?;
    Ok(passed)
}

/// New recovery codes (password and a code first); every earlier one stops working.
pub async fn regenerate_recovery_codes(
    db: &Db,
    check: PasswordCheck<'_>,
    keys: &SecretKeys,
    user_id: i64,
    reauth: &Reauth<'_>,
) -> Result<Vec<String>, TwoFactorError> {
    reauthenticate(db, check, keys, user_id, reauth).await?;
    let (codes, hashes) = new_recovery_codes()?;
    db::two_factor::replace_recovery_codes(db, user_id, hashes, check.clock.now()).await?;
    Ok(codes)
}

/// An administrator's or operator's act: the user's second factor is gone (they log in with the
/// password alone, and may turn TOTP on again). True when TOTP was on.
pub async fn clear(db: &Db, user_id: i64) -> Result<bool, TwoFactorError> {
    Ok(db::two_factor::delete_for_user(db, user_id).await?)
}

/// Whether the account asks for a code after its password.
pub async fn is_on(db: &Db, user_id: i64) -> Result<bool, TwoFactorError> {
    Ok(db::two_factor::is_enabled(db, user_id).await?)
}

/// The status the account page shows.
pub struct Status {
    pub enabled: bool,
    pub recovery_codes_left: u64,
}

pub async fn status(db: &Db, user_id: i64) -> Result<Status, TwoFactorError> {
    let enabled = is_on(db, user_id).await?;
    let recovery_codes_left =
        if enabled { db::two_factor::unused_recovery_codes(db, user_id).await? } else { 0 };
    Ok(Status { enabled, recovery_codes_left })
}

fn wrong_code() -> TwoFactorError {
    TwoFactorError::Invalid(FieldErrors::from([("code", WRONG_CODE.to_owned())]))
}

/// A code as typed, without spaces or dashes, lower-cased (recovery codes are shown in groups).
fn normalise(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Recovery codes to show (`xxxx-xxxx-xxxx-xxxx`, lower-case base32) and the hashes to store.
fn new_recovery_codes() -> Result<(Vec<String>, Vec<String>), TwoFactorError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = tokens::random_bytes::<RECOVERY_CODE_BYTES>()?;
        let raw = totp_rs::Secret::from(bytes.to_vec()).to_base32().trim_end_matches('=').to_lowercase();
        let shown =
            raw.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
        hashes.push(tokens::sha256_hex(&raw));
        codes.push(shown.join("-"));
    }
    Ok((codes, hashes))
}

/// The stored hash of a normalised recovery code; `None` for what cannot be one.
fn recovery_code_hash(normalised: &str) -> Option<String> {
    let shaped = normalised.len() == 16 && normalised.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
    shaped.then(|| tokens::sha256_hex(normalised))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> SecretKeys {
        SecretKeys::derive(&SessionSecret::new(vec![byte; 64]).unwrap(), None)
    }

    #[test]
    fn sealed_secrets_open_for_their_user_and_key_only() {
        let keys = keys(1);
        let sealed = keys.seal(7, b"0123456789abcdefghij").unwrap();
        assert!(!sealed.contains("0123456789"));
        assert_eq!(keys.open(7, &sealed).unwrap(), (b"0123456789abcdefghij".to_vec(), false));
        assert!(keys.open(8, &sealed).is_err(), "bound to the user");
        assert!(self::keys(2).open(7, &sealed).is_err(), "another SESSION_SECRET");
        let rotated = SecretKeys::derive(
            &SessionSecret::new(vec![2; 64]).unwrap(),
            Some(&SessionSecret::new(vec![1; 64]).unwrap()),
        );
        assert!(rotated.open(7, &sealed).unwrap().1, "opened with the previous key");
    }

    #[test]
    fn recovery_codes_are_shown_grouped_and_typed_any_way() {
        let (codes, hashes) = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 19);
        let typed = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(recovery_code_hash(&normalise(&typed)).as_ref(), Some(&hashes[0]));
        assert_eq!(recovery_code_hash("123456"), None);
    }
}
