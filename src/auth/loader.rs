//! The user loader: on every request with an identity, the user found by id, with three outcomes kept
//! apart: found (logged in), not found or inactive (logged out, with a warning), database error (503).
//!
//! The session store reads the session row and its user in one statement and hands the user row over
//! here ([`hand_over`]), so a page view costs one round trip. That row is as fresh as a `find_by_id`
//! (read in the same request, after the session), and it is only a source: the decision who the user
//! is, and whether the session still counts, is taken below and nowhere else.

use std::cell::RefCell;

use crate::db::Db;

use crate::db;

/// A user row read with the session of the current request, keyed by the id the session named.
struct HandedOver {
    user_id: i64,
    user: Option<db::users::SessionUser>,
}

tokio::task_local! {
    static HANDED_OVER: RefCell<Option<HandedOver>>;
}

/// Runs one request's future with an empty hand-over slot. Everything that runs the session store
/// for a request must run inside it, or the loader falls back to its own `find_by_id`.
pub async fn scope_request<F: std::future::Future>(future: F) -> F::Output {
    HANDED_OVER.scope(RefCell::new(None), future).await
}

/// Called by the session store: the user row (or its absence) for the session it just loaded.
pub fn hand_over(user_id: i64, user: Option<db::users::SessionUser>) {
    let _ = HANDED_OVER.try_with(|slot| *slot.borrow_mut() = Some(HandedOver { user_id, user }));
}

/// The row handed over for `user_id`, taken so it cannot be used twice; `None` when there is none.
fn take_handed_over(user_id: i64) -> Option<Option<db::users::SessionUser>> {
    let handed = HANDED_OVER.try_with(|slot| slot.borrow_mut().take()).ok().flatten()?;
    (handed.user_id == user_id).then_some(handed.user)
}

/// The logged-in user, loaded once per request. Holds no password hash.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

impl From<db::users::SessionUser> for CurrentUser {
    fn from(user: db::users::SessionUser) -> Self {
        Self { id: user.id, username: user.username, email: user.email, role: user.role }
    }
}

/// What the loader concluded about a session's identity.
#[derive(Debug)]
pub enum LoadOutcome {
    Anonymous,
    LoggedIn(CurrentUser),
    /// The session names a user who can no longer use it: it is logged out.
    Rejected {
        user_id: String,
        reason: &'static str,
    },
}

/// Loads the user named by the session, if any. `session_epoch` is what the session recorded at login:
/// a session from before the user's last credential change is over.
pub async fn load(
    db: &Db,
    user_id: Option<String>,
    session_epoch: i64,
) -> Result<LoadOutcome, sea_orm::DbErr> {
    let Some(raw_id) = user_id else {
        return Ok(LoadOutcome::Anonymous);
    };
    let Ok(id) = raw_id.parse::<i64>() else {
        return Ok(LoadOutcome::Rejected {
            user_id: raw_id,
            reason: "the session's user id is not a number",
        });
    };
    let user = match take_handed_over(id) {
        Some(user) => user,
        None => db::users::find_by_id(db, id).await?.map(Into::into),
    };
    Ok(match user {
        Some(user) if user.is_active && user.session_epoch == session_epoch => {
            LoadOutcome::LoggedIn(user.into())
        }
        Some(user) if user.is_active => {
            LoadOutcome::Rejected { user_id: raw_id, reason: "the session predates a change of the password" }
        }
        Some(_) => LoadOutcome::Rejected { user_id: raw_id, reason: "the user is deactivated" },
        None => LoadOutcome::Rejected { user_id: raw_id, reason: "the user no longer exists" },
    })
}
