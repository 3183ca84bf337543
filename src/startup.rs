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
        AppError, AppState, csrf, current_user, error_pages, flash, remember, request_log, request_shape,
        security_headers, session, session_cookie,
    },
};

/// Builds the whole application. Middleware order, outermost first: request id and access log, error
/// pages, security headers, remember-me cookie lifetime, the session cookie's own layer (re-sealing
/// one from a previous secret, removing one whose session is over), session, identity, flash, user loader, CSRF,
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
        .wrap(from_fn(session_cookie::middleware))
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

/// Connects, and migrates unless `MIGRATE_ON_START=false`: what `serve` and every command but
/// `migrate` do first. A maintenance command must not run DDL through a pooled connection either.
pub async fn connect_as_configured(settings: &Settings) -> anyhow::Result<Db> {
    if settings.migrate_on_start {
        return connect_and_migrate(settings).await;
    }
    let db = connect(settings).await?;
    // Migrations run elsewhere; a schema behind the code is worth a loud line, not a refusal.
    match pending_migrations(&db).await {
        Ok(pending) if pending > 0 => log::warn!(
            "MIGRATE_ON_START=false and {} migration(s) are pending: run `gatehouse migrate`",
            pending
        ),
        Ok(_) => {}
        Err(error) => log::warn!("could not check for pending migrations: {error}"),
    }
    Ok(db)
}

/// How many migrations the database is behind the code, without creating the migrations table
/// (the plain check does: DDL, which a role without DDL rights, or a pooled connection, must not run).
async fn pending_migrations(db: &Db) -> Result<usize, sea_orm::DbErr> {
    if !db.is_pinned() {
        return Ok(Migrator::get_pending_migrations_read_only(db.pool()).await?.len());
    }
    let txn = db.begin().await?;
    let pending = Migrator::get_pending_migrations_read_only(&txn).await?.len();
    txn.commit().await?;
    Ok(pending)
}

/// `gatehouse serve`: migrate (unless `MIGRATE_ON_START=false`), then serve until stopped.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    warn_about_risky_settings(&settings);
    return_hashing_memory_to_the_system();
    crate::auth::policy::load_lists();
    release_free_heap_memory();
    let db = connect_as_configured(&settings).await?;
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
        Ok(bytes) => {
            log::debug!("dropped the resident pages of {} KiB of read-only code and data", bytes / 1024)
        }
        Err(error) => log::debug!("could not release start-up code: {error}"),
    }
}

/// Drops the resident pages of this executable's segments that hold nothing but the file's own
/// contents: the loaded segments that are not writable, found with `dl_iterate_phdr` (so only the
/// program's permanent mappings, never a passing mapping of the same file), less any page they share
/// with another segment, less the part that is made read-only after relocation (`PT_GNU_RELRO`), and
/// none at all if the program has text relocations. Nothing ever writes those pages, so there is no
/// private copy to lose: `MADV_DONTNEED` changes only residency, and a later access reads the same
/// bytes back from the file. Returns the bytes of the ranges dropped.
#[cfg(target_os = "linux")]
fn drop_read_only_pages_of_this_binary() -> Result<usize, &'static str> {
    let program = this_program()?;
    // SAFETY: sysconf only reads its argument.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).map_err(|_| "no page size")?;
    let mut dropped = 0;
    for range in droppable_ranges(&program, page) {
        // SAFETY: the range lies inside one of this program's own loaded, never-written segments
        // (see above), so discarding its pages discards nothing that cannot be read back unchanged.
        if unsafe { libc::madvise(range.start as *mut libc::c_void, range.len, libc::MADV_DONTNEED) } == 0 {
            dropped += range.len;
        }
    }
    Ok(dropped)
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PF_W: u32 = 2;
const DT_NULL: i64 = 0;
const DT_TEXTREL: i64 = 22;
const DT_FLAGS: i64 = 30;
const DF_TEXTREL: u64 = 4;

/// One program header of the running program, at its load address.
#[derive(Clone, Copy, Debug)]
struct Segment {
    kind: u32,
    flags: u32,
    start: usize,
    len: usize,
}

#[derive(Debug, Default)]
struct Program {
    segments: Vec<Segment>,
    text_relocations: bool,
}

#[derive(Debug, PartialEq)]
struct Range {
    start: usize,
    len: usize,
}

/// The whole pages inside the program's loaded read-only segments, away from its RELRO part.
fn droppable_ranges(program: &Program, page: usize) -> Vec<Range> {
    if program.text_relocations || page == 0 {
        return Vec::new();
    }
    let end_of = |segment: &Segment| segment.start.saturating_add(segment.len);
    let relro: Vec<&Segment> = program.segments.iter().filter(|s| s.kind == PT_GNU_RELRO).collect();
    program
        .segments
        .iter()
        .filter(|s| s.kind == PT_LOAD && s.flags & PF_W == 0)
        .filter(|s| !relro.iter().any(|r| r.start < end_of(s) && s.start < end_of(r)))
        .filter_map(|s| {
            let start = s.start.checked_next_multiple_of(page)?;
            let end = end_of(s) / page * page;
            (end > start).then(|| Range { start, len: end - start })
        })
        .collect()
}

/// The running program's own program headers (the first object `dl_iterate_phdr` reports).
#[cfg(target_os = "linux")]
fn this_program() -> Result<Program, &'static str> {
    unsafe extern "C" fn first_object(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `info` for the duration of the call, and `data` is the
        // `Program` handed to `dl_iterate_phdr` below, borrowed by nothing else meanwhile.
        let (info, program) = unsafe { (&*info, &mut *data.cast::<Program>()) };
        let headers = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers of the loaded object.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        let base = info.dlpi_addr as usize;
        for header in headers {
            let start = base.wrapping_add(header.p_vaddr as usize);
            let segment =
                Segment { kind: header.p_type, flags: header.p_flags, start, len: header.p_memsz as usize };
            program.segments.push(segment);
            if header.p_type == PT_DYNAMIC {
                // SAFETY: PT_DYNAMIC is the loaded dynamic section, an array of (tag, value) pairs
                // ending with DT_NULL, mapped for as long as the program runs.
                let mut entry = start as *const [u64; 2];
                loop {
                    let [tag, value] = unsafe { *entry };
                    let tag = tag as i64;
                    if tag == DT_NULL {
                        break;
                    }
                    if tag == DT_TEXTREL || (tag == DT_FLAGS && value & DF_TEXTREL != 0) {
                        program.text_relocations = true;
                    }
                    entry = unsafe { entry.add(1) };
                }
            }
        }
        1 // the first object is the program itself: stop there
    }
    let mut program = Program::default();
    // SAFETY: the callback only reads what the loader hands it and writes to `program`.
    unsafe { libc::dl_iterate_phdr(Some(first_object), (&raw mut program).cast()) };
    if program.segments.is_empty() { Err("no program headers") } else { Ok(program) }
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

    fn segment(kind: u32, flags: u32, start: usize, len: usize) -> Segment {
        Segment { kind, flags, start, len }
    }

    #[test]
    fn only_whole_pages_of_read_only_segments_away_from_relro_are_dropped() {
        const R: u32 = 4;
        const X: u32 = 1;
        let program = Program {
            segments: vec![
                segment(PT_LOAD, R, 0x1000, 0x3800),      // headers, rodata: 0x1000..0x4800
                segment(PT_LOAD, R | X, 0x5800, 0x10000), // text, sharing no page: 0x6000..0x15000
                segment(PT_LOAD, R, 0x20000, 0x800),      // less than a page: nothing
                segment(PT_LOAD, R, 0x30000, 0x4000),     // relocated, then read-only
                segment(PT_GNU_RELRO, R, 0x31000, 0x1000),
                segment(PT_LOAD, R | PF_W, 0x40000, 0x4000), // data: never
                segment(PT_DYNAMIC, R | PF_W, 0x40000, 0x200),
            ],
            text_relocations: false,
        };
        assert_eq!(
            droppable_ranges(&program, 0x1000),
            vec![Range { start: 0x1000, len: 0x3000 }, Range { start: 0x6000, len: 0xf000 }]
        );
        let patched = Program { text_relocations: true, ..program };
        assert!(droppable_ranges(&patched, 0x1000).is_empty(), "text relocations: nothing at all");
    }

    /// Bytes of this test binary's read-only mappings resident now (from /proc/self/smaps).
    fn resident_binary_bytes() -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        let inode = std::fs::metadata("/proc/self/exe").unwrap().ino().to_string();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut ours = false;
        let mut total = 0;
        for line in smaps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["Rss:", kb, "kB"] if ours => total += kb.parse::<u64>().unwrap() * 1024,
                [range, perms, _, _, mapped, ..] if range.contains('-') && perms.len() == 4 => {
                    ours = *mapped == inode && !perms.contains('w');
                }
                _ => {}
            }
        }
        total
    }

    #[test]
    fn dropping_the_binarys_pages_lowers_residency_and_the_code_runs_on() {
        let program = this_program().unwrap();
        assert!(!program.text_relocations);
        assert!(program.segments.iter().any(|s| s.kind == PT_LOAD && s.flags & PF_W == 0));
        let before = resident_binary_bytes();
        assert!(before > 0, "a running binary has resident code");
        let dropped = drop_read_only_pages_of_this_binary().unwrap();
        assert!(dropped > 0);
        let after = resident_binary_bytes();
        assert!(after < before, "resident {before} bytes before, {after} after");
        // The code and constants read back from the file are the same.
        assert_eq!(crate::tokens::sha256_hex("abc").len(), 64);
        assert_eq!(format!("{:?}", Some(42)), "Some(42)");
    }
}
