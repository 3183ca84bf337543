use sea_orm::entity::prelude::*;

/// A user's TOTP: the secret (sealed, never in the clear), whether enrolment is finished, and the last
/// time step a code was accepted for.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "two_factor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// AES-256-GCM ciphertext of the secret (see `auth::two_factor`).
    pub totp_secret: String,
    /// `None` while enrolment waits for a first valid code: TOTP is off.
    pub enabled_at: Option<DateTimeUtc>,
    pub last_used_step: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

// Written by hand so that the sealed secret never reaches a log line.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("two_factor::Model")
            .field("user_id", &self.user_id)
            .field("totp_secret", &"[redacted]")
            .field("enabled_at", &self.enabled_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

/// From a user to their TOTP row (for a login's one look-up of both).
impl Related<Entity> for super::users::Entity {
    fn to() -> RelationDef {
        Relation::User.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
