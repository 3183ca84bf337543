use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_users::Users;

/// TOTP (one row per user that has started or finished enrolment) and its recovery codes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TwoFactor::Table)
                    .if_not_exists()
                    .col(big_integer(TwoFactor::UserId).primary_key())
                    // The TOTP secret sealed with AES-256-GCM under a key derived from SESSION_SECRET.
                    .col(string_len(TwoFactor::TotpSecret, 255))
                    // NULL while enrolment waits for the first valid code: TOTP is off until then.
                    .col(timestamp_with_time_zone_null(TwoFactor::EnabledAt))
                    // The last 30-second step a code was accepted for: that step and earlier ones are
                    // refused, so each code works once.
                    .col(big_integer_null(TwoFactor::LastUsedStep))
                    .col(timestamp_with_time_zone(TwoFactor::CreatedAt))
                    .col(timestamp_with_time_zone(TwoFactor::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_two_factor_user_id")
                            .from(TwoFactor::Table, TwoFactor::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RecoveryCodes::Id))
                    .col(big_integer(RecoveryCodes::UserId))
                    // SHA-256 of the code (80 random bits); the code itself is shown once, never stored.
                    .col(string_len(RecoveryCodes::CodeHash, 64))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_codes_user_id")
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user_id_code_hash")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .col(RecoveryCodes::CodeHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RecoveryCodes::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TwoFactor::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum TwoFactor {
    Table,
    UserId,
    TotpSecret,
    EnabledAt,
    LastUsedStep,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}
