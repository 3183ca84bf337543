use actix_web::http::StatusCode;

use crate::helpers::{ORIGIN, PASSWORD, TestApp, assert_redirects_to};

fn registration(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("username", "mallory".to_owned()),
        ("email", "mallory@example.com".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("password_confirm", PASSWORD.to_owned()),
        ("csrf_token", token.to_owned()),
    ]
}

fn refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[actix_web::test]
async fn a_post_without_a_token_is_refused_with_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client();
    client.get("/register").await;
    let mut fields = registration("");
    fields.pop();

    let res = client.post_form("/register", &refs(&fields)).await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("Reload the page and try again."), "{}", res.body);
    assert_eq!(app.count_rows("users").await, 0);
}

#[actix_web::test]
async fn a_token_from_another_session_is_refused() {
    let app = TestApp::spawn().await;
    let attacker = app.client();
    let attackers_token = attacker.csrf_token("/register").await;
    let victim = app.client();
    victim.get("/register").await;

    let res = victim.post_form("/register", &refs(&registration(&attackers_token))).await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count_rows("users").await, 0);
}

#[actix_web::test]
async fn a_token_without_a_session_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.client().csrf_token("/login").await;
    let cookieless = app.client();
    let res =
        cookieless.post_form("/login", &[("login", "a"), ("password", "b"), ("csrf_token", &token)]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_post_from_another_origin_is_refused_even_with_a_valid_token() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;

    let res = client
        .post_form_with("/register", &refs(&registration(&token)), &[("Origin", "https://evil.example")])
        .await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count_rows("users").await, 0);
}

#[actix_web::test]
async fn a_post_whose_referer_is_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client
        .post_form_with(
            "/register",
            &refs(&registration(&token)),
            &[("Referer", "http://localhost:8080.evil.example/")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_same_origin_post_with_the_sessions_token_is_accepted() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client
        .post_form_with(
            "/register",
            &refs(&registration(&token)),
            &[("Origin", ORIGIN), ("Referer", "http://localhost:8080/register")],
        )
        .await;
    assert_redirects_to(&res, "/dashboard");
}

#[actix_web::test]
async fn logging_in_and_out_need_the_token_too() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let logout = client.post_form("/logout", &[]).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    assert_eq!(client.get("/dashboard").await.status, StatusCode::OK, "still logged in");

    let other = app.client();
    other.get("/login").await;
    let login = other.post_form("/login", &[("login", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_token_seen_before_login_is_worthless_after_it() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let client = app.client();
    let old_token = client.csrf_token("/login").await;
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");

    let res = client.post_form("/logout", &[("csrf_token", &old_token)]).await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_same_origin_referer_without_origin_is_accepted() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client
        .post_form_with(
            "/register",
            &refs(&registration(&token)),
            &[("Referer", "http://localhost:8080/register")],
        )
        .await;
    assert_redirects_to(&res, "/dashboard");
}

#[actix_web::test]
async fn an_opaque_null_origin_is_refused() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client.post_form_with("/register", &refs(&registration(&token)), &[("Origin", "null")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_refusal_is_json_for_a_json_only_client() {
    let app = TestApp::spawn().await;
    let client = app.client();
    client.get("/login").await;
    let res = client
        .post_form_with("/login", &[("login", "a")], &[("Origin", ORIGIN), ("Accept", "application/json")])
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["status"], 403);
}

#[actix_web::test]
async fn a_post_to_a_path_that_does_not_exist_is_a_404_not_a_csrf_refusal() {
    let app = TestApp::spawn().await;
    let res = app.client().post_form("/no/such/form", &[("x", "1")]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_form_content_type_is_recognised_in_any_case() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let body = serde_urlencoded::to_string(refs(&registration(&token))).unwrap();
    let res = client
        .post_raw("/register", "Application/X-WWW-Form-Urlencoded", body.into_bytes(), &[("Origin", ORIGIN)])
        .await;
    assert_redirects_to(&res, "/dashboard");
}
