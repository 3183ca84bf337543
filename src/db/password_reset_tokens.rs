//! Queries on `password_reset_tokens`; the ones every link table shares are in `link_tokens`.

use chrono::{DateTime, Utc};
use entity::password_reset_tokens;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};

use super::link_tokens::LinkTokens;

pub use entity::password_reset_tokens::Entity as ResetTokens;
pub use entity::password_reset_tokens::Model as ResetToken;

impl LinkTokens for ResetTokens {
    const ID: Self::Column = password_reset_tokens::Column::Id;
    const USER_ID: Self::Column = password_reset_tokens::Column::UserId;
    const TOKEN_HASH: Self::Column = password_reset_tokens::Column::TokenHash;
    const EXPIRES_AT: Self::Column = password_reset_tokens::Column::ExpiresAt;
    const USED_AT: Self::Column = password_reset_tokens::Column::UsedAt;
}

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
