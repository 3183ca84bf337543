//! SeaORM entities: one module per table, no logic beyond the model and its relations.

pub mod sessions;
pub mod users;
