//! Queries on `two_factor` (a user's TOTP) and `recovery_codes`.

use chrono::{DateTime, Utc};
use entity::{recovery_codes, two_factor, users};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    PaginatorTrait as _, QueryFilter, sea_query::Expr,
};

pub use entity::two_factor::Model as TwoFactor;

use super::users::User;

/// The login look-up: the user found by username key or email, and their TOTP row, in one statement
/// (a login of a user without TOTP costs no more than before).
pub async fn find_user_by_login(
    db: &impl ConnectionTrait,
    login_key: &str,
) -> Result<Option<(User, Option<TwoFactor>)>, sea_orm::DbErr> {
    users::Entity::find()
        .filter(
            Condition::any()
                .add(users::Column::UsernameKey.eq(login_key))
                .add(users::Column::Email.eq(login_key)),
        )
        .find_also_related(two_factor::Entity)
        .one(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, user_id: i64) -> Result<Option<TwoFactor>, sea_orm::DbErr> {
    two_factor::Entity::find_by_id(user_id).one(db).await
}

/// Whether the user has TOTP switched on.
pub async fn is_enabled(db: &impl ConnectionTrait, user_id: i64) -> Result<bool, sea_orm::DbErr> {
    Ok(find(db, user_id).await?.is_some_and(|row| row.enabled_at.is_some()))
}

/// A new pending enrolment (TOTP still off), replacing an earlier unfinished one. False when TOTP is
/// on already: an enabled secret is never overwritten. Run it in a write transaction.
pub async fn start_enrolment(
    db: &impl ConnectionTrait,
    user_id: i64,
    sealed_secret: String,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    if find(db, user_id).await?.is_some_and(|row| row.enabled_at.is_some()) {
        return Ok(false);
    }
    two_factor::Entity::delete_by_id(user_id).exec(db).await?;
    two_factor::ActiveModel {
        user_id: Set(user_id),
        totp_secret: Set(sealed_secret),
        enabled_at: Set(None),
        last_used_step: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(true)
}

/// Switches a pending enrolment on, the step of its first code used up, if it still holds the secret
/// the code was checked against. False when there was no such enrolment (finished by another
/// request, never started, or replaced by a newer one since the code was checked).
pub async fn enable(
    db: &impl ConnectionTrait,
    user_id: i64,
    sealed_secret: &str,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = two_factor::Entity::update_many()
        .col_expr(two_factor::Column::EnabledAt, Expr::value(now))
        .col_expr(two_factor::Column::LastUsedStep, Expr::value(step))
        .col_expr(two_factor::Column::UpdatedAt, Expr::value(now))
        .filter(two_factor::Column::UserId.eq(user_id))
        .filter(two_factor::Column::TotpSecret.eq(sealed_secret))
        .filter(two_factor::Column::EnabledAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Uses up a time step: true only when it is later than every step used before, in one statement,
/// so two requests with the same code cannot both pass.
pub async fn use_step(
    db: &impl ConnectionTrait,
    user_id: i64,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = two_factor::Entity::update_many()
        .col_expr(two_factor::Column::LastUsedStep, Expr::value(step))
        .col_expr(two_factor::Column::UpdatedAt, Expr::value(now))
        .filter(two_factor::Column::UserId.eq(user_id))
        .filter(two_factor::Column::EnabledAt.is_not_null())
        .filter(
            Condition::any()
                .add(two_factor::Column::LastUsedStep.is_null())
                .add(two_factor::Column::LastUsedStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Re-seals a secret (opened with the previous SESSION_SECRET) under the current key.
pub async fn reseal(
    db: &impl ConnectionTrait,
    user_id: i64,
    sealed_secret: String,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    two_factor::Entity::update_many()
        .col_expr(two_factor::Column::TotpSecret, Expr::value(sealed_secret))
        .col_expr(two_factor::Column::UpdatedAt, Expr::value(now))
        .filter(two_factor::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes the user's TOTP and recovery codes; true when TOTP was on.
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<bool, sea_orm::DbErr> {
    recovery_codes::Entity::delete_many().filter(recovery_codes::Column::UserId.eq(user_id)).exec(db).await?;
    let deleted = two_factor::Entity::delete_many()
        .filter(two_factor::Column::UserId.eq(user_id))
        .filter(two_factor::Column::EnabledAt.is_not_null())
        .exec(db)
        .await?;
    // An unfinished enrolment goes too.
    two_factor::Entity::delete_by_id(user_id).exec(db).await?;
    Ok(deleted.rows_affected == 1)
}

/// Replaces every recovery code of the user with `code_hashes`.
pub async fn replace_recovery_codes(
    db: &impl ConnectionTrait,
    user_id: i64,
    code_hashes: Vec<String>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    recovery_codes::Entity::delete_many().filter(recovery_codes::Column::UserId.eq(user_id)).exec(db).await?;
    let rows = code_hashes.into_iter().map(|code_hash| recovery_codes::ActiveModel {
        user_id: Set(user_id),
        code_hash: Set(code_hash),
        created_at: Set(now),
        used_at: Set(None),
        ..Default::default()
    });
    recovery_codes::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Uses up one recovery code; false when the user has no such unused code (single use, even under a
/// race).
pub async fn use_recovery_code(
    db: &impl ConnectionTrait,
    user_id: i64,
    code_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = recovery_codes::Entity::update_many()
        .col_expr(recovery_codes::Column::UsedAt, Expr::value(now))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::CodeHash.eq(code_hash))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How many unused recovery codes the user has left.
pub async fn unused_recovery_codes(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, sea_orm::DbErr> {
    recovery_codes::Entity::find()
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .count(db)
        .await
}
