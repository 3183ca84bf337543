//! Queries on `email_confirmation_tokens`; the ones every link table shares are in `link_tokens`.

use chrono::{DateTime, Utc};
use entity::email_confirmation_tokens as tokens;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::link_tokens::LinkTokens;

pub use entity::email_confirmation_tokens::Entity as ConfirmationTokens;
pub use entity::email_confirmation_tokens::Model as ConfirmationToken;

impl LinkTokens for ConfirmationTokens {
    const ID: Self::Column = tokens::Column::Id;
    const USER_ID: Self::Column = tokens::Column::UserId;
    const TOKEN_HASH: Self::Column = tokens::Column::TokenHash;
    const EXPIRES_AT: Self::Column = tokens::Column::ExpiresAt;
    const USED_AT: Self::Column = tokens::Column::UsedAt;
}

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
