//! SeaORM entities: one module per table, no logic beyond the model and its relations.

pub mod audit_events;
pub mod email_confirmation_tokens;
pub mod passkey_challenges;
pub mod passkeys;
pub mod password_reset_tokens;
pub mod recovery_codes;
pub mod sessions;
pub mod throttle_counters;
pub mod two_factor;
pub mod users;
