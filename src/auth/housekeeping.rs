//! What expires is deleted: sessions past their lifetime, throttle counters nobody has touched for a
//! while, reset and email confirmation tokens that are spent or expired, and spent passkey challenges. `serve` runs it every few minutes.

use crate::db::Db;
use sea_orm::DbErr;

use super::{session_store::SessionPolicy, throttle};
use crate::{
    clock::Clock,
    config::Limits,
    db::{
        self, email_confirmation_tokens::ConfirmationTokens, link_tokens, password_reset_tokens::ResetTokens,
    },
};

/// How many rows of each kind one pass deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub throttle_counters: u64,
    pub reset_tokens: u64,
    pub confirmation_tokens: u64,
    pub passkey_challenges: u64,
}

pub async fn purge_expired(
    db: &Db,
    clock: &Clock,
    policy: &SessionPolicy,
    limits: &Limits,
) -> Result<Purged, DbErr> {
    let now = clock.now();
    let idle_cutoff = now - chrono::Duration::from_std(policy.idle_timeout).unwrap_or_default();
    Ok(Purged {
        sessions: db::sessions::purge_expired(db, now, idle_cutoff).await?,
        throttle_counters: throttle::purge(db, limits, now).await?,
        reset_tokens: link_tokens::purge_spent::<ResetTokens>(db, now).await?,
        confirmation_tokens: link_tokens::purge_spent::<ConfirmationTokens>(db, now).await?,
        passkey_challenges: db::passkeys::purge_expired_challenges(db, now).await?,
    })
}
