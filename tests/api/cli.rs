use std::{
    io::Write,
    process::{Command, Stdio},
};

use crate::helpers::{PASSWORD, SECRET, TestApp, TestClient, TestDb, assert_redirects_to};

fn gatehouse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    // A clean environment: no developer .env or secret file leaks in.
    command.current_dir(std::env::temp_dir()).env_remove("DATABASE_URL").env_remove("SESSION_SECRET");
    command.env_remove("APP_ENV").env("RUST_LOG", "warn");
    command
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["create-user", "--help"],
        vec!["healthcheck", "--help"],
    ] {
        let output = gatehouse().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
    let create = gatehouse().args(["create-user", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&create.stdout);
    assert!(text.contains("--username") && text.contains("--email") && text.contains("--admin"));
    let flags: Vec<&str> = text.split_whitespace().filter(|w| w.starts_with("--")).collect();
    assert!(!flags.contains(&"--password"), "the password never comes from argv: {flags:?}");
}

#[test]
fn the_help_lists_every_setting_with_its_variable_and_default() {
    let output = gatehouse().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "DATABASE_URL",
        "BIND_ADDR",
        "PUBLIC_URL",
        "SESSION_SECRET",
        "APP_ENV",
        "SMTP_URL",
        "MAIL_FROM",
        "PASSWORD_MIN_LENGTH",
        "SESSION_IDLE_TIMEOUT",
        "SESSION_MAX_AGE",
        "TRUSTED_PROXIES",
        "FORM_LIMIT_BYTES",
    ] {
        assert!(text.contains(&format!("[env: {variable}")), "{variable} is not in the help:\n{text}");
    }
    assert!(text.contains("[default: sqlite://gatehouse.db?mode=rwc]"), "{text}");
    assert!(text.contains("[default: 12h]") && text.contains("[default: 15]"), "{text}");
}

#[test]
fn a_setting_in_the_environment_is_checked_at_start_with_its_name() {
    let output = gatehouse()
        .env("PASSWORD_MIN_LENGTH", "7")
        .env("SESSION_SECRET", SECRET)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PASSWORD_MIN_LENGTH"), "{stderr}");
}

#[test]
fn the_secret_never_shows_in_the_help_even_when_set() {
    let output = gatehouse().env("SESSION_SECRET", SECRET).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn production_without_a_session_secret_refuses_to_start() {
    let output = gatehouse().env("APP_ENV", "production").arg("migrate").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SESSION_SECRET is required"), "{stderr}");
}

#[actix_web::test]
async fn create_user_reads_the_password_from_stdin_and_the_account_can_log_in() {
    let database = TestDb::create_shared().await;
    let mut child = gatehouse()
        .args(["create-user", "--username", "root", "--email", "Root@Example.com", "--admin"])
        .env("DATABASE_URL", &database.url)
        .env("SESSION_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("created user root") && stdout.contains("admin"), "{stdout}");

    let app = TestApp::spawn_on(database, |_| {}).await;
    let client = app.client();
    assert_redirects_to(&client.log_in("root@example.com", PASSWORD).await, "/dashboard");
    assert!(client.get("/dashboard").await.body.contains("Administrator"));
}

#[actix_web::test]
async fn create_user_refuses_a_weak_password_with_the_reason() {
    let database = TestDb::create_shared().await;
    let mut child = gatehouse()
        .args(["create-user", "--username", "weak", "--email", "weak@example.com"])
        .env("DATABASE_URL", &database.url)
        .env("SESSION_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "password").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Use at least 15 characters."), "{stderr}");
}

/// A free port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `gatehouse serve` on `port` against `database_url`, its log kept for reading once it is killed.
fn serve(database_url: &str, port: u16, dir: &std::path::Path) -> Command {
    let mut command = gatehouse();
    command
        .arg("serve")
        .current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env("SESSION_SECRET", SECRET)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .stderr(Stdio::piped());
    command
}

/// Whether the server on `port` answers its health check within ten seconds.
fn becomes_healthy(port: u16) -> bool {
    (0..100).any(|_| {
        let healthy = gatehouse()
            .arg("healthcheck")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .output()
            .unwrap()
            .status
            .success();
        if !healthy {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        healthy
    })
}

/// A new empty folder for a server to run in (its key file and nothing else land there).
fn scratch_dir(purpose: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-{purpose}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Stops a server and returns what it logged.
fn stop(mut server: std::process::Child) -> String {
    server.kill().unwrap();
    String::from_utf8_lossy(&server.wait_with_output().unwrap().stderr).into_owned()
}

#[actix_web::test]
async fn serve_without_migrating_warns_about_pending_migrations_and_still_serves_a_migrated_database() {
    let database = TestDb::create_shared().await;
    let dir = scratch_dir("nomigrate");
    let port = free_port();
    let serve_without_migrating =
        || serve(&database.url, port, &dir).env("MIGRATE_ON_START", "false").spawn().unwrap();

    // A database nobody migrated: the server says so, loudly, and leaves the schema alone.
    let unmigrated = serve_without_migrating();
    assert!(becomes_healthy(port));
    let stderr = stop(unmigrated);
    assert!(stderr.contains("migration(s) are pending: run `gatehouse migrate`"), "{stderr}");

    let migrated = gatehouse()
        .arg("migrate")
        .env("DATABASE_URL", &database.url)
        .env("SESSION_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let server = serve_without_migrating();
    assert!(becomes_healthy(port));
    assert!(!stop(server).contains("pending"));
    std::fs::remove_dir_all(dir).ok();
}

#[actix_web::test]
async fn a_malformed_request_is_logged_as_the_clients_fault_not_as_an_error() {
    use std::io::Read as _;

    let database = TestDb::create_shared().await;
    let dir = scratch_dir("malformed");
    let port = free_port();
    let server = serve(&database.url, port, &dir).env("RUST_LOG", "info").spawn().unwrap();
    assert!(becomes_healthy(port));

    // A control byte in a header value: actix-http answers 400 before the app sees the request.
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=\x01\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    socket.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&answer));

    // The line is written once the connection is closed, which `read_to_end` waited for.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = stop(server);
    let line = log.lines().find(|line| line.contains("stream error")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(" INFO  actix_http::h1::dispatcher stream error: request parse error"), "{line}");
    assert!(!log.contains(" ERROR "), "{log}");
    std::fs::remove_dir_all(dir).ok();
}

#[actix_web::test]
async fn no_command_migrates_when_migrate_on_start_is_false() {
    use migration::{Migrator, MigratorTrait as _};
    let database = TestDb::create_shared().await;
    for args in [&["users", "list"][..], &["sessions", "purge"], &["users", "deactivate", "nobody"]] {
        let output = gatehouse()
            .args(args)
            .env("DATABASE_URL", &database.url)
            .env("SESSION_SECRET", SECRET)
            .env("MIGRATE_ON_START", "false")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} ran on a schema nobody migrated");
        assert!(stderr.contains("migration(s) are pending: run `gatehouse migrate`"), "{args:?}: {stderr}");
    }
    // Behind a transaction pooler, DDL belongs to `gatehouse migrate` alone: not one table was made,
    // not even the migrations' own.
    let db = sea_orm::Database::connect(&database.url).await.unwrap();
    let pending = Migrator::get_pending_migrations_read_only(&db).await.unwrap().len();
    assert_eq!(pending, Migrator::migrations().len(), "a command applied migrations");
    let tables = table_names(&db).await;
    assert!(tables.is_empty(), "a command created tables: {tables:?}");
    db.close().await.ok();

    let (migrated, _, stderr) = run_on(&database.url, &["migrate"]);
    assert!(migrated, "{stderr}");
    let output = gatehouse()
        .args(["users", "list"])
        .env("DATABASE_URL", &database.url)
        .env("SESSION_SECRET", SECRET)
        .env("MIGRATE_ON_START", "false")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The tables in the database's default schema.
async fn table_names(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    use sea_orm::{ConnectionTrait as _, Statement};
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    rows.iter().map(|row| row.try_get::<String>("", "name").unwrap()).collect()
}

/// Runs `gatehouse <args>` against the database at `url`; returns (success, stdout, stderr).
pub(crate) fn run_on(url: &str, args: &[&str]) -> (bool, String, String) {
    let output =
        gatehouse().args(args).env("DATABASE_URL", url).env("SESSION_SECRET", SECRET).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[actix_web::test]
async fn the_operator_lists_finds_and_locks_out_users_from_the_shell() {
    let database = TestDb::create_shared().await;
    let app = TestApp::spawn_on(database, |_| {}).await;
    let alice = app.logged_in_client("alice").await;
    app.logged_in_client("bob").await;
    let database = app.settings.database_url.clone();

    let (ok, table, _) = run_on(&database, &["users", "list"]);
    assert!(ok);
    assert!(table.contains("alice") && table.contains("bob") && table.contains("2 user(s)"), "{table}");
    let (ok, json, _) = run_on(&database, &["users", "list", "--json", "--query", "ALI"]);
    assert!(ok);
    let users: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["live_sessions"], 1);

    let (ok, out, err) = run_on(&database, &["users", "deactivate", "Alice@Example.com"]);
    assert!(ok, "{err}");
    assert!(out.contains("deactivated alice"), "{out}");
    assert_redirects_to(&alice.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(
        app.client().log_in("alice", PASSWORD).await.status,
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    );
    let (ok, ..) = run_on(&database, &["users", "activate", "alice"]);
    assert!(ok);
    let alice = app.client();
    assert_redirects_to(&alice.log_in("alice", PASSWORD).await, "/dashboard");

    let (ok, ..) = run_on(&database, &["users", "set-role", "alice", "admin"]);
    assert!(ok);
    assert_eq!(alice.get("/admin/users").await.status, actix_web::http::StatusCode::OK);
    let (ok, _, err) = run_on(&database, &["users", "set-role", "alice", "root"]);
    assert!(!ok && err.contains("root"), "{err}");

    let (ok, out, _) = run_on(&database, &["users", "end-sessions", "alice"]);
    assert!(ok && out.contains("ended 1 session(s) of alice"), "{out}");
    assert_redirects_to(&alice.get("/dashboard").await, "/login?next=/dashboard");

    let (ok, _, err) = run_on(&database, &["users", "deactivate", "nobody"]);
    assert!(!ok);
    assert!(err.contains("no user has the username or email `nobody`"), "{err}");

    let (ok, out, _) = run_on(&database, &["sessions", "purge"]);
    assert!(ok && out.contains("purged"), "{out}");

    let again = TestClient::logged_in_as(&app, "alice", crate::helpers::FIREFOX_ON_LINUX).await;
    let account = again.get("/account").await.body;
    assert!(account.contains("An administrator deactivated the account"), "{account}");
}
