use actix_web::{cookie::SameSite, http::StatusCode};

use crate::helpers::{PASSWORD, TestApp, assert_redirects_to};

#[actix_web::test]
async fn the_session_cookie_is_opaque_http_only_lax_and_host_wide_over_http() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let res = app.client().log_in("alice", PASSWORD).await;

    let cookie = res.set_cookie("gatehouse_session").expect("a session cookie at login");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert_ne!(cookie.secure(), Some(true), "plain http would drop a Secure cookie");
    assert_eq!(cookie.max_age(), None, "a browser-session cookie without remember-me");
    // Encrypted random key: nothing readable, and no structure that could carry the user id.
    assert!(cookie.value().len() >= 40);
    for secret in ["alice", "example.com", "user_id", "identity", "{", ":"] {
        assert!(!cookie.value().contains(secret), "the cookie must not reveal {secret}");
    }
}

/// Everything a reader without the key could get out of a cookie value: the value itself, and what
/// base64 decoding yields from any offset (a signed cookie is a signature followed by the value).
fn readable(value: &str) -> String {
    use base64::Engine as _;
    let mut text = value.to_owned();
    for offset in 0..value.len().min(64) {
        for engine in
            [&base64::engine::general_purpose::URL_SAFE_NO_PAD, &base64::engine::general_purpose::STANDARD]
        {
            if let Ok(bytes) = engine.decode(&value[offset..]) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    text
}

#[actix_web::test]
async fn the_device_and_flash_cookies_tell_nothing_about_the_account_either() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let id = app.user_id("alice").await;
    let device = alice.cookie("gatehouse_device").expect("a device cookie at login");
    assert!(
        !readable(&device).contains(&format!("{id}.0.")),
        "the device cookie names the account: {device}"
    );

    let res = alice
        .submit(
            "/account",
            "/account/email",
            &[("email", "alice.new@example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_redirects_to(&res, "/account");
    let flash = alice.cookie("gatehouse_flash").expect("a flash cookie");
    assert!(!readable(&flash).contains("alice.new"), "the flash cookie shows the address: {flash}");
    assert!(
        alice.get("/account").await.body.contains("alice.new@example.com"),
        "and the message still shows"
    );
}

#[actix_web::test]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("PUBLIC_URL", "https://localhost:8080".to_owned());
    })
    .await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client
        .post_form_with(
            "/register",
            &[
                ("username", "alice"),
                ("email", "alice@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("csrf_token", &token),
            ],
            &[("Origin", "https://localhost:8080")],
        )
        .await;
    assert_redirects_to(&res, "/dashboard");
    let cookie = res.set_cookie("__Host-gatehouse_session").expect("__Host- prefixed cookie");
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert!(res.header("strict-transport-security").is_some());
}

#[actix_web::test]
async fn the_sessions_table_stores_only_a_hash_of_the_cookie_key() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let id = app.user_id("alice").await;
    let rows = gatehouse::db::sessions::list_for_user(&app.db, id).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.key_hash.len(), 64);
    assert!(!client.session_cookie().unwrap().contains(&row.key_hash));
    assert_eq!(row.ip.as_deref(), Some("203.0.113.7"));
    assert!(row.user_agent.as_deref().unwrap().contains("Firefox"));
}

#[actix_web::test]
async fn a_session_idle_longer_than_the_timeout_is_anonymous_and_its_row_removed() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SESSION_IDLE_TIMEOUT", "30m".to_owned());
    })
    .await;
    let client = app.logged_in_client("alice").await;
    app.clock.advance(std::time::Duration::from_secs(29 * 60));
    assert_eq!(client.get("/dashboard").await.status, StatusCode::OK, "still within the idle timeout");

    app.clock.advance(std::time::Duration::from_secs(31 * 60));

    let expired = client.get("/dashboard").await;
    assert_redirects_to(&expired, "/login?next=/dashboard");
    assert!(expired.set_cookie("gatehouse_session").is_some(), "the expired session's cookie is removed");
    assert_eq!(client.session_cookie(), None);
    let id = app.user_id("alice").await;
    assert!(gatehouse::db::sessions::list_for_user(&app.db, id).await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_session_in_use_outlives_a_short_idle_timeout() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SESSION_IDLE_TIMEOUT", "1m".to_owned());
    })
    .await;
    let client = app.logged_in_client("alice").await;
    // Used every 15 s for two minutes: never idle for its minute, whenever its last use was written.
    for step in 1..=8 {
        app.clock.advance(std::time::Duration::from_secs(15));
        assert_eq!(client.get("/dashboard").await.status, StatusCode::OK, "after {} s", step * 15);
    }
    app.clock.advance(std::time::Duration::from_secs(61));
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn a_session_older_than_the_max_age_is_anonymous_even_if_used() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SESSION_MAX_AGE", "2h".to_owned());
    })
    .await;
    let client = app.logged_in_client("alice").await;
    for _ in 0..3 {
        app.clock.advance(std::time::Duration::from_secs(50 * 60));
        client.get("/").await;
    }
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn a_cookie_with_a_forged_value_is_ignored_not_an_error() {
    let app = TestApp::spawn().await;
    let client = app.client();
    client.set_cookie("gatehouse_session", "forged-value-that-is-not-encrypted");
    let res = client.get("/dashboard").await;
    assert_redirects_to(&res, "/login?next=/dashboard");
}
