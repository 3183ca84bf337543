//! The user loader: on every request with an identity, one `find_by_id`, with three outcomes kept
//! apart: found (logged in), not found or inactive (logged out, with a warning), database error (503).

use sea_orm::DatabaseConnection;

use crate::db;

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

impl From<db::users::User> for CurrentUser {
    fn from(user: db::users::User) -> Self {
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
    db: &DatabaseConnection,
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
    Ok(match db::users::find_by_id(db, id).await? {
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
