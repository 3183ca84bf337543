use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp, assert_redirects_to};

const THIRTY_DAYS: i64 = 30 * 24 * 3600;

#[actix_web::test]
async fn remember_me_gives_a_30_day_cookie_for_a_listed_revocable_server_session() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let client = app.client();

    let res = client.log_in_remembered("alice", PASSWORD).await;

    assert_redirects_to(&res, "/dashboard");
    let cookie = res.set_cookie("gatehouse_session").expect("session cookie");
    assert_eq!(cookie.max_age().map(|age| age.whole_seconds()), Some(THIRTY_DAYS));
    assert_eq!(cookie.http_only(), Some(true));
    let sessions = client.get("/account/sessions").await;
    assert!(sessions.body.contains("Remembered"));

    let stolen = client.session_cookie().unwrap();
    client.log_out().await;
    let replay = app.client();
    replay.set_cookie("gatehouse_session", &stolen);
    assert_redirects_to(&replay.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn without_remember_me_the_cookie_ends_with_the_browser() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let res = app.client().log_in("alice", PASSWORD).await;
    assert_eq!(res.set_cookie("gatehouse_session").unwrap().max_age(), None);
}

#[actix_web::test]
async fn a_remembered_session_keeps_its_30_days_when_its_key_is_renewed() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let client = app.client();
    client.log_in_remembered("alice", PASSWORD).await;
    let new_password = "a brand new long passphrase";

    let res = client
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("new_password_confirm", new_password),
            ],
        )
        .await;

    assert_redirects_to(&res, "/account");
    let cookie = res.set_cookie("gatehouse_session").expect("a renewed session cookie");
    assert_eq!(cookie.max_age().map(|age| age.whole_seconds()), Some(THIRTY_DAYS));
}

#[actix_web::test]
async fn a_remembered_session_outlives_the_idle_timeout_but_not_30_days() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let client = app.client();
    client.log_in_remembered("alice", PASSWORD).await;

    app.clock.advance(std::time::Duration::from_secs(3 * 24 * 3600));
    assert_eq!(client.get("/dashboard").await.status, StatusCode::OK, "the browser was closed for days");

    app.clock.advance(std::time::Duration::from_secs(28 * 24 * 3600));
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
}
