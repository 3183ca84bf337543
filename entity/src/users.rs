use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As the user typed it; shown on pages.
    pub username: String,
    /// The case-folded username that uniqueness and login look-ups use.
    #[sea_orm(unique)]
    pub username_key: String,
    /// Stored lower-case.
    #[sea_orm(unique)]
    pub email: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: String,
    pub is_active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
    /// Raised by every credential change: a session that recorded an older epoch is over, even one
    /// a racing request created after the change.
    pub session_epoch: i64,
    /// When `email` was shown to reach its owner (a confirmation or reset link opened); `None` until then.
    pub email_confirmed_at: Option<DateTimeUtc>,
}

// Written by hand so that the password hash can never reach a log line through `{:?}`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("users::Model")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .field("email_confirmed_at", &self.email_confirmed_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
    #[sea_orm(has_many = "super::password_reset_tokens::Entity")]
    PasswordResetTokens,
    #[sea_orm(has_many = "super::audit_events::Entity")]
    AuditEvents,
    #[sea_orm(has_many = "super::email_confirmation_tokens::Entity")]
    EmailConfirmationTokens,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
