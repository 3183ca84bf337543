//! The app factory: the one place the `App` is wired. `serve` and every test build it through `app`.

use std::time::Duration;

use actix_web::{
    App, HttpServer,
    body::MessageBody,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    error::UrlencodedError,
    middleware::from_fn,
    web,
};
use anyhow::Context as _;
use migration::{Migrator, MigratorTrait as _};

use sea_orm::TransactionTrait as _;

use crate::{
    auth::housekeeping::{self, Purged},
    clock::Clock,
    config::Settings,
    db,
    db::Db,
    routes,
    web::{
        AppError, AppState, csrf, current_user, error_pages, flash, rekey, remember, request_log,
        request_shape, security_headers, session,
    },
};

/// Builds the whole application. Middleware order, outermost first: request id and access log, error
/// pages, security headers, remember-me cookie lifetime, re-sealing of cookies from a previous
/// secret, session, identity, flash, user loader, CSRF,
/// request shape (NUL refused, HEAD as GET), then the routes.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let session = session::session_middleware(&state);
    let form_limit = state.settings.form_limit_bytes;

    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::FormConfig::default().limit(form_limit).error_handler(|error, _| match error {
            UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge.into(),
            _ => AppError::BadRequest.into(),
        }))
        .app_data(web::QueryConfig::default().error_handler(|_, _| AppError::BadRequest.into()))
        .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
        .configure(routes::configure)
        .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(AppError::NotFound) }))
        .wrap(from_fn(request_shape::middleware))
        .wrap(from_fn(csrf::middleware))
        .wrap(from_fn(current_user::middleware))
        .wrap(from_fn(flash::middleware))
        .wrap(from_fn(remember::mark))
        .wrap(session::identity_middleware())
        .wrap(session)
        .wrap(from_fn(rekey::middleware))
        .wrap(from_fn(remember::extend_cookie))
        .wrap(from_fn(security_headers::middleware))
        .wrap(from_fn(error_pages::middleware))
        .wrap(from_fn(request_log::middleware))
}

/// Opens the pool as the settings say.
pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    db::connect_sized(&settings.database_url, settings.statement_cache, settings.pool_size)
        .await
        .with_context(|| format!("connecting to the database ({})", database_kind(&settings.database_url)))
}

/// Connects and brings the schema up to date: what `migrate` and the tests do first.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<Db> {
    let db = connect(settings).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Brings the schema up to date.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    if db.is_pinned() {
        // Behind a transaction-pooling proxy the migrations' statements must share one transaction.
        let txn = db.begin().await.context("beginning the migration transaction")?;
        Migrator::up(&txn, None).await.context("applying migrations")?;
        txn.commit().await.context("committing the migrations")?;
    } else {
        Migrator::up(db.pool(), None).await.context("applying migrations")?;
    }
    Ok(())
}

/// How many migrations the database is behind the code.
async fn pending_migrations(db: &Db) -> Result<usize, sea_orm::DbErr> {
    if !db.is_pinned() {
        return Ok(Migrator::get_pending_migrations(db.pool()).await?.len());
    }
    let txn = db.begin().await?;
    let pending = Migrator::get_pending_migrations(&txn).await?.len();
    txn.commit().await?;
    Ok(pending)
}

/// `gatehouse serve`: migrate (unless `MIGRATE_ON_START=false`), then serve until stopped.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    warn_about_risky_settings(&settings);
    return_hashing_memory_to_the_system();
    crate::auth::policy::load_lists();
    release_free_heap_memory();
    let db = if settings.migrate_on_start {
        connect_and_migrate(&settings).await?
    } else {
        let db = connect(&settings).await?;
        // Migrations run elsewhere; a schema behind the code is worth a loud line, not a refusal.
        match pending_migrations(&db).await {
            Ok(pending) if pending > 0 => log::warn!(
                "MIGRATE_ON_START=false and {} migration(s) are pending: run `gatehouse migrate`",
                pending
            ),
            Ok(_) => {}
            Err(error) => log::warn!("could not check for pending migrations: {error}"),
        }
        db
    };
    let state = AppState::new(settings.clone(), db, Clock::default())?;
    spawn_purges(&state);
    let server = HttpServer::new({
        let state = state.clone();
        move || app(state.clone())
    })
    .bind(&settings.bind_addr)
    .with_context(|| format!("binding {}", settings.bind_addr))?;
    log::info!(
        "Gatehouse is serving on http://{} ({}): open {}/",
        settings.bind_addr,
        database_kind(&settings.database_url),
        settings.public_origin
    );
    release_start_up_code();
    server.run().await.context("running the HTTP server")
}

/// Every page of the binary that ever ran stays resident, and start-up runs much that never runs again
/// (the migrations, the templates' parser, the command line, zxcvbn's dictionary building). Once
/// start-up is done, the binary's read-only mappings are dropped from this process; what serving runs
/// comes back by minor faults from the page cache, and only that stays. The kernel maps 64 KiB around
/// each such fault, so most comes back all the same: on the benchmark's machine 11.4 MiB were dropped,
/// and after 10 s of page views and of logins on 32 connections the binary held 11.4 MiB instead of 12.8, and the peak was 62.9–63.1
/// MiB instead of 64.0–64.4, whose target is under 64 (bench/README.md).
fn release_start_up_code() {
    #[cfg(target_os = "linux")]
    match drop_read_only_pages_of_this_binary() {
        Ok(bytes) => log::debug!("released {} KiB of start-up code and data", bytes / 1024),
        Err(error) => log::debug!("could not release start-up code: {error}"),
    }
}

/// Drops the resident pages of this executable's mappings that hold nothing but the file's own
/// contents: not writable, and no page copied on write (the RELRO segment, relocated at load, is
/// read-only but has such copies, and dropping those would undo the relocation). For such a mapping
/// `MADV_DONTNEED` changes nothing but residency: a later access reads the same bytes back from the
/// file, which the kernel keeps from being written while it runs (`ETXTBSY`). Returns the bytes that
/// were resident in the dropped mappings.
#[cfg(target_os = "linux")]
fn drop_read_only_pages_of_this_binary() -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let inode = std::fs::metadata("/proc/self/exe")?.ino();
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = 0;
    for mapping in read_only_file_mappings(&smaps, inode) {
        // SAFETY: the range is a whole mapping of this process, read-only and without private copies,
        // so discarding its pages discards nothing that cannot be read back unchanged from the file.
        if unsafe { libc::madvise(mapping.start as *mut libc::c_void, mapping.len, libc::MADV_DONTNEED) } == 0
        {
            released += mapping.resident_bytes;
        }
    }
    Ok(released)
}

#[cfg(target_os = "linux")]
#[derive(Debug, PartialEq)]
struct Mapping {
    start: usize,
    len: usize,
    resident_bytes: u64,
}

/// The mappings of the file with `inode` in `/proc/self/smaps` text that are not writable and hold
/// no anonymous (copied-on-write) page.
#[cfg(target_os = "linux")]
fn read_only_file_mappings(smaps: &str, inode: u64) -> Vec<Mapping> {
    struct Entry {
        start: usize,
        len: usize,
        ours: bool,
        rss_kb: Option<u64>,
        anonymous_kb: Option<u64>,
    }
    let mut found = Vec::new();
    let mut current: Option<Entry> = None;
    let mut finish = |entry: Option<Entry>| {
        if let Some(Entry { start, len, ours: true, rss_kb: Some(rss), anonymous_kb: Some(0) }) = entry {
            found.push(Mapping { start, len, resident_bytes: rss * 1024 });
        }
    };
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let header = fields.first().and_then(|range| range.split_once('-')).and_then(|(start, end)| {
            Some((usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?))
        });
        match (header, fields.as_slice()) {
            (Some((start, end)), [_, perms, _, _, mapped_inode, ..]) if end > start => {
                finish(current.take());
                let ours = mapped_inode.parse::<u64>().ok() == Some(inode)
                    && perms.starts_with('r')
                    && !perms.contains('w');
                current = Some(Entry { start, len: end - start, ours, rss_kb: None, anonymous_kb: None });
            }
            (_, ["Rss:", kb, "kB"]) => {
                if let Some(entry) = current.as_mut() {
                    entry.rss_kb = kb.parse().ok();
                }
            }
            (_, ["Anonymous:", kb, "kB"]) => {
                if let Some(entry) = current.as_mut() {
                    entry.anonymous_kb = kb.parse().ok();
                }
            }
            _ => {}
        }
    }
    finish(current);
    found
}

/// Each argon2 hash takes 19 MiB. Hashing threads keep theirs while logins keep coming and free it
/// after a quiet spell (`auth::password`). glibc's malloc raises its mmap threshold after the first
/// such block is freed and from then on keeps these blocks in per-thread heaps, so a freed block
/// would stay resident. A fixed threshold and two arenas keep big blocks in `mmap`, handed back to
/// the system when freed: resident memory stays near what is in use (issue 4's 64 MiB).
fn return_hashing_memory_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only adjusts allocator parameters; it is called before the workers start.
        let (threshold, arenas) = unsafe {
            (libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024), libc::mallopt(libc::M_ARENA_MAX, 2))
        };
        if threshold != 1 || arenas != 1 {
            log::debug!("the allocator refused a tuning parameter; memory use may be higher");
        }
    }
}

/// Building zxcvbn's dictionaries (about 100,000 words in hash maps that double as they fill) leaves as
/// much memory free inside the heap as the maps hold, and glibc keeps it resident. `malloc_trim`
/// returns those pages: about 3 MiB of peak resident memory (bench/RESULTS.md).
fn release_free_heap_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases free memory back to the system; nothing in use moves.
        unsafe { libc::malloc_trim(0) };
    }
}

fn warn_about_risky_settings(settings: &Settings) {
    if settings.smtp_url.is_none() {
        let level = if settings.production { log::Level::Warn } else { log::Level::Info };
        log::log!(
            level,
            "SMTP_URL is not set: emails, password reset links included, are written to this log"
        );
    }
    if settings.allowed_origins.len() > 1 && !settings.bind_addr.starts_with("127.") {
        log::warn!(
            "PUBLIC_URL is not set: forms are accepted only from {}. Set PUBLIC_URL to the address users open.",
            settings.allowed_origins.join(", ")
        );
    }
}

/// Deletes expired sessions, throttle counters and reset tokens every few minutes, so nothing piles up.
fn spawn_purges(state: &AppState) {
    let (db, clock, policy, limits) =
        (state.db.clone(), state.clock.clone(), state.session_policy(), state.settings.throttle);
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(Duration::from_secs(600));
        loop {
            interval.tick().await;
            match housekeeping::purge_expired(&db, &clock, &policy, &limits).await {
                Ok(purged) if purged == Purged::default() => {}
                Ok(purged) => log::info!("purged expired rows: {purged:?}"),
                Err(error) => log::warn!("could not purge expired rows: {error}"),
            }
        }
    });
}

fn database_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "PostgreSQL"
    } else if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "unknown database"
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d000000000-55d000100000 r--p 00000000 fd:01 4242 /srv/gatehouse
Rss:                 512 kB
Anonymous:             0 kB
55d000100000-55d000900000 r-xp 00100000 fd:01 4242 /srv/gatehouse
Rss:                6000 kB
Anonymous:             0 kB
55d000900000-55d000a00000 r--p 00900000 fd:01 4242 /srv/gatehouse
Rss:                 300 kB
Anonymous:            40 kB
55d000a00000-55d000a10000 rw-p 00a00000 fd:01 4242 /srv/gatehouse
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 777 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1000 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0
Rss:                1024 kB
Anonymous:          1024 kB
";

    #[test]
    fn only_read_only_mappings_of_the_binary_without_private_copies_are_dropped() {
        let found = read_only_file_mappings(SMAPS, 4242);
        assert_eq!(
            found,
            vec![
                Mapping { start: 0x55d0_0000_0000, len: 0x10_0000, resident_bytes: 512 * 1024 },
                Mapping { start: 0x55d0_0010_0000, len: 0x80_0000, resident_bytes: 6000 * 1024 },
            ],
            "not the relocated read-only part, the data, another file, or anonymous memory"
        );
        assert!(read_only_file_mappings(SMAPS, 1).is_empty());
    }

    /// Bytes of this test binary's read-only mappings resident now.
    fn resident_binary_bytes() -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        let inode = std::fs::metadata("/proc/self/exe").unwrap().ino();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        read_only_file_mappings(&smaps, inode).iter().map(|m| m.resident_bytes).sum()
    }

    #[test]
    fn dropping_the_binarys_pages_lowers_residency_and_the_code_runs_on() {
        let before = resident_binary_bytes();
        assert!(before > 0, "a running binary has resident code");
        let released = drop_read_only_pages_of_this_binary().unwrap();
        assert!(released > 0);
        let after = resident_binary_bytes();
        assert!(after < before, "resident {before} bytes before, {after} after");
        // The code and constants read back from the file are the same.
        assert_eq!(crate::tokens::sha256_hex("abc").len(), 64);
        assert_eq!(format!("{:?}", Some(42)), "Some(42)");
    }
}
