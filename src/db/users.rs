//! Queries on `users`.

use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{CommonTableExpression, Expr, ExprTrait as _, Query, UpdateStatement, WithClause, WithQuery},
};

use crate::db::{
    Db, audit_events,
    audit_events::NewEvent,
    throttle::{SuccessSettlement, settle_success, settle_success_statement},
};

pub use entity::users::Model as User;

/// What the user loader needs of a user row (no password hash, no timestamps).
#[derive(Clone, Debug)]
pub struct SessionUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub is_active: bool,
    pub session_epoch: i64,
}

impl From<User> for SessionUser {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role,
            is_active: user.is_active,
            session_epoch: user.session_epoch,
        }
    }
}

/// A row to insert; every field already validated and normalised.
pub struct NewUser {
    pub username: String,
    pub username_key: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    /// True when whoever creates the account vouches for the address (an operator's `create-user`).
    pub email_confirmed: bool,
}

/// The user loader's query: one primary-key read.
pub async fn find_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<User>, sea_orm::DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

/// Finds a user by normalised username key or by lower-cased email, whichever `login_key` is.
pub async fn find_by_login(
    db: &impl ConnectionTrait,
    login_key: &str,
) -> Result<Option<User>, sea_orm::DbErr> {
    users::Entity::find()
        .filter(
            Condition::any()
                .add(users::Column::UsernameKey.eq(login_key))
                .add(users::Column::Email.eq(login_key)),
        )
        .one(db)
        .await
}

pub async fn username_key_taken(db: &impl ConnectionTrait, key: &str) -> Result<bool, sea_orm::DbErr> {
    Ok(users::Entity::find().filter(users::Column::UsernameKey.eq(key)).one(db).await?.is_some())
}

pub async fn email_taken(db: &impl ConnectionTrait, email: &str) -> Result<bool, sea_orm::DbErr> {
    Ok(users::Entity::find().filter(users::Column::Email.eq(email)).one(db).await?.is_some())
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new_user: NewUser,
    now: DateTime<Utc>,
) -> Result<User, sea_orm::DbErr> {
    users::ActiveModel {
        username: Set(new_user.username),
        username_key: Set(new_user.username_key),
        email: Set(new_user.email),
        password_hash: Set(new_user.password_hash),
        role: Set(new_user.role),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
        session_epoch: Set(0),
        email_confirmed_at: Set(new_user.email_confirmed.then_some(now)),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// A completed login: the user's last login time, its security event and, for a password login,
/// the throttle counters' settlement, in one statement on Postgres (the settlement was a statement
/// and a commit of its own before); in one transaction on SQLite, whose WITH cannot hold an UPDATE.
/// All or nothing: a login that cannot be recorded is no login, and its attempt stays counted.
/// The users row is locked before the counters, as in the SQLite transaction: Postgres runs the
/// parts of a WITH in an order of its choosing unless one reads another's result, so the settling
/// waits on `stamped`'s RETURNING. Code that locks counters and then a user in one transaction
/// would have to keep that order to stay free of deadlocks with this statement. The counters among
/// themselves are locked in key order (`throttle::settle_success_statement`).
pub async fn record_login(
    db: &Db,
    id: i64,
    event: NewEvent,
    settle: Option<&SuccessSettlement>,
) -> Result<(), sea_orm::DbErr> {
    let now = event.now;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute(&record_login_statement(id, event, settle)).await?;
        return Ok(());
    }
    let txn = db.begin().await?;
    txn.execute(&stamp_login(id, now)).await?;
    if let Some(success) = settle {
        settle_success(&txn, success, now).await?;
    }
    audit_events::insert(&txn, event).await?;
    txn.commit().await
}

/// `record_login`'s one statement on Postgres.
fn record_login_statement(id: i64, event: NewEvent, settle: Option<&SuccessSettlement>) -> WithQuery {
    let now = event.now;
    let mut with = WithClause::new();
    let stamped = stamp_login(id, now).returning_col(users::Column::Id).to_owned();
    with.cte(CommonTableExpression::new().query(stamped).table_name(STAMPED).to_owned());
    if let Some(success) = settle {
        let after_stamped = Expr::exists(Query::select().expr(Expr::val(1)).from(STAMPED).to_owned());
        let settled =
            settle_success_statement(DbBackend::Postgres, success, now).and_where(after_stamped).to_owned();
        with.cte(CommonTableExpression::new().query(settled).table_name("settled").to_owned());
    }
    audit_events::insert_statement(event).with(with)
}

const STAMPED: &str = "stamped";

fn stamp_login(id: i64, now: DateTime<Utc>) -> UpdateStatement {
    Query::update()
        .table(users::Entity)
        .value(users::Column::LastLoginAt, Expr::value(now))
        .and_where(Expr::col(users::Column::Id).eq(id))
        .to_owned()
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    id: i64,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, sea_orm::sea_query::Expr::value(password_hash))
        .col_expr(users::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A new password that ends every session made before it: the hash and a raised session epoch in
/// one statement. Returns the new epoch, for the one session the caller keeps.
pub async fn change_password_hash(
    db: &impl ConnectionTrait,
    id: i64,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<i64, sea_orm::DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait as _};
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .col_expr(users::Column::SessionEpoch, Expr::col(users::Column::SessionEpoch).add(1))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    let user = find_by_id(db, id).await?;
    user.map(|u| u.session_epoch).ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("user {id}")))
}

/// Raises the session epoch: every session made before this is over on its next request.
pub async fn bump_session_epoch(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait as _};
    users::Entity::update_many()
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .col_expr(users::Column::SessionEpoch, Expr::col(users::Column::SessionEpoch).add(1))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_role(
    db: &impl ConnectionTrait,
    id: i64,
    role: &str,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::Role, sea_orm::sea_query::Expr::value(role))
        .col_expr(users::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The condition "username or email contains `query`", case-insensitively, with `%`, `_` and `\`
/// in the query taken literally. Both columns are stored case-folded.
fn matching(query: Option<&str>) -> sea_orm::Condition {
    use sea_orm::sea_query::LikeExpr;
    let Some(query) = query.map(str::trim).filter(|q| !q.is_empty()) else {
        return sea_orm::Condition::all();
    };
    let escaped: String = query
        .to_lowercase()
        .chars()
        .flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] })
        .collect();
    let pattern = format!("%{escaped}%");
    Condition::any()
        .add(users::Column::UsernameKey.like(LikeExpr::new(pattern.clone()).escape('\\')))
        .add(users::Column::Email.like(LikeExpr::new(pattern).escape('\\')))
}

/// The ids of the active administrators, their rows locked until the transaction ends (`FOR UPDATE`
/// on Postgres; SQLite has one writer at a time anyway), so two administrators demoting each other
/// at once cannot both see "another admin is left".
pub async fn lock_active_admins(db: &impl ConnectionTrait) -> Result<Vec<i64>, sea_orm::DbErr> {
    use sea_orm::{QuerySelect, sea_query::LockType};
    let mut select = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Role.eq("admin"))
        .filter(users::Column::IsActive.eq(true));
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        select = select.lock(LockType::Update);
    }
    select.into_tuple().all(db).await
}

/// One page of the users whose name or email contains `query`, newest first.
pub async fn search(
    db: &impl ConnectionTrait,
    query: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Vec<User>, sea_orm::DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    users::Entity::find()
        .filter(matching(query))
        .order_by_desc(users::Column::CreatedAt)
        .order_by_desc(users::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await
}

/// How many users `search` would find in all.
pub async fn count_matching(db: &impl ConnectionTrait, query: Option<&str>) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::PaginatorTrait;
    users::Entity::find().filter(matching(query)).count(db).await
}

pub async fn set_active(
    db: &impl ConnectionTrait,
    id: i64,
    is_active: bool,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::IsActive, sea_orm::sea_query::Expr::value(is_active))
        .col_expr(users::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), sea_orm::DbErr> {
    users::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Makes `email` the account's address, confirmed now: the link mailed to it was opened.
pub async fn set_confirmed_email(
    db: &impl ConnectionTrait,
    id: i64,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::Email, sea_orm::sea_query::Expr::value(email))
        .col_expr(users::Column::EmailConfirmedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(users::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks the account's current address confirmed, unless it already is (the first time counts).
pub async fn confirm_email(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::EmailConfirmedAt, sea_orm::sea_query::Expr::value(now))
        .filter(users::Column::Id.eq(id))
        .filter(users::Column::EmailConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<User>, sea_orm::DbErr> {
    users::Entity::find().filter(users::Column::Email.eq(email)).one(db).await
}

/// What the dashboard shows beyond the user the loader already has, read in one statement: whether
/// the address is confirmed, how many sessions are live, and the sign-in before this session began.
#[derive(Debug, sea_orm::FromQueryResult)]
pub struct Overview {
    pub email_confirmed_at: Option<DateTime<Utc>>,
    pub live_sessions: i64,
    pub previous_sign_in_at: Option<DateTime<Utc>>,
    pub previous_sign_in_ip: Option<String>,
    pub previous_sign_in_user_agent: Option<String>,
}

/// `sign_in_kinds` are the audit event kinds that start a session; `this_session` is the public id
/// of the session asking. Its own sign-in is the last such event recorded before its row was written
/// (the handler records it, then the session is saved), so "previous" is the one before that.
pub async fn overview(
    db: &impl ConnectionTrait,
    id: i64,
    this_session: &str,
    sign_in_kinds: [&str; 2],
    now: DateTime<Utc>,
) -> Result<Option<Overview>, sea_orm::DbErr> {
    use sea_orm::{QuerySelect, sea_query::Expr};
    // Custom SQL takes the backend's own placeholders: `?` in order for SQLite, `$n` for Postgres.
    let backend = db.get_database_backend();
    let placeholders = |sql: &str| {
        if backend != sea_orm::DbBackend::Postgres {
            return sql.to_owned();
        }
        let mut numbered = String::with_capacity(sql.len() + 8);
        for (n, piece) in sql.split('?').enumerate() {
            if n > 0 {
                numbered.push_str(&format!("${n}"));
            }
            numbered.push_str(piece);
        }
        numbered
    };
    // Scalar subqueries keep this page at one statement more than any other logged-in page.
    let previous = |column: &str| {
        let sql = format!(
            "(SELECT e.{column} FROM audit_events e WHERE e.user_id = users.id AND e.kind IN (?, ?) \
             AND e.created_at <= COALESCE((SELECT s.created_at FROM sessions s WHERE s.public_id = ?), ?) \
             ORDER BY e.created_at DESC, e.id DESC LIMIT 1 OFFSET 1)"
        );
        Expr::cust_with_values(
            placeholders(&sql),
            [
                sea_orm::Value::from(sign_in_kinds[0]),
                sign_in_kinds[1].into(),
                this_session.into(),
                now.into(),
            ],
        )
    };
    let live_sessions = "(SELECT COUNT(*) FROM sessions s WHERE s.user_id = users.id AND s.expires_at > ?)";
    users::Entity::find_by_id(id)
        .select_only()
        .column(users::Column::EmailConfirmedAt)
        .expr_as(Expr::cust_with_values(placeholders(live_sessions), [now]), "live_sessions")
        .expr_as(previous("created_at"), "previous_sign_in_at")
        .expr_as(previous("ip"), "previous_sign_in_ip")
        .expr_as(previous("user_agent"), "previous_sign_in_user_agent")
        .into_model::<Overview>()
        .one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::throttle::CountedAttempt;
    use sea_orm::sea_query::PostgresQueryBuilder;

    fn login_event() -> NewEvent {
        NewEvent {
            user_id: Some(7),
            kind: "login",
            ip: None,
            user_agent: None,
            request_id: None,
            detail: None,
            now: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_password_login_is_recorded_in_one_statement_that_settles_only_after_stamping_the_user() {
        let success = SuccessSettlement {
            forget: "login-name:alice".to_owned(),
            give_back: Some(CountedAttempt {
                key: "login-ip:192.0.2.1".to_owned(),
                window_started_at: DateTime::<Utc>::UNIX_EPOCH,
            }),
        };
        let sql = record_login_statement(7, login_event(), Some(&success)).to_string(PostgresQueryBuilder);

        let stamped = sql.find(r#""stamped" AS (UPDATE "users""#).expect(&sql);
        let settled = sql.find(r#""settled" AS (UPDATE "throttle_counters""#).expect(&sql);
        let event = sql.find(r#"INSERT INTO "audit_events""#).expect(&sql);
        assert!(sql.starts_with("WITH ") && stamped < settled && settled < event, "{sql}");
        assert!(sql[stamped..settled].contains(r#"RETURNING "id""#), "{sql}");
        let settling = &sql[settled..event];
        assert!(settling.contains(r#"EXISTS(SELECT 1 FROM "stamped")"#), "{sql}");
        assert!(settling.contains(r#"ORDER BY "key" COLLATE "C" ASC FOR UPDATE"#), "{sql}");
        // The IP's attempt is given back to the window it was counted in, and no other.
        assert!(settling.contains(r#""window_started_at" = '1970-01-01"#), "{sql}");
    }

    #[test]
    fn a_login_by_second_factor_or_passkey_settles_nothing() {
        let sql = record_login_statement(7, login_event(), None).to_string(PostgresQueryBuilder);
        assert!(sql.contains(r#"UPDATE "users""#) && sql.contains(r#"INSERT INTO "audit_events""#), "{sql}");
        assert!(!sql.contains("throttle_counters"), "{sql}");
    }
}
