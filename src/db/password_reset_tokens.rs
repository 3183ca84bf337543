//! Queries on `password_reset_tokens`.

use chrono::{DateTime, Utc};
use entity::password_reset_tokens;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait as _},
};

pub use entity::password_reset_tokens::Model as ResetToken;

pub async fn insert(
    db: &impl ConnectionTrait,
    user_id: i64,
    token_hash: String,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    password_reset_tokens::ActiveModel {
        user_id: Set(user_id),
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
) -> Result<Option<ResetToken>, sea_orm::DbErr> {
    password_reset_tokens::Entity::find()
        .filter(password_reset_tokens::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// Marks a token used; false when another request used it first (single use, even under a race).
pub async fn mark_used(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = password_reset_tokens::Entity::update_many()
        .col_expr(password_reset_tokens::Column::UsedAt, Expr::value(now))
        .filter(password_reset_tokens::Column::Id.eq(id))
        .filter(password_reset_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Invalidates every outstanding link of a user (their password changed by some path).
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<(), sea_orm::DbErr> {
    password_reset_tokens::Entity::delete_many()
        .filter(password_reset_tokens::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes tokens that can no longer be used: spent, or past their expiry.
pub async fn purge_spent(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
    let purged = password_reset_tokens::Entity::delete_many()
        .filter(
            password_reset_tokens::Column::UsedAt
                .is_not_null()
                .or(password_reset_tokens::Column::ExpiresAt.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(purged.rows_affected)
}
