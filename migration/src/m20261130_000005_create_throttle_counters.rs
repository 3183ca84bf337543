use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ThrottleCounters::Table)
                    .if_not_exists()
                    // What is counted: `login-name:<name>`, `login-ip:<ip>`, `reset-mail:<email>`, …
                    .col(string_len(ThrottleCounters::Key, 320).primary_key())
                    .col(integer(ThrottleCounters::Failures))
                    .col(timestamp_with_time_zone(ThrottleCounters::WindowStartedAt))
                    .col(timestamp_with_time_zone_null(ThrottleCounters::LockedUntil))
                    // How many locks in a row: each doubles the next, up to the maximum.
                    .col(integer(ThrottleCounters::Locks))
                    .col(timestamp_with_time_zone(ThrottleCounters::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_throttle_counters_updated_at")
                    .table(ThrottleCounters::Table)
                    .col(ThrottleCounters::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ThrottleCounters::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ThrottleCounters {
    Table,
    Key,
    Failures,
    WindowStartedAt,
    LockedUntil,
    Locks,
    UpdatedAt,
}
