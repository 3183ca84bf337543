//! Queries on `sessions`, the server-side half of every session cookie.

use chrono::{DateTime, Utc};
use entity::sessions;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement, sea_query::Expr,
};

pub use entity::sessions::Model as SessionRow;

/// Everything a new row needs; the key itself never reaches the database, only its hash.
pub struct NewSession {
    pub key_hash: String,
    pub public_id: String,
    pub user_id: Option<i64>,
    pub state: String,
    pub remember: bool,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What a request needs of its session row: everything but the key hash and the device details.
#[derive(Clone)]
pub struct LiveSession {
    pub id: i64,
    pub public_id: String,
    pub user_id: Option<i64>,
    /// The session's key/value state as a JSON object (it holds the CSRF token: never log it).
    pub state: String,
    pub remember: bool,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The session keyed by `key_hash` and the user it names, in one statement: what every request with
/// a session cookie needs, read in one round trip. Written out rather than built with SeaORM's
/// `find_also_related`, whose query building and by-name decoding of 23 columns cost more CPU than
/// the rest of a page view together (bench/RESULTS.md, "Where the time goes").
pub async fn find_live_with_user(
    db: &impl ConnectionTrait,
    key_hash: &str,
) -> Result<Option<(LiveSession, Option<crate::db::users::SessionUser>)>, sea_orm::DbErr> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => LIVE_WITH_USER_POSTGRES,
        _ => LIVE_WITH_USER_SQLITE,
    };
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, [key_hash.into()]);
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    let session = LiveSession {
        id: row.try_get_by_index(0)?,
        public_id: row.try_get_by_index(1)?,
        user_id: row.try_get_by_index(2)?,
        state: row.try_get_by_index(3)?,
        remember: row.try_get_by_index(4)?,
        last_seen_at: row.try_get_by_index(5)?,
        expires_at: row.try_get_by_index(6)?,
    };
    let user = match row.try_get_by_index::<Option<i64>>(7)? {
        Some(id) => Some(crate::db::users::SessionUser {
            id,
            username: row.try_get_by_index(8)?,
            email: row.try_get_by_index(9)?,
            role: row.try_get_by_index(10)?,
            is_active: row.try_get_by_index(11)?,
            session_epoch: row.try_get_by_index(12)?,
        }),
        None => None,
    };
    Ok(Some((session, user)))
}

const LIVE_WITH_USER_POSTGRES: &str = "SELECT s.id, s.public_id, s.user_id, s.state, s.remember, \
     s.last_seen_at, s.expires_at, u.id, u.username, u.email, u.role, u.is_active, u.session_epoch \
     FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.key_hash = $1";
const LIVE_WITH_USER_SQLITE: &str = "SELECT s.id, s.public_id, s.user_id, s.state, s.remember, \
     s.last_seen_at, s.expires_at, u.id, u.username, u.email, u.role, u.is_active, u.session_epoch \
     FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.key_hash = ?";

pub async fn insert(db: &impl ConnectionTrait, new: NewSession) -> Result<(), sea_orm::DbErr> {
    sessions::ActiveModel {
        key_hash: Set(new.key_hash),
        public_id: Set(new.public_id),
        user_id: Set(new.user_id),
        state: Set(new.state),
        remember: Set(new.remember),
        created_at: Set(new.now),
        last_seen_at: Set(new.now),
        expires_at: Set(new.expires_at),
        ip: Set(new.ip),
        user_agent: Set(new.user_agent),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Replaces the state of an existing row; returns false when the row is gone (revoked meanwhile).
/// Saves the state of the row keyed by `key_hash`, and gives it `new_key_hash` when the session's
/// key is renewed, in one statement. False when the row is gone (ended while the request ran).
pub async fn update_state(
    db: &impl ConnectionTrait,
    key_hash: &str,
    new_key_hash: Option<&str>,
    state: String,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let mut update = sessions::Entity::update_many();
    if let Some(new_key_hash) = new_key_hash {
        update = update.col_expr(sessions::Column::KeyHash, Expr::value(new_key_hash));
    }
    let result = update
        .col_expr(sessions::Column::State, Expr::value(state))
        .col_expr(sessions::Column::UserId, Expr::value(user_id))
        .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
        .filter(sessions::Column::KeyHash.eq(key_hash))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn touch(db: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<(), sea_orm::DbErr> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete_by_key_hash(db: &impl ConnectionTrait, key_hash: &str) -> Result<(), sea_orm::DbErr> {
    sessions::Entity::delete_many().filter(sessions::Column::KeyHash.eq(key_hash)).exec(db).await?;
    Ok(())
}

pub async fn delete_by_id(db: &impl ConnectionTrait, id: i64) -> Result<(), sea_orm::DbErr> {
    sessions::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Ends every session of a user (password reset, deactivation, deletion).
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, sea_orm::DbErr> {
    let result =
        sessions::Entity::delete_many().filter(sessions::Column::UserId.eq(user_id)).exec(db).await?;
    Ok(result.rows_affected)
}

/// A user's sessions, most recently used first.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<SessionRow>, sea_orm::DbErr> {
    sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user_id))
        .order_by_desc(sessions::Column::LastSeenAt)
        .order_by_desc(sessions::Column::Id)
        .all(db)
        .await
}

/// Ends one session, only if it belongs to `user_id`; false when there was no such session of theirs.
pub async fn delete_for_user_by_public_id(
    db: &impl ConnectionTrait,
    user_id: i64,
    public_id: &str,
) -> Result<bool, sea_orm::DbErr> {
    let result = sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::PublicId.eq(public_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Ends every session of a user except the one with `keep_public_id`.
pub async fn delete_for_user_except(
    db: &impl ConnectionTrait,
    user_id: i64,
    keep_public_id: &str,
) -> Result<u64, sea_orm::DbErr> {
    let result = sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::PublicId.ne(keep_public_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes rows past their absolute expiry, or (unless remembered) idle since before `idle_cutoff`.
pub async fn purge_expired(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    idle_cutoff: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    let result = sessions::Entity::delete_many()
        .filter(
            sea_orm::Condition::any().add(sessions::Column::ExpiresAt.lte(now)).add(
                sea_orm::Condition::all()
                    .add(sessions::Column::Remember.eq(false))
                    .add(sessions::Column::LastSeenAt.lt(idle_cutoff)),
            ),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// How many unexpired sessions each of `user_ids` has.
pub async fn count_live_by_user(
    db: &impl ConnectionTrait,
    user_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<std::collections::HashMap<i64, i64>, sea_orm::DbErr> {
    use sea_orm::QuerySelect;
    if user_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(Option<i64>, i64)> = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::UserId)
        .column_as(sessions::Column::Id.count(), "live")
        .filter(sessions::Column::UserId.is_in(user_ids.iter().copied()))
        .filter(sessions::Column::ExpiresAt.gt(now))
        .group_by(sessions::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|(user_id, live)| user_id.map(|id| (id, live))).collect())
}
