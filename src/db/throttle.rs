//! Queries on `throttle_counters`: counting failures per key in a window, and the locks they cause.
//! Every step is one statement whose condition makes it safe when several instances race.

use chrono::{DateTime, Utc};
use entity::throttle_counters;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, Order, QueryFilter,
    sea_query::{Expr, ExprTrait as _, LockBehavior, LockType, OnConflict, Query, UpdateStatement},
};

pub use entity::throttle_counters::Model as Counter;

pub async fn find(db: &impl ConnectionTrait, key: &str) -> Result<Option<Counter>, sea_orm::DbErr> {
    throttle_counters::Entity::find_by_id(key.to_owned()).one(db).await
}

/// Counts one failure: in the current window if it started after `window_start`, else in a new
/// window that starts now. One upsert, so concurrent failures (several instances, a parallel flood)
/// each count: two of them can never both start "a new window of one". Returns the counter after.
pub async fn count_failure(
    db: &impl ConnectionTrait,
    key: &str,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Counter, sea_orm::DbErr> {
    count_failures(db, &[(key, window_start)], now)
        .await?
        .pop()
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("throttle counter {key}")))
}

/// `count_failure` for several keys, each with its own window, in one statement: a login counts its
/// name and its client IP in one round trip. The counters after, in no particular order.
pub async fn count_failures(
    db: &impl ConnectionTrait,
    keys: &[(&str, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<Vec<Counter>, sea_orm::DbErr> {
    use throttle_counters::{Column, Entity};
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // Postgres locks the rows of an upsert in the order of its VALUES: in key order, like every
    // statement here that writes several counters, so two of them can never wait for each other.
    let mut keys = keys.to_vec();
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // A lock that has ended closes its window: the attempts counted before and during it bought
    // that lock, so the first attempt after it opens a fresh window (which matters when a lock is
    // shorter than the window). The lock stays on the row until `judge` records its end, so
    // "opened after the lock ended" is what tells that attempt from the ones that follow it.
    let locked_until = Expr::col((Entity, Column::LockedUntil));
    let window_open = Condition::any()
        .add(locked_until.clone().is_null())
        .add(locked_until.clone().gt(now))
        .add(Expr::col((Entity, Column::WindowStartedAt)).gte(locked_until));
    let in_window = keys.iter().fold(Condition::any(), |any, (key, window_start)| {
        any.add(
            Condition::all()
                .add(Expr::col((Entity, Column::Key)).eq(*key))
                .add(Expr::col((Entity, Column::WindowStartedAt)).gt(*window_start))
                .add(window_open.clone()),
        )
    });
    let failures = Expr::case(in_window.clone(), Expr::col((Entity, Column::Failures)).add(1)).finally(1);
    let window_started_at =
        Expr::case(in_window, Expr::col((Entity, Column::WindowStartedAt))).finally(Expr::value(now));
    let first = keys.iter().map(|(key, _)| throttle_counters::ActiveModel {
        key: Set((*key).to_owned()),
        failures: Set(1),
        window_started_at: Set(now),
        locked_until: Set(None),
        locks: Set(0),
        updated_at: Set(now),
    });
    // RETURNING: the rows as this statement left them (a later read could find them deleted by a success).
    Entity::insert_many(first)
        .on_conflict(
            OnConflict::column(Column::Key)
                .value(Column::Failures, failures)
                .value(Column::WindowStartedAt, window_started_at)
                .value(Column::UpdatedAt, Expr::value(now))
                .to_owned(),
        )
        .exec_with_returning(db)
        .await
}

/// What a success owes the counters (`settle_success`): the budget to forget, and the counter that
/// gets its attempt back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuccessSettlement {
    pub forget: String,
    pub give_back: Option<CountedAttempt>,
}

/// One attempt counted on `key` in the window that started at `window_started_at`: what giving it
/// back may lower (that window's count, not a later one's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountedAttempt {
    pub key: String,
    pub window_started_at: DateTime<Utc>,
}

/// After a success, in one statement: forgets `forget` (its count, lock and lock history, as if it had
/// never failed) and takes back the attempt counted on `give_back`. The forgotten row stays, reset,
/// until `purge`: its window starts at the epoch, so the next failure opens a new one, as on a new row.
pub async fn settle_success(
    db: &impl ConnectionTrait,
    success: &SuccessSettlement,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    db.execute(&settle_success_statement(db.get_database_backend(), success, now)).await?;
    Ok(())
}

/// `settle_success`'s UPDATE, for a statement that does it together with more (`users::record_login`).
pub(super) fn settle_success_statement(
    backend: DbBackend,
    success: &SuccessSettlement,
    now: DateTime<Utc>,
) -> UpdateStatement {
    use throttle_counters::{Column, Entity};
    let forget = success.forget.as_str();
    let is_forgotten = || Expr::col((Entity, Column::Key)).eq(forget);
    let mut rows = Condition::any().add(is_forgotten());
    if let Some(give_back) = &success.give_back {
        rows = rows.add(counted_in_its_window(give_back));
    }
    let rows = in_key_order(backend, rows, Waiting::ForLockedRows);
    Query::update()
        .table(Entity)
        .value(
            Column::Failures,
            Expr::case(is_forgotten(), 0).finally(Expr::col((Entity, Column::Failures)).sub(1)),
        )
        .value(Column::Locks, Expr::case(is_forgotten(), 0).finally(Expr::col((Entity, Column::Locks))))
        .value(
            Column::LockedUntil,
            Expr::case(is_forgotten(), Expr::value(None::<DateTime<Utc>>))
                .finally(Expr::col((Entity, Column::LockedUntil))),
        )
        .value(
            Column::WindowStartedAt,
            Expr::case(is_forgotten(), Expr::value(DateTime::<Utc>::UNIX_EPOCH))
                .finally(Expr::col((Entity, Column::WindowStartedAt))),
        )
        .value(Column::UpdatedAt, Expr::value(now))
        .cond_where(rows)
        .to_owned()
}

/// The counters `rows` selects, for a statement that writes several: on Postgres locked first, in
/// key order. An UPDATE locks its rows in the order its plan finds them (a bitmap scan: their place
/// on disk), so a login settling its name and IP and another one counting the same two in key order
/// could each hold the row the other waits for: a deadlock, and one of them a 500. SQLite has no row
/// locks: a writer holds the whole database.
fn in_key_order(backend: DbBackend, rows: Condition, waiting: Waiting) -> Condition {
    use throttle_counters::{Column, Entity};
    if backend != DbBackend::Postgres {
        return rows;
    }
    let mut locked = Query::select();
    locked.column(Column::Key).from(Entity).cond_where(rows).order_by_expr(in_byte_order(), Order::Asc);
    match waiting {
        Waiting::ForLockedRows => locked.lock(LockType::Update),
        Waiting::SkipLockedRows => locked.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked),
    };
    Condition::all().add(Column::Key.in_subquery(locked))
}

/// What `in_key_order` does with a row another transaction holds.
enum Waiting {
    ForLockedRows,
    SkipLockedRows,
}

/// Keys in the order Rust's `str` comparison puts them (the upsert's VALUES are sorted so), whatever
/// the database's collation.
fn in_byte_order() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(r#""key" COLLATE "C""#)
}

/// Takes back one attempt counted on `key` in the window that started at `window_started_at` (it
/// turned out not to be an attempt). Nothing when that window is over.
pub async fn uncount(
    db: &impl ConnectionTrait,
    key: &str,
    window_started_at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let attempt = CountedAttempt { key: key.to_owned(), window_started_at };
    throttle_counters::Entity::update_many()
        .col_expr(throttle_counters::Column::Failures, Expr::col(throttle_counters::Column::Failures).sub(1))
        .filter(counted_in_its_window(&attempt))
        .exec(db)
        .await?;
    Ok(())
}

/// The row `attempt` was counted on, while the window it was counted in lasts and holds a count.
fn counted_in_its_window(attempt: &CountedAttempt) -> Condition {
    use throttle_counters::Column;
    Condition::all()
        .add(Column::Key.eq(attempt.key.as_str()))
        .add(Column::WindowStartedAt.eq(attempt.window_started_at))
        .add(Column::Failures.gt(0))
}

/// Locks `key` until `until` unless it is locked already; true when this call started the lock
/// (so exactly one instance records the lockout). The count starts again after a lock.
pub async fn start_lock(
    db: &impl ConnectionTrait,
    key: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let started = throttle_counters::Entity::update_many()
        .col_expr(throttle_counters::Column::LockedUntil, Expr::value(Some(until)))
        .col_expr(throttle_counters::Column::Locks, Expr::col(throttle_counters::Column::Locks).add(1))
        .col_expr(throttle_counters::Column::Failures, Expr::value(0))
        .col_expr(throttle_counters::Column::WindowStartedAt, Expr::value(now))
        .col_expr(throttle_counters::Column::UpdatedAt, Expr::value(now))
        .filter(throttle_counters::Column::Key.eq(key))
        .filter(no_running_lock(now))
        .exec(db)
        .await?;
    Ok(started.rows_affected == 1)
}

/// Clears a lock that has run out; true when this call cleared it (to record its end once).
pub async fn clear_expired_lock(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let cleared = throttle_counters::Entity::update_many()
        .col_expr(throttle_counters::Column::LockedUntil, Expr::value(None::<DateTime<Utc>>))
        .filter(throttle_counters::Column::Key.eq(key))
        .filter(throttle_counters::Column::LockedUntil.lte(now))
        .exec(db)
        .await?;
    Ok(cleared.rows_affected == 1)
}

/// Deletes counters untouched since `quiet_since` that hold no running lock.
pub async fn purge(
    db: &impl ConnectionTrait,
    quiet_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    use throttle_counters::{Column, Entity};
    let stale = Condition::all().add(Column::UpdatedAt.lt(quiet_since)).add(no_running_lock(now));
    // On Postgres in key order, like every statement that writes several counters, and past any row
    // a login holds right now (it is not stale then, and the next purge will see it).
    let rows = in_key_order(db.get_database_backend(), stale, Waiting::SkipLockedRows);
    let purged = Entity::delete_many().filter(rows).exec(db).await?;
    Ok(purged.rows_affected)
}

/// The counter holds no lock that is still running at `now`.
fn no_running_lock(now: DateTime<Utc>) -> sea_orm::sea_query::SimpleExpr {
    throttle_counters::Column::LockedUntil.is_null().or(throttle_counters::Column::LockedUntil.lte(now))
}
