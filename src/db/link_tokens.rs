//! What the single-use link tables share (`password_reset_tokens`, `email_confirmation_tokens`):
//! a row is found by the SHA-256 of its token, used at most once even when two requests race for it,
//! void past its expiry, and deleted once it can no longer be used.
//!
//! A row is looked up by its hash through a unique index, never compared in Rust: a lookup's timing
//! could at most tell an attacker about the hash of a token they already hold, and nothing about
//! anyone else's token.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait as _},
};

/// A table of single-use link tokens: the columns the queries below need.
pub trait LinkTokens: EntityTrait {
    const ID: Self::Column;
    const USER_ID: Self::Column;
    const TOKEN_HASH: Self::Column;
    const EXPIRES_AT: Self::Column;
    const USED_AT: Self::Column;
}

/// The row of `token_hash` if it can be used at `now`: not used yet, not expired.
pub async fn find_usable<T: LinkTokens>(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<T::Model>, DbErr> {
    T::find()
        .filter(T::TOKEN_HASH.eq(token_hash))
        .filter(T::USED_AT.is_null())
        .filter(T::EXPIRES_AT.gt(now))
        .one(db)
        .await
}

/// Marks a token used; false when another request used it first (single use, even under a race).
pub async fn mark_used<T: LinkTokens>(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = T::update_many()
        .col_expr(T::USED_AT, Expr::value(now))
        .filter(T::ID.eq(id))
        .filter(T::USED_AT.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Voids every link of a user.
pub async fn delete_for_user<T: LinkTokens>(db: &impl ConnectionTrait, user_id: i64) -> Result<(), DbErr> {
    T::delete_many().filter(T::USER_ID.eq(user_id)).exec(db).await?;
    Ok(())
}

/// Deletes tokens that can no longer be used: spent, or past their expiry.
pub async fn purge_spent<T: LinkTokens>(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let purged =
        T::delete_many().filter(T::USED_AT.is_not_null().or(T::EXPIRES_AT.lte(now))).exec(db).await?;
    Ok(purged.rows_affected)
}
