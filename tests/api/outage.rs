//! A database outage is a 503 with `Retry-After` on every route that needs the database, never a
//! 500 and never a logout; once the database is back the same cookie works again.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use actix_web::http::StatusCode;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::helpers::{TestApp, TestClient, TestDb, TestResponse};

/// A TCP proxy between the app and Postgres that the test can cut and restore, so an outage is
/// real (terminated and refused connections) without touching the shared server.
struct CuttableProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept_loop: JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept_loop = tokio::spawn({
            let (up, connections) = (up.clone(), connections.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        // Accepted and closed at once: what a restarting server looks like.
                        drop(client);
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(task);
                }
            }
        });
        Self { addr, up, connections, accept_loop }
    }

    /// Every open connection is cut mid-stream and new ones are closed as soon as they open.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept_loop.abort();
    }
}

/// The Postgres behind `TEST_DATABASE_URL`, or `None` on SQLite (which has no server to lose).
async fn postgres_behind_a_proxy() -> Option<(TestApp, CuttableProxy)> {
    let database = TestDb::create().await;
    let (prefix, rest) = database.url.split_once('@')?;
    let (host_port, name) = rest.split_once('/')?;
    let upstream: SocketAddr = tokio::net::lookup_host(host_port).await.ok()?.next()?;
    let proxy = CuttableProxy::start(upstream).await;
    let proxied_url = format!("{prefix}@{}/{name}", proxy.addr);
    let app = TestApp::spawn_on(database, |vars| {
        vars.insert("DATABASE_URL", proxied_url);
    })
    .await;
    Some((app, proxy))
}

#[track_caller]
fn assert_unavailable(res: &TestResponse, what: &str) {
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {}", res.body);
    assert!(res.header("retry-after").is_some(), "{what}: no Retry-After");
    let id = res.header("x-request-id").unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
    assert!(res.body.contains(id), "{what}: the page shows the request id");
    assert!(res.body.contains("temporarily unavailable"), "{what}: {}", res.body);
    assert!(
        !res.set_cookies.iter().any(|c| c.name() == "gatehouse_session"),
        "{what}: an outage must not touch the session cookie"
    );
}

#[actix_web::test]
async fn a_postgres_outage_is_a_503_everywhere_and_the_same_cookie_works_once_it_is_back() {
    let Some((app, proxy)) = postgres_behind_a_proxy().await else {
        eprintln!("SQLite: no database server to cut; this test runs with TEST_DATABASE_URL=postgres://…");
        return;
    };
    let alice = app.logged_in_client("alice").await;
    let cookie_before = alice.session_cookie().unwrap();
    let visitor = app.client();
    visitor.get("/login").await;

    proxy.cut();
    for attempt in 1..=3 {
        assert_unavailable(&alice.get("/dashboard").await, &format!("dashboard, attempt {attempt}"));
    }
    assert_unavailable(&alice.get("/account").await, "account");
    assert_unavailable(&alice.submit_while_down("/logout").await, "logout");
    let form = visitor.get("/login").await;
    assert_eq!(form.status, StatusCode::OK, "a visitor's form needs no database (no session)");
    let login = visitor.log_in("alice", crate::helpers::PASSWORD).await;
    assert_unavailable(&login, "logging in");
    assert_unavailable(&app.client().get("/healthz").await, "healthz without a cookie");
    let json = app.client().get_with("/healthz", &[("Accept", "application/json")]).await;
    assert_eq!(json.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(alice.session_cookie().unwrap(), cookie_before, "still the same cookie");

    proxy.restore();
    let mut statuses = Vec::new();
    let page = loop {
        let page = alice.get("/dashboard").await;
        if page.status == StatusCode::OK || statuses.len() >= 20 {
            break page;
        }
        statuses.push(page.status);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(page.status, StatusCode::OK, "never recovered: {statuses:?}");
    assert!(page.body.contains("Welcome, alice"), "the same session, not a new login");
    assert!(statuses.iter().all(|s| *s == StatusCode::SERVICE_UNAVAILABLE), "{statuses:?}");
    assert_eq!(app.client().get("/healthz").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_closed_pool_is_a_503_on_every_page_that_needs_the_database() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    app.db.pool().clone().close().await.unwrap();

    // The session store (a cookie to load), the handler (healthz has no cookie to load).
    assert_unavailable(&alice.get("/dashboard").await, "dashboard");
    assert_unavailable(&app.client().get("/healthz").await, "healthz");
    // Pages that need no database still answer.
    assert_eq!(app.client().get("/static/style.css").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn the_loader_reports_an_unreachable_database_as_unavailable_not_as_logged_out() {
    let database = TestDb::create().await;
    let db = gatehouse::db::connect(&database.url, true).await.unwrap();
    db.pool().clone().close().await.unwrap();

    let error = gatehouse::auth::loader::load(&db, Some("1".to_owned()), 0).await.unwrap_err();

    assert!(gatehouse::db::is_unavailable(&error), "{error:?}");
    let status = actix_web::ResponseError::status_code(&gatehouse::web::AppError::from(error));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

impl TestClient {
    /// Posts to `action` with the token from a page fetched while the database was still up.
    async fn submit_while_down(&self, action: &str) -> TestResponse {
        self.post_form(action, &[("csrf_token", "taken-before-the-outage")]).await
    }
}
