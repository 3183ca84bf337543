//! Queries on `audit_events`.

use chrono::{DateTime, Utc};
use entity::audit_events;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, sea_query::InsertStatement,
};

pub use entity::audit_events::Model as AuditEvent;

pub struct NewEvent {
    pub user_id: Option<i64>,
    pub kind: &'static str,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    pub now: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, event: NewEvent) -> Result<(), sea_orm::DbErr> {
    db.execute(&insert_statement(event)).await?;
    Ok(())
}

/// `insert`'s statement, for one that does it together with more (`users::record_login`).
pub(super) fn insert_statement(event: NewEvent) -> InsertStatement {
    audit_events::Entity::insert(audit_events::ActiveModel {
        user_id: Set(event.user_id),
        kind: Set(event.kind.to_owned()),
        ip: Set(event.ip),
        user_agent: Set(event.user_agent),
        request_id: Set(event.request_id),
        detail: Set(event.detail),
        created_at: Set(event.now),
        ..Default::default()
    })
    .into_query()
}

/// A user's most recent events, newest first.
pub async fn recent_for_user(
    db: &impl ConnectionTrait,
    user_id: i64,
    limit: u64,
) -> Result<Vec<AuditEvent>, sea_orm::DbErr> {
    audit_events::Entity::find()
        .filter(audit_events::Column::UserId.eq(user_id))
        .order_by_desc(audit_events::Column::CreatedAt)
        .order_by_desc(audit_events::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
