//! Every route of the app as a value the compiler checks, the way Phoenix's verified routes do:
//! `routes::configure` registers each by its name and pattern, and every redirect names a `Route`,
//! so a redirect to a route that does not exist cannot be written.

use actix_web::{HttpResponse, http::header};

/// One registered route. Patterns with `{…}` take a parameter and cannot be redirected to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Home,
    Register,
    Login,
    LoginTwoFactor,
    Logout,
    LoginPasskeyOptions,
    LoginPasskey,
    PasswordReset,
    PasswordResetConfirm,
    ConfirmEmail,
    ConfirmEmailToken,
    Healthz,
    Stylesheet,
    Favicon,
    PasskeysScript,
    Dashboard,
    Account,
    AccountEmail,
    AccountEmailResend,
    AccountEmailCancel,
    AccountPassword,
    AccountDelete,
    AccountSessions,
    AccountSessionsRevokeOthers,
    AccountSessionRevoke,
    AccountTwoFactor,
    AccountTwoFactorTotp,
    AccountTwoFactorTotpConfirm,
    AccountTwoFactorTotpDisable,
    AccountTwoFactorRecoveryCodes,
    AccountPasskeys,
    AccountPasskeysOptions,
    AccountPasskeysAdd,
    AccountPasskeyRename,
    AccountPasskeyRemove,
    AdminUsers,
    AdminUser,
    AdminUserDeactivate,
    AdminUserActivate,
    AdminUserRole,
    AdminUserEndSessions,
    AdminUserSendReset,
    AdminUserClearTwoFactor,
}

impl Route {
    pub const ALL: [Route; 43] = [
        Self::Home,
        Self::Register,
        Self::Login,
        Self::LoginTwoFactor,
        Self::Logout,
        Self::LoginPasskeyOptions,
        Self::LoginPasskey,
        Self::PasswordReset,
        Self::PasswordResetConfirm,
        Self::ConfirmEmail,
        Self::ConfirmEmailToken,
        Self::Healthz,
        Self::Stylesheet,
        Self::Favicon,
        Self::PasskeysScript,
        Self::Dashboard,
        Self::Account,
        Self::AccountEmail,
        Self::AccountEmailResend,
        Self::AccountEmailCancel,
        Self::AccountPassword,
        Self::AccountDelete,
        Self::AccountSessions,
        Self::AccountSessionsRevokeOthers,
        Self::AccountSessionRevoke,
        Self::AccountTwoFactor,
        Self::AccountTwoFactorTotp,
        Self::AccountTwoFactorTotpConfirm,
        Self::AccountTwoFactorTotpDisable,
        Self::AccountTwoFactorRecoveryCodes,
        Self::AccountPasskeys,
        Self::AccountPasskeysOptions,
        Self::AccountPasskeysAdd,
        Self::AccountPasskeyRename,
        Self::AccountPasskeyRemove,
        Self::AdminUsers,
        Self::AdminUser,
        Self::AdminUserDeactivate,
        Self::AdminUserActivate,
        Self::AdminUserRole,
        Self::AdminUserEndSessions,
        Self::AdminUserSendReset,
        Self::AdminUserClearTwoFactor,
    ];

    /// The name the route is registered under (for `url_for` and the logs).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Register => "register",
            Self::Login => "login",
            Self::LoginTwoFactor => "login_two_factor",
            Self::Logout => "logout",
            Self::LoginPasskeyOptions => "login_passkey_options",
            Self::LoginPasskey => "login_passkey",
            Self::PasswordReset => "password_reset",
            Self::PasswordResetConfirm => "password_reset_confirm",
            Self::ConfirmEmail => "confirm_email",
            Self::ConfirmEmailToken => "confirm_email_token",
            Self::Healthz => "healthz",
            Self::Stylesheet => "stylesheet",
            Self::Favicon => "favicon",
            Self::PasskeysScript => "passkeys_script",
            Self::Dashboard => "dashboard",
            Self::Account => "account",
            Self::AccountEmail => "account_email",
            Self::AccountEmailResend => "account_email_resend",
            Self::AccountEmailCancel => "account_email_cancel",
            Self::AccountPassword => "account_password",
            Self::AccountDelete => "account_delete",
            Self::AccountSessions => "account_sessions",
            Self::AccountSessionsRevokeOthers => "account_sessions_revoke_others",
            Self::AccountSessionRevoke => "account_session_revoke",
            Self::AccountTwoFactor => "account_two_factor",
            Self::AccountTwoFactorTotp => "account_two_factor_totp",
            Self::AccountTwoFactorTotpConfirm => "account_two_factor_totp_confirm",
            Self::AccountTwoFactorTotpDisable => "account_two_factor_totp_disable",
            Self::AccountTwoFactorRecoveryCodes => "account_two_factor_recovery_codes",
            Self::AccountPasskeys => "account_passkeys",
            Self::AccountPasskeysOptions => "account_passkeys_options",
            Self::AccountPasskeysAdd => "account_passkeys_add",
            Self::AccountPasskeyRename => "account_passkey_rename",
            Self::AccountPasskeyRemove => "account_passkey_remove",
            Self::AdminUsers => "admin_users",
            Self::AdminUser => "admin_user",
            Self::AdminUserDeactivate => "admin_user_deactivate",
            Self::AdminUserActivate => "admin_user_activate",
            Self::AdminUserRole => "admin_user_role",
            Self::AdminUserEndSessions => "admin_user_end_sessions",
            Self::AdminUserSendReset => "admin_user_send_reset",
            Self::AdminUserClearTwoFactor => "admin_user_clear_two_factor",
        }
    }

    /// The full path pattern.
    pub const fn pattern(self) -> &'static str {
        match self {
            Self::Home => "/",
            Self::Register => "/register",
            Self::Login => "/login",
            Self::LoginTwoFactor => "/login/two-factor",
            Self::Logout => "/logout",
            Self::LoginPasskeyOptions => "/login/passkey/options",
            Self::LoginPasskey => "/login/passkey",
            Self::PasswordReset => "/password-reset",
            Self::PasswordResetConfirm => "/password-reset/{token}",
            Self::ConfirmEmail => "/confirm-email",
            Self::ConfirmEmailToken => "/confirm-email/{token}",
            Self::Healthz => "/healthz",
            Self::Stylesheet => "/static/style.css",
            Self::Favicon => "/favicon.ico",
            Self::PasskeysScript => "/static/passkeys.js",
            Self::Dashboard => "/dashboard",
            Self::Account => "/account",
            Self::AccountEmail => "/account/email",
            Self::AccountEmailResend => "/account/email/resend",
            Self::AccountEmailCancel => "/account/email/cancel",
            Self::AccountPassword => "/account/password",
            Self::AccountDelete => "/account/delete",
            Self::AccountSessions => "/account/sessions",
            Self::AccountSessionsRevokeOthers => "/account/sessions/revoke-others",
            Self::AccountSessionRevoke => "/account/sessions/{id}/revoke",
            Self::AccountTwoFactor => "/account/two-factor",
            Self::AccountTwoFactorTotp => "/account/two-factor/totp",
            Self::AccountTwoFactorTotpConfirm => "/account/two-factor/totp/confirm",
            Self::AccountTwoFactorTotpDisable => "/account/two-factor/totp/disable",
            Self::AccountTwoFactorRecoveryCodes => "/account/two-factor/recovery-codes",
            Self::AccountPasskeys => "/account/passkeys",
            Self::AccountPasskeysOptions => "/account/passkeys/options",
            Self::AccountPasskeysAdd => "/account/passkeys/add",
            Self::AccountPasskeyRename => "/account/passkeys/{id}/rename",
            Self::AccountPasskeyRemove => "/account/passkeys/{id}/remove",
            Self::AdminUsers => "/admin/users",
            Self::AdminUser => "/admin/users/{id}",
            Self::AdminUserDeactivate => "/admin/users/{id}/deactivate",
            Self::AdminUserActivate => "/admin/users/{id}/activate",
            Self::AdminUserRole => "/admin/users/{id}/role",
            Self::AdminUserEndSessions => "/admin/users/{id}/end-sessions",
            Self::AdminUserSendReset => "/admin/users/{id}/send-reset",
            Self::AdminUserClearTwoFactor => "/admin/users/{id}/clear-two-factor",
        }
    }

    /// The path of a route without parameters.
    pub const fn path(self) -> &'static str {
        self.pattern()
    }

    /// Pages a redirect may send a browser to: parameterless routes that answer `GET` with a page.
    pub const fn is_redirect_target(self) -> bool {
        matches!(
            self,
            Self::Home
                | Self::Login
                | Self::LoginTwoFactor
                | Self::Dashboard
                | Self::Account
                | Self::AccountSessions
                | Self::AccountTwoFactor
                | Self::AccountPasskeys
                | Self::PasswordReset
                | Self::ConfirmEmail
        )
    }

    /// The path with each `{…}` segment filled, in order, from `params` (for links and redirects to one
    /// user's page).
    pub fn path_with(self, params: &[&str]) -> String {
        let mut params = params.iter();
        self.pattern()
            .split('/')
            .map(
                |segment| {
                    if segment.starts_with('{') { params.next().copied().unwrap_or(segment) } else { segment }
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The pattern relative to `scope` (a route that is a prefix of this one), for `web::scope`.
    pub fn pattern_in(self, scope: Route) -> &'static str {
        self.pattern().strip_prefix(scope.pattern()).unwrap_or(self.pattern())
    }
}

/// `303 See Other` to a page.
pub fn see_other(route: Route) -> HttpResponse {
    see_other_path(route.path())
}

/// `303 See Other` to a path already known to be ours (a checked `next`, or a route plus a suffix).
pub fn see_other_path(path: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, path)).finish()
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn names_and_patterns_are_unique_and_redirect_targets_take_no_parameter() {
        let mut names: Vec<_> = Route::ALL.iter().map(|r| r.name()).collect();
        let mut patterns: Vec<_> = Route::ALL.iter().map(|r| r.pattern()).collect();
        names.sort_unstable();
        names.dedup();
        patterns.sort_unstable();
        patterns.dedup();
        assert_eq!(names.len(), Route::ALL.len());
        assert_eq!(patterns.len(), Route::ALL.len());
        for route in Route::ALL.iter().filter(|r| r.is_redirect_target()) {
            assert!(!route.pattern().contains('{'), "{route:?}");
        }
    }

    #[test]
    fn parameters_fill_their_segments_in_order() {
        assert_eq!(Route::AdminUserRole.path_with(&["42"]), "/admin/users/42/role");
        assert_eq!(Route::AdminUsers.path_with(&[]), "/admin/users");
    }

    #[test]
    fn account_routes_live_under_the_account_scope() {
        for route in Route::ALL.iter().filter(|r| r.name().starts_with("account")) {
            assert!(route.pattern().starts_with(Route::Account.pattern()), "{route:?}");
        }
        assert_eq!(Route::AccountEmail.pattern_in(Route::Account), "/email");
        assert_eq!(Route::Account.pattern_in(Route::Account), "");
    }
}
