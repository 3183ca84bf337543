//! The login of an idiomatic axum 0.8 + axum-login 0.18 + tower-sessions 0.14 app (sessions in
//! Postgres, sqlx), the peer the performance issue compares Gatehouse with, for `bench/peer/compare.sh`
//! to measure in the same harness (bench/wrk/login.lua): GET /login stores a CSRF token in a new
//! session, POST /login checks it, verifies the password with the argon2 crate's own API (the same
//! crate and version as Gatehouse, m=19456 t=2 p=1) in `spawn_blocking`, and logs in (a new session
//! id): 303 to /dashboard. It has no throttling, no audit and no templates: a floor, not a rival.
//!
//!   peer seed <prefix> <n> <password>   users <prefix>1 .. <prefix><n>, all with that password
//!   peer                                serve on BIND_ADDR (DATABASE_URL); PEER_BLOCKING=<n> caps the
//!                                       blocking pool (tokio's default is 512: one hash per login)
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Form, Router,
};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend};
use serde::Deserialize;
use sqlx::{postgres::PgPoolOptions, FromRow, PgPool};
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

#[derive(Clone, FromRow)]
struct User {
    id: i64,
    username: String,
    password_hash: String,
}
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).finish()
    }
}
impl AuthUser for User {
    type Id = i64;
    fn id(&self) -> i64 {
        self.id
    }
    fn session_auth_hash(&self) -> &[u8] {
        self.password_hash.as_bytes()
    }
}

#[derive(Clone)]
struct Backend {
    db: PgPool,
}
#[derive(Clone, Deserialize)]
struct Credentials {
    login: String,
    password: String,
    csrf_token: String,
}

#[derive(Debug)]
struct DbError(String);
impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DbError {}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = DbError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, DbError> {
        let user: Option<User> =
            sqlx::query_as("select id, username, password_hash from users where username = $1")
                .bind(&creds.login)
                .fetch_optional(&self.db)
                .await
                .map_err(|e| DbError(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            use argon2::{Argon2, PasswordHash, PasswordVerifier};
            Ok(user.filter(|u| {
                PasswordHash::new(&u.password_hash)
                    .is_ok_and(|h| Argon2::default().verify_password(creds.password.as_bytes(), &h).is_ok())
            }))
        })
        .await
        .map_err(|e| DbError(e.to_string()))?
    }

    async fn get_user(&self, id: &i64) -> Result<Option<User>, DbError> {
        sqlx::query_as("select id, username, password_hash from users where id = $1")
            .bind(id)
            .fetch_optional(&self.db)
            .await
            .map_err(|e| DbError(e.to_string()))
    }
}

type Auth = AuthSession<Backend>;
const CSRF: &str = "csrf";

async fn login_form(session: Session) -> Response {
    let token = hex::encode(rand::random::<[u8; 16]>());
    if session.insert(CSRF, &token).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    Html(format!(
        "<!doctype html><title>Log in</title><form method=post action=/login>\
         <input type=hidden name=\"csrf_token\" value=\"{token}\">\
         <input name=login><input type=password name=password><button>Log in</button></form>"
    ))
    .into_response()
}

async fn login_submit(mut auth: Auth, Form(creds): Form<Credentials>) -> Response {
    let expected: Option<String> = auth.session.remove(CSRF).await.ok().flatten();
    if expected.as_deref() != Some(creds.csrf_token.as_str()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    match auth.authenticate(creds).await {
        Ok(Some(user)) => {
            if auth.login(&user).await.is_err() {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            Redirect::to("/dashboard").into_response()
        }
        Ok(None) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn dashboard(auth: Auth) -> Response {
    match auth.user {
        Some(user) => {
            Html(format!("<!doctype html><title>Dashboard</title><h1>Welcome, {}</h1>", user.username))
                .into_response()
        }
        None => (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response(),
    }
}

async fn healthz(State(db): State<PgPool>) -> &'static str {
    let _ = sqlx::query("select 1").execute(&db).await;
    "ok"
}

fn main() {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Ok(n) = std::env::var("PEER_BLOCKING") {
        rt.max_blocking_threads(n.parse().unwrap());
    }
    rt.build().unwrap().block_on(real_main());
}

async fn real_main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = PgPoolOptions::new().max_connections(20).connect(&url).await.expect("connect");
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("seed") {
        sqlx::query("create table if not exists users (id bigserial primary key, username text unique not null, password_hash text not null)")
            .execute(&db).await.unwrap();
        let prefix = &args[2];
        let n: usize = args[3].parse().unwrap();
        use argon2::{Argon2, PasswordHasher};
        let hash = Argon2::default().hash_password(args[4].as_bytes()).unwrap().to_string();
        for i in 1..=n {
            sqlx::query("insert into users (username, password_hash) values ($1, $2)")
                .bind(format!("{prefix}{i}"))
                .bind(&hash)
                .execute(&db)
                .await
                .unwrap();
        }
        return;
    }
    let store = PostgresStore::new(db.clone());
    store.migrate().await.expect("migrate");
    let sessions = SessionManagerLayer::new(store)
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::days(1)));
    let auth = AuthManagerLayerBuilder::new(Backend { db: db.clone() }, sessions).build();
    let app = Router::new()
        .route("/login", get(login_form).post(login_submit))
        .route("/dashboard", get(dashboard))
        .layer(auth)
        .route("/healthz", get(healthz))
        .with_state(db);
    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:18600".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
