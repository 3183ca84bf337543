use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    // When the address in `email` was shown to reach its owner (a confirmation or a
                    // reset link opened); NULL until then.
                    .add_column(timestamp_with_time_zone_null(EmailConfirmedAt))
                    .to_owned(),
            )
            .await?;
        // Accounts made before confirmation existed count as confirmed: otherwise turning on
        // REQUIRE_CONFIRMED_EMAIL would lock out everyone whose address has a typo in it, with no
        // way to fix it (Devise's upgrade guide does the same).
        manager
            .exec_stmt(
                Query::update()
                    .table(Users::Table)
                    .value(EmailConfirmedAt, Expr::col(Users::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Users::Table).drop_column(EmailConfirmedAt).to_owned()).await
    }
}

#[derive(DeriveIden)]
struct EmailConfirmedAt;
