//! Through a transaction-pooling proxy: Debian's PgBouncer (1.18) in `pool_mode = transaction`, in
//! front of the test's own Postgres database, with `DATABASE_STATEMENT_CACHE=off`.
//!
//! These tests need Postgres (`TEST_DATABASE_URL`) and the `pgbouncer` binary, so they are ignored by a
//! plain `cargo test`; `.ci/run` installs PgBouncer and runs them. Run by hand without what they need,
//! they fail and say why rather than pass without testing anything.

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use gatehouse::db;
use sea_orm::{ConnectionTrait as _, Statement};

use crate::helpers::{PASSWORD, TestApp, TestDb, assert_redirects_to};

/// A PgBouncer process of this test's own, on a free port, stopped when dropped.
struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl PgBouncer {
    /// Starts PgBouncer in transaction mode with `pool_size` server connections per database.
    fn start(pool_size: u32) -> Self {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists())
            .expect("pgbouncer is not installed (Debian: apt-get install pgbouncer); .ci/run installs it");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("gatehouse-pgbouncer-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).unwrap();
        // PgBouncer refuses to run as root; as root it is started as `postgres`, which must read
        // the configuration and write the log here.
        set_mode(&dir, 0o777);
        let config = dir.join("pgbouncer.ini");
        let auth_file = dir.join("users.txt");
        let log = dir.join("pgbouncer.log");
        std::fs::write(&auth_file, "\"postgres\" \"\"\n").unwrap();
        std::fs::write(
            &config,
            format!(
                "[databases]\n\
                 * = host=127.0.0.1 port=5432\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {auth}\n\
                 pool_mode = transaction\n\
                 default_pool_size = {pool_size}\n\
                 max_client_conn = 200\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 logfile = {log}\n",
                auth = auth_file.display(),
                log = log.display(),
            ),
        )
        .unwrap();
        for file in [&config, &auth_file] {
            set_mode(file, 0o644);
        }
        let mut command = Command::new(binary);
        if unsafe { libc::geteuid() } == 0 {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let bouncer = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer did not listen within 10 s:\n{}", bouncer.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// `database_url` (a direct Postgres URL) re-pointed at this PgBouncer.
    fn url_for(&self, database_url: &str) -> String {
        let name = database_url.rsplit('/').next().unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn postgres_database() -> TestDb {
    let database = TestDb::create().await;
    assert!(
        database.url.starts_with("postgres"),
        "these tests need TEST_DATABASE_URL=postgres://… (PgBouncer stands in front of Postgres)"
    );
    database
}

#[actix_web::test]
#[ignore = "needs Postgres (TEST_DATABASE_URL) and Debian's pgbouncer; .ci/run runs it"]
async fn register_login_page_views_logout_and_replay_work_through_pgbouncer_in_transaction_mode() {
    let database = postgres_database().await;
    // Two server connections for a pool of twenty: every client connection's statements land on
    // server connections that other client connections used before.
    let bouncer = PgBouncer::start(2);
    let url = bouncer.url_for(&database.url);
    // Start-up (migrations included) runs through the proxy too.
    let app = TestApp::spawn_on(database, |vars| {
        vars.insert("DATABASE_URL", url);
        vars.insert("DATABASE_STATEMENT_CACHE", "off".to_owned());
    })
    .await;
    assert!(app.db.is_pinned());

    let alice = app.client();
    assert_redirects_to(&alice.register("alice", "alice@example.com", PASSWORD).await, "/dashboard");
    alice.log_out().await;
    assert_redirects_to(&alice.log_in("alice", PASSWORD).await, "/dashboard");
    let bob = app.client();
    assert_redirects_to(&bob.register("bob", "bob@example.com", PASSWORD).await, "/dashboard");

    // Page views at once, so several client connections take turns on the two server connections.
    let views = join_all((0..40).map(|i| {
        let client = if i % 2 == 0 { &alice } else { &bob };
        client.get("/dashboard")
    }))
    .await;
    for (i, view) in views.iter().enumerate() {
        let name = if i % 2 == 0 { "alice" } else { "bob" };
        assert_eq!(view.status, StatusCode::OK, "view {i}: {}\n{}", view.body, bouncer.log());
        assert!(view.body.contains(name), "view {i} shows {name}");
    }

    let stolen = alice.session_cookie().unwrap();
    assert_redirects_to(&alice.log_out().await, "/login");
    let replay = app.client();
    replay.set_cookie("gatehouse_session", &stolen);
    assert_redirects_to(&replay.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(bob.get("/dashboard").await.status, StatusCode::OK, "bob is still logged in");
    assert_eq!(app.count_rows("sessions").await, 1, "alice's session row is gone, bob's is there");
}

/// Proves the proxy above really pools by transaction (so the test above can fail): with sqlx's
/// named statements left as they are, two clients sharing one server connection collide.
#[actix_web::test]
#[ignore = "needs Postgres (TEST_DATABASE_URL) and Debian's pgbouncer; .ci/run runs it"]
async fn with_the_statement_cache_on_two_clients_collide_through_pgbouncer_and_with_it_off_they_do_not() {
    let database = postgres_database().await;
    let bouncer = PgBouncer::start(1);
    let url = bouncer.url_for(&database.url);
    let first_statements = |db: &db::Db, n: i32| {
        let statement = Statement::from_string(db.get_database_backend(), format!("SELECT {n} AS n"));
        let db = db.clone();
        async move { db.query_one_raw(statement).await }
    };

    let (a, b) = (db::connect(&url, true).await.unwrap(), db::connect(&url, true).await.unwrap());
    first_statements(&a, 1).await.expect("the first client's statement");
    let collision = first_statements(&b, 2).await.expect_err("the second client reuses the name sqlx_s_1");
    assert!(collision.to_string().contains("prepared statement"), "{collision}");

    let (a, b) = (db::connect(&url, false).await.unwrap(), db::connect(&url, false).await.unwrap());
    for n in 0..10 {
        let row = first_statements(if n % 2 == 0 { &a } else { &b }, n).await.expect("pinned statement");
        assert_eq!(row.unwrap().try_get::<i32>("", "n").unwrap(), n);
    }
}
