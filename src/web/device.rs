//! The device cookie (OWASP "device cookies"): set at each successful login, kept across logout,
//! encrypted with a key of its own, naming the account and a random id for this browser (encrypted,
//! not only signed: on a shared computer it must not tell which account used the browser). A login
//! attempt that carries a valid one for the account it names counts on that device's own budget.

use actix_web::{HttpRequest, HttpResponse, cookie::time::Duration};

use super::{
    AppError, AppState,
    cookies::{self, Protection},
};
use crate::{auth::login::Device, db::users::User, tokens};

const DEVICE_COOKIE: &str = "gatehouse_device";
/// Long-lived: the point is to recognise the browser a user usually logs in from.
const LIFETIME: Duration = Duration::days(365);

/// The request's device cookie, if it verifies (with the current key, or the previous one).
pub fn from_request(req: &HttpRequest, state: &AppState) -> Option<Device> {
    let previous = state.previous_keys.as_ref().map(|keys| &keys.device);
    let open = |protection| {
        cookies::open(req, &state.settings, DEVICE_COOKIE, &state.keys.device, previous, protection)
    };
    // Device cookies were only signed before 2026-12-07. Still honoured, as they are as unforgeable,
    // so a user whose name is being locked keeps their usual browser's exemption: the next login
    // replaces the cookie with an encrypted one. To be dropped once a year's cookies have expired.
    let opened = open(Protection::Private).or_else(|| open(Protection::Signed))?;
    let mut parts = opened.value.splitn(3, '.');
    let (user_id, epoch, id) = (parts.next()?, parts.next()?, parts.next()?);
    Some(Device { user_id: user_id.parse().ok()?, epoch: epoch.parse().ok()?, id: id.to_owned() })
}

/// Gives this browser a new device cookie for `user` (a fresh id at every login), bound to the
/// user's current session epoch.
pub fn remember(res: &mut HttpResponse, state: &AppState, user: &User) -> Result<(), AppError> {
    let value = format!("{}.{}.{}", user.id, user.session_epoch, tokens::random_hex::<16>()?);
    let cookie = cookies::sealed(
        &state.settings,
        DEVICE_COOKIE,
        value,
        Some(LIFETIME),
        &state.keys.device,
        Protection::Private,
    );
    res.add_cookie(&cookie).map_err(AppError::internal)
}
