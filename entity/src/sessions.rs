use sea_orm::entity::prelude::*;

/// A server-side session: the cookie holds only a random key, this row holds the state under the key's hash.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Hex SHA-256 of the session key in the cookie.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// A random id shown in revoke URLs; unrelated to the key.
    #[sea_orm(unique)]
    pub public_id: String,
    /// The logged-in user; `None` for an anonymous session (it holds only a CSRF token).
    pub user_id: Option<i64>,
    /// The session's key/value state as a JSON object.
    #[sea_orm(column_type = "Text")]
    pub state: String,
    pub remember: bool,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

// The state holds the CSRF token: keep it out of logs.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("sessions::Model")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
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

impl ActiveModelBehavior for ActiveModel {}
