//! Queries on `passkeys` and `passkey_challenges`.

use chrono::{DateTime, Utc};
use entity::{passkey_challenges as challenges, passkeys};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};

pub use entity::passkeys::Model as StoredPasskey;

/// A new passkey; a credential id already stored (any user's) is a unique violation.
pub async fn insert(
    db: &impl ConnectionTrait,
    user_id: i64,
    credential_id: String,
    credential: String,
    name: &str,
    now: DateTime<Utc>,
) -> Result<StoredPasskey, sea_orm::DbErr> {
    passkeys::ActiveModel {
        user_id: Set(user_id),
        credential_id: Set(credential_id),
        credential: Set(credential),
        name: Set(name.to_owned()),
        created_at: Set(now),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// A user's passkeys, oldest first.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<StoredPasskey>, sea_orm::DbErr> {
    passkeys::Entity::find()
        .filter(passkeys::Column::UserId.eq(user_id))
        .order_by_asc(passkeys::Column::CreatedAt)
        .order_by_asc(passkeys::Column::Id)
        .all(db)
        .await
}

pub async fn find_by_credential_id(
    db: &impl ConnectionTrait,
    credential_id: &str,
) -> Result<Option<StoredPasskey>, sea_orm::DbErr> {
    passkeys::Entity::find().filter(passkeys::Column::CredentialId.eq(credential_id)).one(db).await
}

/// Records a use: the updated credential (counter, backup state) and the time.
pub async fn record_use(
    db: &impl ConnectionTrait,
    id: i64,
    credential: String,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    passkeys::Entity::update_many()
        .col_expr(passkeys::Column::Credential, Expr::value(credential))
        .col_expr(passkeys::Column::LastUsedAt, Expr::value(now))
        .filter(passkeys::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Renames one of the user's passkeys; false when the user has no passkey with that id.
pub async fn rename(
    db: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
    name: &str,
) -> Result<bool, sea_orm::DbErr> {
    let result = passkeys::Entity::update_many()
        .col_expr(passkeys::Column::Name, Expr::value(name))
        .filter(passkeys::Column::Id.eq(id))
        .filter(passkeys::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes one of the user's passkeys; false when the user has no passkey with that id.
pub async fn delete(db: &impl ConnectionTrait, user_id: i64, id: i64) -> Result<bool, sea_orm::DbErr> {
    let result = passkeys::Entity::delete_many()
        .filter(passkeys::Column::Id.eq(id))
        .filter(passkeys::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records a sign-in challenge as spent; false when it already was (a replay, or a race lost).
pub async fn spend_challenge(
    db: &impl ConnectionTrait,
    challenge_hash: String,
    expires_at: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let inserted = challenges::Entity::insert(challenges::ActiveModel {
        challenge_hash: Set(challenge_hash),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(challenges::Column::ChallengeHash).do_nothing().to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
}

/// Forgets spent challenges past their expiry (a cookie that old is refused anyway).
pub async fn purge_expired_challenges(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    let result =
        challenges::Entity::delete_many().filter(challenges::Column::ExpiresAt.lte(now)).exec(db).await?;
    Ok(result.rows_affected)
}
