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
    Logout,
    PasswordReset,
    PasswordResetConfirm,
    Healthz,
    Stylesheet,
    Favicon,
    Dashboard,
    Account,
    AccountEmail,
    AccountPassword,
    AccountDelete,
    AccountSessions,
    AccountSessionsRevokeOthers,
    AccountSessionRevoke,
}

impl Route {
    pub const ALL: [Route; 17] = [
        Self::Home,
        Self::Register,
        Self::Login,
        Self::Logout,
        Self::PasswordReset,
        Self::PasswordResetConfirm,
        Self::Healthz,
        Self::Stylesheet,
        Self::Favicon,
        Self::Dashboard,
        Self::Account,
        Self::AccountEmail,
        Self::AccountPassword,
        Self::AccountDelete,
        Self::AccountSessions,
        Self::AccountSessionsRevokeOthers,
        Self::AccountSessionRevoke,
    ];

    /// The name the route is registered under (for `url_for` and the logs).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Register => "register",
            Self::Login => "login",
            Self::Logout => "logout",
            Self::PasswordReset => "password_reset",
            Self::PasswordResetConfirm => "password_reset_confirm",
            Self::Healthz => "healthz",
            Self::Stylesheet => "stylesheet",
            Self::Favicon => "favicon",
            Self::Dashboard => "dashboard",
            Self::Account => "account",
            Self::AccountEmail => "account_email",
            Self::AccountPassword => "account_password",
            Self::AccountDelete => "account_delete",
            Self::AccountSessions => "account_sessions",
            Self::AccountSessionsRevokeOthers => "account_sessions_revoke_others",
            Self::AccountSessionRevoke => "account_session_revoke",
        }
    }

    /// The full path pattern.
    pub const fn pattern(self) -> &'static str {
        match self {
            Self::Home => "/",
            Self::Register => "/register",
            Self::Login => "/login",
            Self::Logout => "/logout",
            Self::PasswordReset => "/password-reset",
            Self::PasswordResetConfirm => "/password-reset/{token}",
            Self::Healthz => "/healthz",
            Self::Stylesheet => "/static/style.css",
            Self::Favicon => "/favicon.ico",
            Self::Dashboard => "/dashboard",
            Self::Account => "/account",
            Self::AccountEmail => "/account/email",
            Self::AccountPassword => "/account/password",
            Self::AccountDelete => "/account/delete",
            Self::AccountSessions => "/account/sessions",
            Self::AccountSessionsRevokeOthers => "/account/sessions/revoke-others",
            Self::AccountSessionRevoke => "/account/sessions/{id}/revoke",
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
                | Self::Dashboard
                | Self::Account
                | Self::AccountSessions
                | Self::PasswordReset
        )
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
    fn account_routes_live_under_the_account_scope() {
        for route in Route::ALL.iter().filter(|r| r.name().starts_with("account")) {
            assert!(route.pattern().starts_with(Route::Account.pattern()), "{route:?}");
        }
        assert_eq!(Route::AccountEmail.pattern_in(Route::Account), "/email");
        assert_eq!(Route::Account.pattern_in(Route::Account), "");
    }
}
