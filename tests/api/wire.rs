//! What only a real socket shows: raw request lines that no HTTP client library has normalised
//! (`/%6cogout` stays `/%6cogout` on the wire), and `HEAD` answers whose body the server drops.

use crate::helpers::{ORIGIN, TestServer};

/// Every route that changes state, with the path segments a real request uses.
const STATE_CHANGING: &[&str] = &[
    "/register",
    "/login",
    "/logout",
    "/password-reset",
    "/password-reset/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "/account/email",
    "/account/password",
    "/account/delete",
    "/account/sessions/revoke-others",
    "/account/sessions/SESSION/revoke",
];

/// Spellings of `path` that the router may take for the same route: percent-encoded letters (lower
/// and upper case hex), an encoded slash, doubled slashes, a trailing slash, dot segments (plain and
/// encoded) and mixed case.
fn spellings(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let encode_first = |upper: bool| {
        let encoded: Vec<String> = segments
            .iter()
            .map(|segment| {
                let mut chars = segment.chars();
                let first = chars.next().unwrap();
                let hex =
                    if upper { format!("%{:02X}", first as u32) } else { format!("%{:02x}", first as u32) };
                format!("{hex}{}", chars.as_str())
            })
            .collect();
        format!("/{}", encoded.join("/"))
    };
    let mut variants = vec![
        encode_first(false),
        encode_first(true),
        format!("//{}", segments.join("//")),
        format!("{path}/"),
        format!("/x/..{path}"),
        format!("/./{}", segments.join("/./")),
        format!("/x/%2e%2e{path}"),
        format!("/x/%2E%2E{path}"),
        path.to_ascii_uppercase(),
        format!("{path}?"),
        format!("{path}%3F"),
        format!("{path}%00"),
        format!("{path};"),
        format!("{path}#"),
    ];
    if segments.len() > 1 {
        variants.push(format!("/{}", segments.join("%2F")));
        variants.push(format!("/{}", segments.join("%2f")));
    }
    variants
}

async fn session_public_ids(server: &TestServer) -> Vec<String> {
    use sea_orm::EntityTrait as _;
    entity::sessions::Entity::find().all(&server.db).await.unwrap().into_iter().map(|s| s.public_id).collect()
}

async fn count(server: &TestServer, table: &str) -> i64 {
    use sea_orm::{ConnectionTrait as _, Statement};
    let backend = server.db.get_database_backend();
    let statement = Statement::from_string(backend, format!("SELECT COUNT(*) AS n FROM {table}"));
    server.db.query_one_raw(statement).await.unwrap().unwrap().try_get::<i64>("", "n").unwrap()
}

#[actix_web::test]
async fn encoded_paths_reach_the_same_handlers_so_the_csrf_test_below_means_something() {
    let server = TestServer::spawn().await;
    let cookie = server.register("alice").await;

    let page = server.send("GET", "/%64ashboard", Some(&cookie), &[], "").await;
    assert_eq!(page.status, 200, "the router decodes %64 to d");
    assert!(page.body_text().contains("Welcome, alice"));

    // With the token, an encoded path is an ordinary logout: the check, not the routing, refuses.
    let token = page.csrf_token().unwrap();
    let body = format!("csrf_token={token}");
    let res = server.send("POST", "/%6cogout", Some(&cookie), &[("Origin", ORIGIN)], &body).await;
    assert_eq!(res.status, 303, "{}", res.body_text());
    assert_eq!(server.send("GET", "/dashboard", Some(&cookie), &[], "").await.status, 303);
}

#[actix_web::test]
async fn no_spelling_of_a_state_changing_path_skips_the_csrf_check() {
    let server = TestServer::spawn().await;
    let victim = server.register("victim").await;
    let sessions_before = session_public_ids(&server).await;
    let own_session = sessions_before[0].clone();
    let (users, events) = (count(&server, "users").await, count(&server, "audit_events").await);
    let body = "login=victim&password=a+long+and+unusual+passphrase&username=mallory&email=m%40example.com\
                &current_password=a+long+and+unusual+passphrase&new_password=another+long+passphrase+here\
                &new_password_confirm=another+long+passphrase+here&password_confirm=a+long+and+unusual+passphrase";

    let mut tried = 0;
    for route in STATE_CHANGING {
        let path = route.replace("SESSION", &own_session);
        for spelling in spellings(&path) {
            for origin in [None, Some("https://evil.example")] {
                let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
                for cookie in [Some(victim.as_str()), None] {
                    let res = server.send("POST", &spelling, cookie, &headers, body).await;
                    tried += 1;
                    assert!(
                        res.status == 403 || res.status == 400,
                        "POST {spelling} without a token (origin {origin:?}, cookie: {}) answered {}",
                        cookie.is_some(),
                        res.status
                    );
                }
            }
        }
    }
    assert!(tried > 400, "only {tried} requests were tried");

    assert_eq!(count(&server, "users").await, users, "nobody registered and nobody was deleted");
    assert_eq!(count(&server, "audit_events").await, events, "no security event happened");
    assert_eq!(
        session_public_ids(&server).await,
        sessions_before,
        "no session was created, ended or revoked"
    );
    let dashboard = server.send("GET", "/dashboard", Some(&victim), &[], "").await;
    assert_eq!(dashboard.status, 200, "the victim is still logged in");
}

#[actix_web::test]
async fn every_unsafe_method_is_checked_even_on_paths_that_do_not_exist() {
    let server = TestServer::spawn().await;
    let cookie = server.register("alice").await;
    for method in ["POST", "PUT", "PATCH", "DELETE", "CONNECTED", "FOO"] {
        for path in ["/no/such/form", "/logout", "/%6cogout", "/account"] {
            let res =
                server.send(method, path, Some(&cookie), &[("Origin", "https://evil.example")], "").await;
            assert_eq!(res.status, 403, "{method} {path}");
        }
    }
    assert_eq!(server.send("GET", "/dashboard", Some(&cookie), &[], "").await.status, 200);
}

/// GET routes to compare, with whether they need the logged-in cookie.
const GET_ROUTES: &[(&str, bool)] = &[
    ("/", false),
    ("/", true),
    ("/login", false),
    ("/register", false),
    ("/password-reset", false),
    ("/healthz", false),
    ("/static/style.css", false),
    ("/favicon.ico", false),
    ("/dashboard", false),
    ("/dashboard", true),
    ("/account", true),
    ("/account/sessions", true),
    ("/no/such/page", false),
    ("/logout", true),
];

#[actix_web::test]
async fn head_answers_like_get_without_a_body_on_every_route() {
    let server = TestServer::spawn().await;
    let cookie = server.register("alice").await;
    for (path, logged_in) in GET_ROUTES {
        let cookie = logged_in.then_some(cookie.as_str());
        let get = server.send("GET", path, cookie, &[], "").await;
        let head = server.send("HEAD", path, cookie, &[], "").await;
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} sent a body");
        for name in ["content-type", "cache-control", "location", "allow"] {
            assert_eq!(head.header(name), get.header(name), "HEAD {path}: {name}");
        }
        assert!(head.header("x-request-id").is_some(), "HEAD {path}: x-request-id");
    }
}

#[actix_web::test]
async fn a_head_pipelined_before_a_get_sends_no_body_and_the_get_sends_its_own() {
    let server = TestServer::spawn().await;
    let host = server.addr;
    let pipelined = format!(
        "HEAD /register HTTP/1.1\r\nHost: {host}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let first = server.raw(pipelined.as_bytes()).await;
    assert_eq!(first.status, 200);
    let rest = String::from_utf8_lossy(&first.body).into_owned();
    assert!(
        rest.starts_with("HTTP/1.1 200"),
        "the HEAD answer ends at its headers; then comes the GET's: {rest:?}"
    );
    assert!(rest.ends_with("\r\n\r\nok"), "the GET answer carries its body: {rest:?}");
}

#[actix_web::test]
async fn a_nul_byte_in_the_target_or_a_form_is_a_400_never_a_500() {
    let server = TestServer::spawn().await;
    let cookie = server.register("alice").await;
    let token = server.send("GET", "/account", Some(&cookie), &[], "").await.csrf_token().unwrap();
    for target in ["/?x=%00", "/password-reset/%00", "/account/sessions/%00/revoke", "/%00"] {
        let res = server.send("GET", target, Some(&cookie), &[], "").await;
        assert_eq!(res.status, 400, "GET {target}");
    }
    let revoke = server
        .send(
            "POST",
            "/account/sessions/%00/revoke",
            Some(&cookie),
            &[("Origin", ORIGIN)],
            &format!("csrf_token={token}"),
        )
        .await;
    assert_eq!(revoke.status, 400);
    let login = server
        .send(
            "POST",
            "/login",
            None,
            &[("Origin", ORIGIN)],
            "login=a%00b&password=xxxxxxxxxxxxxxxxxxxx&csrf_token=x",
        )
        .await;
    assert_eq!(login.status, 400, "{}", login.body_text());
    assert_eq!(server.send("GET", "/dashboard", Some(&cookie), &[], "").await.status, 200);
}

#[actix_web::test]
async fn a_body_that_never_arrives_is_a_408_not_a_held_worker() {
    let server = TestServer::spawn().await;
    let started = std::time::Instant::now();
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {}\r\nOrigin: {ORIGIN}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 10\r\nConnection: close\r\n\r\n",
        server.addr
    );
    let res = server.raw(request.as_bytes()).await;
    assert_eq!(res.status, 408, "{}", res.body_text());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[actix_web::test]
async fn the_favicon_is_an_icon() {
    let server = TestServer::spawn().await;
    let res = server.send("GET", "/favicon.ico", None, &[], "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("image/x-icon"));
    assert_eq!(&res.body[..4], &[0, 0, 1, 0], "an ICO header");
    assert_eq!(res.header("set-cookie"), None, "an asset creates no session");
}
