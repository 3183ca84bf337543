use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EmailConfirmationTokens::Table)
                    .if_not_exists()
                    .col(big_pk_auto(EmailConfirmationTokens::Id))
                    .col(big_integer(EmailConfirmationTokens::UserId))
                    // The address the link was mailed to: the account's own (confirming it) or a
                    // new one (the change waits here until the link is opened).
                    .col(string_len(EmailConfirmationTokens::Email, 320))
                    // SHA-256 of the token in the emailed link; the token itself is never stored.
                    .col(string_len_uniq(EmailConfirmationTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(EmailConfirmationTokens::CreatedAt))
                    .col(timestamp_with_time_zone(EmailConfirmationTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(EmailConfirmationTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_confirmation_tokens_user_id")
                            .from(EmailConfirmationTokens::Table, EmailConfirmationTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_confirmation_tokens_user_id")
                    .table(EmailConfirmationTokens::Table)
                    .col(EmailConfirmationTokens::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(EmailConfirmationTokens::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum EmailConfirmationTokens {
    Table,
    Id,
    UserId,
    Email,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
