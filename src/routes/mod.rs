//! Thin handlers, one file per resource: extract, call one domain function, render or redirect.
//! `configure` registers every `web::Route`; redirects name a `Route`, so they cannot miss.

mod account;
mod account_sessions;
mod admin;
mod assets;
mod confirm_email;
mod dashboard;
mod health;
mod home;
mod login;
mod logout;
mod passkeys;
mod password_reset;
mod register;
mod two_factor;

use actix_web::{Resource, middleware::from_fn, web};

use crate::web::{
    Route,
    guard::{require_admin, require_login},
};

/// A resource registered under its route's name and pattern.
fn resource(route: Route) -> Resource {
    web::resource(route.pattern()).name(route.name())
}

/// A resource inside `scope`, registered under its route's name and its pattern relative to the scope.
fn resource_in(scope: Route, route: Route) -> Resource {
    web::resource(route.pattern_in(scope)).name(route.name())
}

/// Registers every route. A test checks that each `Route` is registered here and that every
/// redirect target answers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use Route::*;
    cfg.service(resource(Home).get(home::index))
        .service(resource(Register).get(register::form).post(register::submit))
        .service(resource(Login).get(login::form).post(login::submit))
        .service(resource(LoginTwoFactor).get(two_factor::login_form).post(two_factor::login_submit))
        .service(resource(Logout).post(logout::submit).get(logout::page))
        .service(resource(LoginPasskeyOptions).post(passkeys::login_options))
        .service(resource(LoginPasskey).post(passkeys::log_in))
        .service(resource(PasswordReset).get(password_reset::request_form).post(password_reset::request))
        .service(
            resource(PasswordResetConfirm).get(password_reset::confirm_form).post(password_reset::confirm),
        )
        .service(resource(ConfirmEmail).get(confirm_email::request_form).post(confirm_email::request))
        .service(resource(ConfirmEmailToken).get(confirm_email::show).post(confirm_email::confirm))
        .service(resource(Healthz).get(health::check))
        .service(resource(Stylesheet).get(assets::stylesheet))
        .service(resource(Favicon).get(assets::favicon))
        .service(resource(PasskeysScript).get(assets::passkeys_script))
        // Logged-in pages: the guard is the one place that sends anonymous visitors to log in.
        .service(resource(Dashboard).wrap(from_fn(require_login)).get(dashboard::show))
        .service(
            web::scope(Account.pattern())
                .wrap(from_fn(require_login))
                .service(resource_in(Account, Account).get(account::show))
                .service(resource_in(Account, AccountEmail).post(account::change_email))
                .service(resource_in(Account, AccountEmailResend).post(account::resend_confirmation))
                .service(resource_in(Account, AccountEmailCancel).post(account::cancel_email_change))
                .service(resource_in(Account, AccountPassword).post(account::change_password))
                .service(resource_in(Account, AccountDelete).post(account::delete))
                .service(resource_in(Account, AccountSessions).get(account_sessions::list))
                .service(
                    resource_in(Account, AccountSessionsRevokeOthers).post(account_sessions::revoke_others),
                )
                .service(resource_in(Account, AccountSessionRevoke).post(account_sessions::revoke))
                .service(resource_in(Account, AccountTwoFactor).get(two_factor::show))
                .service(resource_in(Account, AccountTwoFactorTotp).post(two_factor::start))
                .service(resource_in(Account, AccountTwoFactorTotpConfirm).post(two_factor::confirm))
                .service(resource_in(Account, AccountTwoFactorTotpDisable).post(two_factor::disable))
                .service(resource_in(Account, AccountTwoFactorRecoveryCodes).post(two_factor::regenerate))
                .service(resource_in(Account, AccountPasskeys).get(passkeys::list))
                .service(resource_in(Account, AccountPasskeysOptions).post(passkeys::add_options))
                .service(resource_in(Account, AccountPasskeysAdd).post(passkeys::add))
                .service(resource_in(Account, AccountPasskeyRename).post(passkeys::rename))
                .service(resource_in(Account, AccountPasskeyRemove).post(passkeys::remove)),
        )
        // Administrators only: the login guard runs first (outermost), then the role check.
        .service(
            web::scope(AdminUsers.pattern())
                .wrap(from_fn(require_admin))
                .wrap(from_fn(require_login))
                .service(resource_in(AdminUsers, AdminUsers).get(admin::list))
                .service(resource_in(AdminUsers, AdminUser).get(admin::show))
                .service(
                    resource_in(AdminUsers, AdminUserDeactivate).post(admin::act::<{ admin::DEACTIVATE }>),
                )
                .service(resource_in(AdminUsers, AdminUserActivate).post(admin::act::<{ admin::ACTIVATE }>))
                .service(resource_in(AdminUsers, AdminUserRole).post(admin::act::<{ admin::SET_ROLE }>))
                .service(
                    resource_in(AdminUsers, AdminUserEndSessions).post(admin::act::<{ admin::END_SESSIONS }>),
                )
                .service(
                    resource_in(AdminUsers, AdminUserSendReset).post(admin::act::<{ admin::SEND_RESET }>),
                )
                .service(
                    resource_in(AdminUsers, AdminUserClearTwoFactor)
                        .post(admin::act::<{ admin::CLEAR_TWO_FACTOR }>),
                ),
        );
}
