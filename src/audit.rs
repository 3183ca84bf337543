//! The security event log: who did what, from where, in which request. Shown to the user on their
//! account page (and to admins). A failure to record is logged, never shown: it must not block a logout.

use crate::db::Db;

use crate::{clock::Clock, db};

/// The kinds of event, with the label the account page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Registered,
    LoggedIn,
    LoginFailed,
    LoggedOut,
    PasswordChanged,
    EmailChanged,
    EmailChangeRequested,
    EmailChangeCancelled,
    EmailConfirmed,
    PasswordResetRequested,
    PasswordResetCompleted,
    SessionRevoked,
    OtherSessionsRevoked,
    AccountDeleted,
    LoginLocked,
    LoginLockEnded,
    PasswordResetSuppressed,
    AdminDeactivated,
    AdminActivated,
    AdminRoleChanged,
    AdminEndedSessions,
    AdminSentReset,
    TwoFactorEnabled,
    TwoFactorDisabled,
    AdminClearedTwoFactor,
    RecoveryCodesRegenerated,
    RecoveryCodeUsed,
    TwoFactorFailed,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyRemoved,
    PasskeyLoginFailed,
    CurrentPasswordFailed,
    CurrentPasswordLocked,
    CurrentPasswordLockEnded,
}

impl Event {
    pub fn code(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::LoggedIn => "login",
            Self::LoginFailed => "login_failed",
            Self::LoggedOut => "logout",
            Self::PasswordChanged => "password_changed",
            Self::EmailChanged => "email_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChangeCancelled => "email_change_cancelled",
            Self::EmailConfirmed => "email_confirmed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordResetCompleted => "password_reset_completed",
            Self::SessionRevoked => "session_revoked",
            Self::OtherSessionsRevoked => "other_sessions_revoked",
            Self::AccountDeleted => "account_deleted",
            Self::LoginLocked => "login_locked",
            Self::LoginLockEnded => "login_lock_ended",
            Self::PasswordResetSuppressed => "password_reset_suppressed",
            Self::AdminDeactivated => "admin_deactivated",
            Self::AdminActivated => "admin_activated",
            Self::AdminRoleChanged => "admin_role_changed",
            Self::AdminEndedSessions => "admin_ended_sessions",
            Self::AdminSentReset => "admin_sent_reset",
            Self::TwoFactorEnabled => "two_factor_enabled",
            Self::TwoFactorDisabled => "two_factor_disabled",
            Self::AdminClearedTwoFactor => "admin_cleared_two_factor",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::TwoFactorFailed => "two_factor_failed",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRenamed => "passkey_renamed",
            Self::PasskeyRemoved => "passkey_removed",
            Self::PasskeyLoginFailed => "passkey_login_failed",
            Self::CurrentPasswordFailed => "current_password_failed",
            Self::CurrentPasswordLocked => "current_password_locked",
            Self::CurrentPasswordLockEnded => "current_password_lock_ended",
        }
    }

    /// The words shown for a stored code.
    pub fn label(code: &str) -> &'static str {
        match code {
            "registered" => "Account created",
            "login" => "Logged in",
            "login_failed" => "Failed login attempt",
            "logout" => "Logged out",
            "password_changed" => "Password changed",
            "email_changed" => "Email address changed",
            "email_change_requested" => "Email address change requested (waiting for confirmation)",
            "email_change_cancelled" => "Email address change cancelled",
            "email_confirmed" => "Email address confirmed",
            "password_reset_requested" => "Password reset requested",
            "password_reset_completed" => "Password reset",
            "session_revoked" => "A session was ended",
            "other_sessions_revoked" => "All other sessions were ended",
            "account_deleted" => "Account deleted",
            "login_locked" => "Sign-in attempts were blocked",
            "login_lock_ended" => "Sign-in block ended",
            "password_reset_suppressed" => "Password reset email held back (too many requests)",
            "admin_deactivated" => "An administrator deactivated the account",
            "admin_activated" => "An administrator reactivated the account",
            "admin_role_changed" => "An administrator changed the account's role",
            "admin_ended_sessions" => "An administrator ended your sessions",
            "admin_sent_reset" => "An administrator sent you a password reset link",
            "two_factor_enabled" => "Two-factor authentication turned on",
            "two_factor_disabled" => "Two-factor authentication turned off",
            "admin_cleared_two_factor" => "An administrator removed two-factor authentication",
            "recovery_codes_regenerated" => "New recovery codes made (the earlier ones stopped working)",
            "recovery_code_used" => "A recovery code was used to log in",
            "two_factor_failed" => "Wrong two-factor code at login",
            "passkey_added" => "Passkey added",
            "passkey_renamed" => "Passkey renamed",
            "passkey_removed" => "Passkey removed",
            "passkey_login_failed" => "Failed sign-in with a passkey",
            "current_password_failed" => "Wrong current password on a settings form",
            "current_password_locked" => "Settings changes blocked (too many wrong current passwords)",
            "current_password_lock_ended" => "Settings changes block ended",
            _ => "Security event",
        }
    }
}

/// Where a request came from, copied out of it for the record (`web::audit` fills it in).
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Records one event; a failure is logged, never raised.
pub async fn record(
    db: &Db,
    clock: &Clock,
    event: Event,
    user_id: Option<i64>,
    origin: &Origin,
    detail: Option<String>,
) {
    let new = new_event(clock, event, user_id, origin, detail);
    if let Err(error) = db::audit_events::insert(db, new).await {
        log::error!("could not record the security event {}: {error}", event.code());
    }
}

/// Records a completed login, whatever proved who the user is (a password, a second factor, a
/// passkey): the user's last login time and the `LoggedIn` event, written together, and with them
/// what a password login owes the throttle counters (one statement on Postgres). Unlike other
/// events a failure is raised: the login could not be recorded either.
pub async fn record_login(
    db: &Db,
    clock: &Clock,
    user_id: i64,
    origin: &Origin,
    detail: Option<String>,
    settle: Option<db::throttle::SuccessSettlement>,
) -> Result<(), sea_orm::DbErr> {
    let event = new_event(clock, Event::LoggedIn, Some(user_id), origin, detail);
    db::users::record_login(db, user_id, event, settle.as_ref()).await
}

fn new_event(
    clock: &Clock,
    event: Event,
    user_id: Option<i64>,
    origin: &Origin,
    detail: Option<String>,
) -> db::audit_events::NewEvent {
    db::audit_events::NewEvent {
        user_id,
        kind: event.code(),
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        request_id: origin.request_id.clone(),
        detail: detail.map(|d| d.chars().take(255).collect()),
        now: clock.now(),
    }
}
