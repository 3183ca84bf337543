use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp};

/// Words that would reveal the stack to a visitor.
const INTERNALS: &[&str] =
    &["actix", "sqlx", "sea_orm", "SeaORM", "panicked", "SELECT", "stack backtrace", "tera"];

#[track_caller]
fn assert_no_internals(body: &str) {
    for word in INTERNALS {
        assert!(!body.contains(word), "error page reveals {word:?}: {body}");
    }
}

#[actix_web::test]
async fn an_unknown_path_is_a_404_page_in_the_apps_look() {
    let app = TestApp::spawn().await;
    let res = app.client().get("/no/such/page").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
    assert!(res.body.contains("Page not found"));
    assert!(res.body.contains("href=\"/static/style.css\""), "the layout is used");
    assert_no_internals(&res.body);
}

#[actix_web::test]
async fn a_json_only_client_gets_a_json_error() {
    let app = TestApp::spawn().await;
    let res = app.client().get_with("/no/such/page", &[("Accept", "application/json")]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"], "Page not found");
}

#[actix_web::test]
async fn a_browser_accepting_html_and_json_gets_html() {
    let app = TestApp::spawn().await;
    let res =
        app.client().get_with("/nope", &[("Accept", "text/html,application/json;q=0.9,*/*;q=0.8")]).await;
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
}

#[actix_web::test]
async fn accept_is_read_without_regard_to_case_or_parameters() {
    let app = TestApp::spawn().await;
    for accept in ["APPLICATION/JSON", "Application/Json; charset=utf-8", " application/json;q=1"] {
        let res = app.client().get_with("/nope", &[("Accept", accept)]).await;
        assert_eq!(res.header("content-type"), Some("application/json"), "Accept: {accept}");
    }
    // Another media type that merely starts the same is not JSON.
    let res = app.client().get_with("/nope", &[("Accept", "application/jsonl")]).await;
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
}

#[actix_web::test]
async fn a_quality_of_zero_refuses_a_media_type() {
    let app = TestApp::spawn().await;
    for accept in
        ["application/json, text/html;q=0", "application/json, */*;q=0", "application/json, text/*;q=0"]
    {
        let res = app.client().get_with("/nope", &[("Accept", accept)]).await;
        assert_eq!(res.header("content-type"), Some("application/json"), "Accept: {accept}");
    }
    // Refusing JSON itself, or a more specific range accepting HTML again, keeps the page.
    for accept in ["application/json;q=0", "application/json, */*;q=0, text/*;q=0.2"] {
        let res = app.client().get_with("/nope", &[("Accept", accept)]).await;
        assert!(res.header("content-type").unwrap().starts_with("text/html"), "Accept: {accept}");
    }
    // The most specific range decides, whatever the order.
    let res = app.client().get_with("/nope", &[("Accept", "text/html;q=0, */*, application/json")]).await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    // Every Accept line counts, as one list: the second one's HTML is acceptable.
    let two_lines = app.client().with_header("Accept", "application/json").with_header("Accept", "text/html");
    assert!(two_lines.get("/nope").await.header("content-type").unwrap().starts_with("text/html"));
    // The same reading for the logged-in guard: 401 JSON, not the login redirect.
    let res = app.client().get_with("/dashboard", &[("Accept", "application/json, text/html;q=0")]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn get_logout_is_a_json_405_for_a_json_only_client() {
    let app = TestApp::spawn().await;
    let res = app.client().get_with("/logout", &[("Accept", "application/json")]).await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("allow"), Some("POST"));
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["status"], 405);
    assert_eq!(body["error"], "Method not allowed");
    assert_eq!(body["request_id"].as_str(), res.header("x-request-id"), "as every JSON error");
}

#[actix_web::test]
async fn a_body_over_the_form_limit_is_a_413_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let huge = "x".repeat(70 * 1024);
    let res = client
        .post_form(
            "/register",
            &[("username", "bob"), ("email", "bob@example.com"), ("password", &huge), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.body.contains("Request too large"));
    assert_eq!(app.count_rows("users").await, 0);
}

#[actix_web::test]
async fn a_body_that_is_not_a_form_is_a_400() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/login").await;
    let res = client
        .post_raw(
            "/login",
            "application/json",
            br#"{"login":"a","password":"b"}"#.to_vec(),
            &[("Origin", crate::helpers::ORIGIN), ("X-CSRF-Token", &token)],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("Bad request"));
    assert_no_internals(&res.body);
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    for path in ["/", "/login", "/dashboard", "/healthz", "/nope", "/static/style.css"] {
        let res = client.get(path).await;
        let csp = res.header("content-security-policy").unwrap_or_else(|| panic!("no CSP on {path}"));
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(res.header("referrer-policy"), Some("same-origin"), "{path}");
        assert!(res.header("x-request-id").is_some(), "{path}");
    }
}

#[actix_web::test]
async fn pages_with_account_data_are_not_cached_but_the_stylesheet_is() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    for path in ["/", "/dashboard", "/login"] {
        assert_eq!(client.get(path).await.header("cache-control"), Some("no-store"), "{path}");
    }
    let css = client.get("/static/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("cache-control").unwrap().contains("max-age"));
}

#[actix_web::test]
async fn the_landing_page_shows_log_in_or_the_users_name_and_dashboard() {
    let app = TestApp::spawn().await;
    let anonymous = app.client().get("/").await;
    assert!(anonymous.body.contains("href=\"/login\"") && anonymous.body.contains("href=\"/register\""));
    assert!(!anonymous.body.contains("href=\"/dashboard\""));

    let client = app.client();
    client.register("alice", "alice@example.com", PASSWORD).await;
    let home = client.get("/").await;
    assert!(home.body.contains("alice") && home.body.contains("href=\"/dashboard\""));
    assert!(!home.body.contains("href=\"/register\""));
}

#[actix_web::test]
async fn an_anonymous_landing_page_view_creates_no_session() {
    let app = TestApp::spawn().await;
    let res = app.client().get("/").await;
    assert!(res.set_cookie("gatehouse_session").is_none());
    assert_eq!(app.count_rows("sessions").await, 0);
}

#[actix_web::test]
async fn a_server_fault_is_a_500_page_with_the_logged_request_id_and_no_internals() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    // A fault that is not an outage: the users table is not where the loader looks for it.
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared("ALTER TABLE users RENAME TO users_elsewhere").await.unwrap();

    let res = client.get("/dashboard").await;

    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.body.contains("Something went wrong"));
    let id = res.header("x-request-id").expect("request id header").to_owned();
    assert!(res.body.contains(&id), "the page shows the request id of the log line");
    assert_no_internals(&res.body);
    assert!(!res.body.contains("users"), "no table names");

    let json = client.get_with("/dashboard", &[("Accept", "application/json")]).await;
    assert_eq!(json.status, StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(body["request_id"], json.header("x-request-id").unwrap());
}

#[actix_web::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let answers = [
        client.get("/").await,
        client.get("/no/such/page").await,
        client.post_form("/logout", &[]).await,
        client.get("/dashboard").await,
        client.get("/static/style.css").await,
    ];
    let mut ids = std::collections::HashSet::new();
    for res in &answers {
        let id = res.header("x-request-id").unwrap_or_else(|| panic!("no X-Request-Id on a {}", res.status));
        assert_eq!(id.len(), 16, "{id}");
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), answers.len(), "each request has its own id");
}
