//! Looking after accounts: what an administrator (from the admin pages) or an operator (from the
//! command line) may do to a user. Each act is refused when it would lock the actor out, takes effect
//! on the user's very next request on every instance, and is recorded by the caller as a security
//! event naming the actor.

use crate::db::Db;
use sea_orm::DbErr;

use super::{
    accounts::{ROLE_ADMIN, ROLE_USER},
    loader::CurrentUser,
};
use crate::{clock::Clock, db};

/// Who is acting.
#[derive(Clone, Debug)]
pub enum Actor {
    Admin {
        id: i64,
        username: String,
    },
    /// The operator at the shell (`gatehouse users …`).
    Cli,
}

impl Actor {
    pub fn admin(user: &CurrentUser) -> Self {
        Self::Admin { id: user.id, username: user.username.clone() }
    }

    /// How the security log names the actor.
    pub fn describe(&self) -> String {
        match self {
            Self::Admin { id, username } => format!("by administrator {username} (id {id})"),
            Self::Cli => "by an operator (command line)".to_owned(),
        }
    }

    fn is(&self, user_id: i64) -> bool {
        matches!(self, Self::Admin { id, .. } if *id == user_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("There is no such user.")]
    UnknownUser,
    #[error("You cannot remove your own administrator role: ask another administrator.")]
    SelfDemotion,
    #[error("You cannot deactivate your own account: ask another administrator.")]
    SelfDeactivation,
    #[error("The role must be `user` or `admin`.")]
    UnknownRole,
    #[error("This is the last active administrator: make someone else an administrator first.")]
    LastAdmin,
    #[error("database error while changing a user")]
    Database(#[from] DbErr),
}

async fn target(db: &Db, user_id: i64) -> Result<db::users::User, AdminError> {
    db::users::find_by_id(db, user_id).await?.ok_or(AdminError::UnknownUser)
}

/// Locks the user out: inactive (a login answers like a wrong password), every session ended.
pub async fn deactivate(
    db: &Db,
    clock: &Clock,
    actor: &Actor,
    user_id: i64,
) -> Result<db::users::User, AdminError> {
    if actor.is(user_id) {
        return Err(AdminError::SelfDeactivation);
    }
    let user = target(db, user_id).await?;
    let now = clock.now();
    let txn = db::begin_write(db).await?;
    keep_an_admin(&txn, user.id).await?;
    db::users::set_active(&txn, user.id, false, now).await?;
    db::sessions::delete_for_user(&txn, user.id).await?;
    db::users::bump_session_epoch(&txn, user.id, now).await?;
    txn.commit().await?;
    Ok(user)
}

pub async fn activate(db: &Db, clock: &Clock, user_id: i64) -> Result<db::users::User, AdminError> {
    let user = target(db, user_id).await?;
    db::users::set_active(db, user.id, true, clock.now()).await?;
    Ok(user)
}

/// `role` is `user` or `admin`; nobody removes their own admin role, so the last admin stays one.
pub async fn set_role(
    db: &Db,
    clock: &Clock,
    actor: &Actor,
    user_id: i64,
    role: &str,
) -> Result<db::users::User, AdminError> {
    let role = match role.trim() {
        ROLE_ADMIN => ROLE_ADMIN,
        ROLE_USER => ROLE_USER,
        _ => return Err(AdminError::UnknownRole),
    };
    if actor.is(user_id) && role != ROLE_ADMIN {
        return Err(AdminError::SelfDemotion);
    }
    let user = target(db, user_id).await?;
    let txn = db::begin_write(db).await?;
    if role != ROLE_ADMIN {
        keep_an_admin(&txn, user.id).await?;
    }
    db::users::set_role(&txn, user.id, role, clock.now()).await?;
    txn.commit().await?;
    Ok(user)
}

/// Refuses a change that takes `user_id` out of the active administrators when no other is left.
/// Runs inside the change's transaction, with the admin rows locked, so concurrent changes see
/// each other.
async fn keep_an_admin(txn: &sea_orm::DatabaseTransaction, user_id: i64) -> Result<(), AdminError> {
    let admins = db::users::lock_active_admins(txn).await?;
    let is_admin = admins.contains(&user_id);
    if is_admin && admins.iter().all(|id| *id == user_id) {
        return Err(AdminError::LastAdmin);
    }
    Ok(())
}

/// Ends every session of the user, also one a racing request creates (the epoch is raised).
/// Returns how many ended.
pub async fn end_sessions(
    db: &Db,
    clock: &Clock,
    user_id: i64,
) -> Result<(db::users::User, u64), AdminError> {
    let user = target(db, user_id).await?;
    let txn = db::begin_write(db).await?;
    let ended = db::sessions::delete_for_user(&txn, user.id).await?;
    db::users::bump_session_epoch(&txn, user.id, clock.now()).await?;
    txn.commit().await?;
    Ok((user, ended))
}

/// Removes the user's second factor (TOTP and its recovery codes): they log in with the password
/// alone until they turn it on again. True when TOTP was on.
pub async fn clear_two_factor(db: &Db, user_id: i64) -> Result<(db::users::User, bool), AdminError> {
    let user = target(db, user_id).await?;
    let was_on = db::two_factor::delete_for_user(db, user.id).await?;
    Ok((user, was_on))
}

/// A user by login name (username or email, any case), for the command line.
pub async fn find_by_name(db: &Db, name: &str) -> Result<db::users::User, AdminError> {
    let key = name.trim().to_lowercase();
    db::users::find_by_login(db, &key).await?.ok_or(AdminError::UnknownUser)
}

/// Users per page in the admin list.
pub const PER_PAGE: u64 = 50;

/// One page of the admin list.
pub struct UserPage {
    pub users: Vec<(db::users::User, i64)>,
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

/// Page `page` (from 1) of the users matching `query`, newest first, each with its live sessions.
pub async fn list_users(db: &Db, clock: &Clock, query: Option<&str>, page: u64) -> Result<UserPage, DbErr> {
    let total = db::users::count_matching(db, query).await?;
    let offset = page.saturating_sub(1).saturating_mul(PER_PAGE);
    let users = db::users::search(db, query, PER_PAGE, offset).await?;
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let live = db::sessions::count_live_by_user(db, &ids, clock.now()).await?;
    Ok(UserPage {
        users: users
            .into_iter()
            .map(|u| {
                let sessions = live.get(&u.id).copied().unwrap_or(0);
                (u, sessions)
            })
            .collect(),
        total,
        page,
        pages: total.div_ceil(PER_PAGE).max(1),
    })
}

/// One user with their live sessions and recent security events, for the admin detail page.
pub struct UserDetail {
    pub user: db::users::User,
    pub sessions: Vec<db::sessions::SessionRow>,
    pub events: Vec<db::audit_events::AuditEvent>,
    /// TOTP is on.
    pub two_factor: bool,
}

pub async fn user_detail(db: &Db, user_id: i64) -> Result<UserDetail, AdminError> {
    let user = target(db, user_id).await?;
    let sessions = db::sessions::list_for_user(db, user.id).await?;
    let events = db::audit_events::recent_for_user(db, user.id, 30).await?;
    let two_factor = db::two_factor::is_enabled(db, user.id).await?;
    Ok(UserDetail { user, sessions, events, two_factor })
}
