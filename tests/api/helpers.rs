//! The test harness: `TestApp::spawn()` builds the real app factory on a fresh database (in-memory
//! SQLite, or a new Postgres database when `TEST_DATABASE_URL` is set) and `TestClient` is a browser
//! with its own cookie jar that does not follow redirects.

use std::{
    cell::RefCell,
    collections::HashMap,
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{
        Arc, Once,
        atomic::{AtomicUsize, Ordering},
    },
};

use actix_web::{
    body::{BoxBody, MessageBody as _},
    cookie::Cookie,
    dev::{Service, ServiceResponse},
    http::{Method, StatusCode, header::HeaderMap},
    test::{self, TestRequest},
};
use gatehouse::db::Db;
use gatehouse::{
    clock::Clock,
    config::Settings,
    startup,
    web::{AppState, session::session_cookie_name},
};
use sea_orm::{ConnectionTrait as _, Statement};

/// Where every test client's requests come from (a documentation address, RFC 5737).
pub const CLIENT_IP: &str = "203.0.113.7";

pub const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
pub const ORIGIN: &str = "http://localhost:8080";
pub const PASSWORD: &str = "a long and unusual passphrase";
pub const FIREFOX_ON_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
pub const SAFARI_ON_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 \
                                    (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";

static LOGGING: Once = Once::new();

/// Every warning and error the app logs while the tests run, with the id of the request it was
/// logged for, so that a test can check what was logged for its own request.
static WARNINGS: std::sync::Mutex<Vec<(Option<String>, String)>> = std::sync::Mutex::new(Vec::new());

/// env_logger as usual (`RUST_LOG=debug cargo test` shows the app's log for a failing test), and
/// every warning kept in `WARNINGS` whatever `RUST_LOG` says.
struct CapturingLogger(env_logger::Logger);

impl log::Log for CapturingLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn || self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if record.level() <= log::Level::Warn {
            let request_id = gatehouse::telemetry::current_request_id();
            WARNINGS.lock().unwrap().push((request_id, record.args().to_string()));
        }
        if self.0.enabled(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

fn install_logger() {
    let inner = env_logger::builder().is_test(true).build();
    let max = inner.filter().max(log::LevelFilter::Warn);
    if log::set_boxed_logger(Box::new(CapturingLogger(inner))).is_ok() {
        log::set_max_level(max);
    }
}

/// The warnings and errors logged while serving the request that answered `res`.
pub fn warnings_for(res: &TestResponse) -> Vec<String> {
    let id = res.header("x-request-id").expect("every answer carries its request id").to_owned();
    let warnings = WARNINGS.lock().unwrap();
    warnings
        .iter()
        .filter(|(request, _)| request.as_deref() == Some(id.as_str()))
        .map(|(_, w)| w.clone())
        .collect()
}

type CallFuture = Pin<Box<dyn Future<Output = TestResponse>>>;

/// A running app on its own database.
#[derive(Clone)]
pub struct TestApp {
    call: Rc<dyn Fn(actix_http::Request) -> CallFuture>,
    pub db: Db,
    pub clock: Clock,
    pub settings: Settings,
    /// SQL statements executed since the counter was last reset.
    pub statements: Arc<StatementLog>,
    _database: Rc<TestDb>,
}

#[derive(Default)]
pub struct StatementLog {
    count: AtomicUsize,
    writes: AtomicUsize,
    failed: AtomicUsize,
    sql: std::sync::Mutex<Vec<String>>,
}

impl StatementLog {
    pub fn reset(&self) {
        self.count.store(0, Ordering::SeqCst);
        self.writes.store(0, Ordering::SeqCst);
        self.failed.store(0, Ordering::SeqCst);
        self.sql.lock().unwrap().clear();
    }
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
    /// Statements the database refused (e.g. a unique index violated).
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }
    pub fn sql(&self) -> Vec<String> {
        self.sql.lock().unwrap().clone()
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings changed by `customise` (e.g. an https `PUBLIC_URL`).
    pub async fn spawn_with(customise: impl FnOnce(&mut HashMap<&'static str, String>)) -> Self {
        let database = TestDb::create().await;
        Self::spawn_on(database, customise).await
    }

    pub async fn spawn_on(
        database: TestDb,
        customise: impl FnOnce(&mut HashMap<&'static str, String>),
    ) -> Self {
        let (state, statements) = build_state(&database, customise).await;
        Self::serve(state, statements, Rc::new(database)).await
    }

    /// A second instance of the same site: its own pool, hashing pool and workers, on the same
    /// database with the same settings (and, for tests of time, the same clock).
    pub async fn another_instance(&self) -> Self {
        let db = gatehouse::startup::connect(&self.settings).await.expect("connect a second instance");
        let state = AppState::new(self.settings.clone(), db, self.clock.clone()).expect("app state");
        Self::serve(state, Arc::new(StatementLog::default()), self._database.clone()).await
    }

    /// Another instance on the same database with settings changed by `customise` (e.g. a rotated
    /// secret). It starts from the test defaults, not from this instance's changes.
    pub async fn another_instance_with(
        &self,
        customise: impl FnOnce(&mut HashMap<&'static str, String>),
    ) -> Self {
        let mut vars = default_vars(&self.settings.database_url);
        customise(&mut vars);
        let settings = Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings");
        let db = gatehouse::startup::connect(&settings).await.expect("connect another instance");
        let state = AppState::new(settings, db, self.clock.clone()).expect("app state");
        Self::serve(state, Arc::new(StatementLog::default()), self._database.clone()).await
    }

    async fn serve(state: AppState, statements: Arc<StatementLog>, database: Rc<TestDb>) -> Self {
        let (db, clock, settings) = (state.db.clone(), state.clock.clone(), state.settings.clone());
        let service = Rc::new(test::init_service(startup::app(state)).await);
        let call = Rc::new(move |request: actix_http::Request| -> CallFuture {
            let service = service.clone();
            Box::pin(async move {
                match service.call(request).await {
                    Ok(res) => TestResponse::read(res.map_into_boxed_body()).await,
                    // What the HTTP dispatcher does with an error no middleware turned into a response.
                    Err(error) => TestResponse::from_error(error).await,
                }
            })
        });
        Self { call, db, clock, settings, statements, _database: database }
    }

    pub fn client(&self) -> TestClient {
        self.client_with_agent(FIREFOX_ON_LINUX)
    }

    /// A client whose requests carry `user_agent`, for telling devices apart.
    pub fn client_with_agent(&self, user_agent: &str) -> TestClient {
        TestClient {
            app: self.clone(),
            cookies: RefCell::new(HashMap::new()),
            user_agent: user_agent.to_owned(),
            extra_headers: Vec::new(),
        }
    }

    /// A client that has registered `username` (with `PASSWORD`) and is logged in.
    pub async fn logged_in_client(&self, username: &str) -> TestClient {
        let client = self.client();
        let res = client.register(username, &format!("{username}@example.com"), PASSWORD).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "registration failed: {}", res.body);
        client
    }

    /// The failures counted now against the login name `login` (0 when there is no counter).
    pub async fn login_failures(&self, login: &str) -> i32 {
        let key = gatehouse::auth::throttle::Key::login_name(login);
        gatehouse::db::throttle::find(&self.db, key.as_str()).await.unwrap().map_or(0, |c| c.failures)
    }

    /// The failures counted now against the test clients' IP (`CLIENT_IP`).
    pub async fn ip_failures(&self) -> i32 {
        let key = gatehouse::auth::throttle::Key::login_ip(CLIENT_IP);
        gatehouse::db::throttle::find(&self.db, key.as_str()).await.unwrap().map_or(0, |c| c.failures)
    }

    pub async fn user_id(&self, username: &str) -> i64 {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::users::Entity::find()
            .filter(entity::users::Column::UsernameKey.eq(username.to_ascii_lowercase()))
            .one(&self.db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no user {username}"))
            .id
    }

    /// How many `kind` events `username` has, waiting up to five seconds for `expected` of them:
    /// some events are recorded after the answer.
    pub async fn events(&self, username: &str, kind: &str, expected: usize) -> usize {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let user_id = self.user_id(username).await;
        let mut n = 0;
        for _ in 0..250 {
            n = entity::audit_events::Entity::find()
                .filter(entity::audit_events::Column::UserId.eq(user_id))
                .filter(entity::audit_events::Column::Kind.eq(kind))
                .count(&self.db)
                .await
                .unwrap();
            if usize::try_from(n).unwrap() >= expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        usize::try_from(n).unwrap()
    }

    pub async fn count_rows(&self, table: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(backend, format!("SELECT COUNT(*) AS n FROM {table}")))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

/// The settings every test app starts from.
fn default_vars(database_url: &str) -> HashMap<&'static str, String> {
    HashMap::from([
        ("SESSION_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("PUBLIC_URL", ORIGIN.to_owned()),
    ])
}

/// Settings, a migrated connection that counts its statements, and the app state, as `serve` builds
/// them, on `database`.
async fn build_state(
    database: &TestDb,
    customise: impl FnOnce(&mut HashMap<&'static str, String>),
) -> (AppState, Arc<StatementLog>) {
    LOGGING.call_once(install_logger);
    let mut vars = default_vars(&database.url);
    customise(&mut vars);
    let settings = Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings");

    let statements = Arc::new(StatementLog::default());
    let mut db = gatehouse::startup::connect(&settings).await.expect("connect to the test database");
    let log = statements.clone();
    db.set_metric_callback(move |info| {
        let sql = info.statement.sql.trim_start().to_ascii_uppercase();
        log.count.fetch_add(1, Ordering::SeqCst);
        if !sql.starts_with("SELECT") {
            log.writes.fetch_add(1, Ordering::SeqCst);
        }
        if info.failed {
            log.failed.fetch_add(1, Ordering::SeqCst);
        }
        log.sql.lock().unwrap().push(info.statement.sql.clone());
    });
    startup::migrate(&db).await.expect("migrate the test database");
    let state = AppState::new(settings, db, Clock::default()).expect("app state");
    (state, statements)
}

/// The real app behind a real socket on 127.0.0.1, for what only the wire shows: raw request lines
/// that no client library has normalised, and `HEAD` answers with their body dropped by the server.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub db: Db,
    handle: actix_web::dev::ServerHandle,
    _database: TestDb,
}

impl TestServer {
    pub async fn spawn() -> Self {
        let database = TestDb::create_shared().await;
        let (state, _) = build_state(&database, |_| {}).await;
        let db = state.db.clone();
        let server = actix_web::HttpServer::new(move || startup::app(state.clone()))
            .workers(1)
            .disable_signals()
            .bind("127.0.0.1:0")
            .expect("bind a test port");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { addr, db, handle, _database: database }
    }

    /// Sends `request` byte for byte and reads until the server closes the connection.
    pub async fn raw(&self, request: &[u8]) -> RawResponse {
        raw_http(self.addr, request).await
    }

    /// A request with the usual headers, the given cookie and extra headers, and a form body.
    pub async fn send(
        &self,
        method: &str,
        target: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> RawResponse {
        http(self.addr, method, target, cookie, headers, body).await
    }

    /// Registers `username` over the socket; returns the session cookie (`name=value`).
    pub async fn register(&self, username: &str) -> String {
        let form = self.send("GET", "/register", None, &[], "").await;
        let cookie = form.cookie_header().expect("the form sets its token cookie");
        let token = form.csrf_token().expect("the form has a token");
        let body = serde_urlencoded::to_string([
            ("username", username),
            ("email", &format!("{username}@example.com")),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
            ("csrf_token", &token),
        ])
        .unwrap();
        let res = self.send("POST", "/register", Some(&cookie), &[("Origin", ORIGIN)], &body).await;
        assert_eq!(res.status, 303, "registration over the socket failed: {}", res.body_text());
        res.cookie_pair().expect("login sets a new session cookie")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Stops accepting; the test's runtime ends the rest.
        drop(self.handle.stop(false));
    }
}

/// Sends `request` byte for byte to `addr` (it should say `Connection: close`) and reads the answer.
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the test server");
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("the server answered within 30 s")
        .unwrap();
    RawResponse::parse(&bytes)
}

/// An HTTP/1.1 request with `Connection: close`, the given cookie and headers, and a form body.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let mut request = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" && method != "HEAD" {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    raw_http(addr, request.as_bytes()).await
}

/// An HTTP/1.1 answer as it came off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    fn parse(bytes: &[u8]) -> Self {
        let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete header block");
        let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Self { status, headers, body: bytes[split + 4..].to_vec() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every cookie this answer sets, as a `Cookie` header would carry them back.
    pub fn cookie_header(&self) -> Option<String> {
        let pairs: Vec<String> = self
            .headers
            .iter()
            .filter(|(name, _)| name == "set-cookie")
            .map(|(_, value)| value.split(';').next().unwrap_or_default().to_owned())
            .filter(|pair| !pair.ends_with('='))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// `name=value` of the session cookie this answer sets, if it sets one.
    pub fn cookie_pair(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(name, _)| name == "set-cookie")
            .map(|(_, value)| value.split(';').next().unwrap_or_default().to_owned())
            .find(|pair| pair.starts_with("gatehouse_session=") && pair.len() > "gatehouse_session=".len())
    }

    pub fn csrf_token(&self) -> Option<String> {
        let body = self.body_text();
        let marker = "name=\"csrf_token\" value=\"";
        let start = body.find(marker)? + marker.len();
        let end = body[start..].find('"')? + start;
        Some(body[start..end].to_owned()).filter(|t| !t.is_empty())
    }
}

/// One browser: a cookie jar, no redirect following.
pub struct TestClient {
    pub app: TestApp,
    cookies: RefCell<HashMap<String, String>>,
    user_agent: String,
    extra_headers: Vec<(String, String)>,
}

impl TestClient {
    /// The same browser on another instance of the site (its cookies go along).
    pub fn on(&self, app: &TestApp) -> TestClient {
        TestClient {
            app: app.clone(),
            cookies: RefCell::new(self.cookies.borrow().clone()),
            user_agent: self.user_agent.clone(),
            extra_headers: self.extra_headers.clone(),
        }
    }

    /// Sends `name: value` with every request from now on (e.g. `X-Forwarded-For`).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.extra_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.borrow().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies.borrow_mut().insert(name.to_owned(), value.to_owned());
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookie(session_cookie_name(&self.app.settings))
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut request = self.request(Method::GET, path);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        self.send(request).await
    }

    /// Posts a form exactly as given (no token added), from our own origin.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        self.post_form_with(path, fields, &[("Origin", ORIGIN)]).await
    }

    pub async fn post_form_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes(), headers).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request =
            self.request(Method::POST, path).insert_header(("Content-Type", content_type)).set_payload(body);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        self.send(request).await
    }

    /// Opens `page`, takes the CSRF token from its form, and posts `fields` with it to `action`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> TestResponse {
        let token = self.csrf_token(page).await;
        let mut with_token = fields.to_vec();
        with_token.push(("csrf_token", &token));
        self.post_form(action, &with_token).await
    }

    pub async fn csrf_token(&self, page: &str) -> String {
        let res = self.get(page).await;
        res.csrf_token().unwrap_or_else(|| panic!("no csrf_token on {page} ({}): {}", res.status, res.body))
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> TestResponse {
        self.submit(
            "/register",
            "/register",
            &[
                ("username", username),
                ("email", email),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await
    }

    pub async fn log_in(&self, login: &str, password: &str) -> TestResponse {
        self.submit("/login", "/login", &[("login", login), ("password", password)]).await
    }

    pub async fn log_in_remembered(&self, login: &str, password: &str) -> TestResponse {
        self.submit("/login", "/login", &[("login", login), ("password", password), ("remember", "on")]).await
    }

    /// A second device of an existing user: logs in with `PASSWORD`.
    pub async fn logged_in_as(app: &TestApp, username: &str, user_agent: &str) -> TestClient {
        let client = app.client_with_agent(user_agent);
        let res = client.log_in(username, PASSWORD).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "login failed: {}", res.body);
        client
    }

    pub async fn log_out(&self) -> TestResponse {
        self.submit("/", "/logout", &[]).await
    }

    fn request(&self, method: Method, path: &str) -> TestRequest {
        let mut request = TestRequest::default()
            .method(method)
            .uri(path)
            .peer_addr(format!("{CLIENT_IP}:51000").parse().unwrap())
            .insert_header(("User-Agent", self.user_agent.clone()));
        for (name, value) in &self.extra_headers {
            request = request.append_header((name.clone(), value.clone()));
        }
        for (name, value) in self.cookies.borrow().iter() {
            request = request.cookie(Cookie::new(name.clone(), value.clone()));
        }
        request
    }

    async fn send(&self, request: TestRequest) -> TestResponse {
        let res = (self.app.call)(request.to_request()).await;
        let mut jar = self.cookies.borrow_mut();
        for cookie in &res.set_cookies {
            let removed = cookie.max_age().is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie.value().is_empty();
            if removed {
                jar.remove(cookie.name());
            } else {
                jar.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        res
    }
}

/// What came back, read in full.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub set_cookies: Vec<Cookie<'static>>,
    pub body: String,
}

impl TestResponse {
    async fn read(res: ServiceResponse<BoxBody>) -> Self {
        let status = res.status();
        let headers = res.headers().clone();
        let set_cookies = res.response().cookies().map(|c| c.into_owned()).collect();
        let body = res.into_body().try_into_bytes().unwrap_or_default();
        Self { status, headers, set_cookies, body: String::from_utf8_lossy(&body).into_owned() }
    }

    async fn from_error(error: actix_web::Error) -> Self {
        let res = error.as_response_error().error_response();
        let status = res.status();
        let headers = res.headers().clone();
        let set_cookies = res.cookies().map(|c| c.into_owned()).collect();
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default();
        Self { status, headers, set_cookies, body: String::from_utf8_lossy(&body).into_owned() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> &str {
        self.header("location").unwrap_or_else(|| panic!("no Location on a {} response", self.status))
    }

    pub fn set_cookie(&self, name: &str) -> Option<&Cookie<'static>> {
        self.set_cookies.iter().find(|c| c.name() == name)
    }

    /// The value of the first `name="csrf_token"` hidden input.
    pub fn csrf_token(&self) -> Option<String> {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_owned()).filter(|t| !t.is_empty())
    }
}

#[track_caller]
pub fn assert_redirects_to(res: &TestResponse, location: &str) {
    assert_eq!(res.status, StatusCode::SEE_OTHER, "expected a 303, got {}: {}", res.status, res.body);
    assert_eq!(res.location(), location);
}

/// A database of its own for one test: in-memory SQLite, or a new Postgres database (dropped when the
/// test ends, pass or fail) when `TEST_DATABASE_URL` points at a Postgres server.
pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => Self::create_postgres(admin_url).await,
            _ => Self { url: "sqlite::memory:".to_owned(), postgres: None },
        }
    }

    /// A database another process can open too (SQLite in a temporary file, or Postgres).
    pub async fn create_shared() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => Self::create_postgres(admin_url).await,
            _ => {
                let path = std::env::temp_dir().join(format!("gatehouse-test-{}.db", uuid::Uuid::new_v4()));
                Self { url: format!("sqlite://{}?mode=rwc", path.display()), postgres: None }
            }
        }
    }

    async fn create_postgres(admin_url: String) -> Self {
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("TEST_DATABASE_URL is set but Postgres is not reachable at {admin_url}: {e}")
        });
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
        admin.close().await.ok();
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) if server.contains("://") && server.len() > server.find("://").unwrap() + 3 => {
                format!("{server}/{name}")
            }
            _ => format!("{admin_url}/{name}"),
        };
        Self { url, postgres: Some((admin_url, name)) }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside any async context: a short-lived runtime on its own thread does the work.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async {
                    if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        } else if let Some(path) = self.url.strip_prefix("sqlite://").and_then(|p| p.split('?').next()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

// Email through a real SMTP conversation.

/// One received message: its recipients and raw DATA.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server on localhost: what the app sends (with `SMTP_URL` set to `url`) lands in `inbox`.
pub struct SmtpCatcher {
    pub url: String,
    pub inbox: Arc<std::sync::Mutex<Vec<Received>>>,
}

impl SmtpCatcher {
    pub async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let inbox = Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = inbox.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = shared.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = tokio::io::BufReader::new(read).lines();
                    write.write_all(b"220 catcher ESMTP\r\n").await.ok();
                    let mut to = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                            b"250 catcher\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            write.write_all(b"354 go ahead\r\n").await.ok();
                            let mut data = String::new();
                            while let Ok(Some(body_line)) = lines.next_line().await {
                                if body_line == "." {
                                    break;
                                }
                                data.push_str(&body_line);
                                data.push('\n');
                            }
                            inbox.lock().unwrap().push(Received { to: std::mem::take(&mut to), data });
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        } else {
                            b"250 OK\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { url, inbox }
    }

    /// Waits (briefly) for a message to `address`: the app sends in the background.
    pub async fn message_to(&self, address: &str) -> Received {
        self.message_matching(address, "").await
    }

    /// Waits (briefly) for a message to `address` whose raw text contains `needle` (a subject, say).
    pub async fn message_matching(&self, address: &str, needle: &str) -> Received {
        for _ in 0..100 {
            let found = self
                .inbox
                .lock()
                .unwrap()
                .iter()
                .find(|m| m.to.iter().any(|t| t == address) && unfolded(&m.data).contains(needle))
                .cloned();
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no email to {address} containing {needle:?} arrived; inbox: {:?}",
            self.inbox.lock().unwrap()
        );
    }

    /// How many messages `address` has received so far.
    pub fn count_to(&self, address: &str) -> usize {
        self.inbox.lock().unwrap().iter().filter(|m| m.to.iter().any(|t| t == address)).count()
    }
}

/// The path of the first link to `prefix` (e.g. `/confirm-email/`) in a message, without the origin.
pub fn link_path(message: &Received, prefix: &str) -> String {
    let body = unfolded(&message.data);
    let start = body
        .find(&format!("{ORIGIN}{prefix}"))
        .unwrap_or_else(|| panic!("no link to {prefix} built from PUBLIC_URL in {body}"));
    let link: String =
        body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_:/.".contains(*c)).collect();
    link.trim_start_matches(ORIGIN).to_owned()
}

/// The plain-text body with quoted-printable soft line breaks and `=3D` undone.
pub fn unfolded(data: &str) -> String {
    data.replace("=\n", "").replace("=3D", "=")
}
