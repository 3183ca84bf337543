//! Queries on `email_confirmation_tokens`.

use chrono::{DateTime, Utc};
use entity::email_confirmation_tokens as tokens;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait as _},
};

pub use entity::email_confirmation_tokens::Model as ConfirmationToken;

pub async fn insert(
    db: &impl ConnectionTrait,
    user_id: i64,
    email: &str,
    token_hash: String,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    tokens::ActiveModel {
        user_id: Set(user_id),
        email: Set(email.to_owned()),
        token_hash: Set(token_hash),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<ConfirmationToken>, sea_orm::DbErr> {
    tokens::Entity::find().filter(tokens::Column::TokenHash.eq(token_hash)).one(db).await
}

/// Marks a token used; false when another request used it first (single use, even under a race).
pub async fn mark_used(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = tokens::Entity::update_many()
        .col_expr(tokens::Column::UsedAt, Expr::value(now))
        .filter(tokens::Column::Id.eq(id))
        .filter(tokens::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The newest usable link of a user for an address other than `current_email`: a pending change.
pub async fn pending_change(
    db: &impl ConnectionTrait,
    user_id: i64,
    current_email: &str,
    now: DateTime<Utc>,
) -> Result<Option<ConfirmationToken>, sea_orm::DbErr> {
    tokens::Entity::find()
        .filter(tokens::Column::UserId.eq(user_id))
        .filter(tokens::Column::Email.ne(current_email))
        .filter(tokens::Column::UsedAt.is_null())
        .filter(tokens::Column::ExpiresAt.gt(now))
        .order_by_desc(tokens::Column::CreatedAt)
        .order_by_desc(tokens::Column::Id)
        .one(db)
        .await
}

/// Voids every link of a user for an address other than `keep_email` (a newer change replaces an
/// older one; a password change or reset cancels a pending change).
pub async fn delete_other_addresses(
    db: &impl ConnectionTrait,
    user_id: i64,
    keep_email: &str,
) -> Result<u64, sea_orm::DbErr> {
    let result = tokens::Entity::delete_many()
        .filter(tokens::Column::UserId.eq(user_id))
        .filter(tokens::Column::Email.ne(keep_email))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Voids every link of a user (an address was just confirmed: the others are stale).
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<(), sea_orm::DbErr> {
    tokens::Entity::delete_many().filter(tokens::Column::UserId.eq(user_id)).exec(db).await?;
    Ok(())
}

/// Deletes tokens that can no longer be used: spent, or past their expiry.
pub async fn purge_spent(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
    let purged = tokens::Entity::delete_many()
        .filter(tokens::Column::UsedAt.is_not_null().or(tokens::Column::ExpiresAt.lte(now)))
        .exec(db)
        .await?;
    Ok(purged.rows_affected)
}
