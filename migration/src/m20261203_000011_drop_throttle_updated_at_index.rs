//! Drops the index on `throttle_counters.updated_at`. Every login writes its client IP's counter
//! twice (counted before the password check, given back after a success), and each write sets
//! `updated_at`: with that column indexed, Postgres could never update the row in place (a HOT
//! update), so a login storm from one address left a dead row version and two index entries per
//! write until autovacuum came by (3,558 dead versions of ~40 live rows after one benchmark run).
//! The only reader of the index was the hourly purge, which can scan this small table instead.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "idx_throttle_counters_updated_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(INDEX).table(ThrottleCounters::Table).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ThrottleCounters::Table)
                    .col(ThrottleCounters::UpdatedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ThrottleCounters {
    Table,
    UpdatedAt,
}
