use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, SAFARI_ON_IPHONE, TestApp, TestClient, assert_redirects_to};

const NEW_PASSWORD: &str = "another long passphrase, fresh";

#[actix_web::test]
async fn the_account_page_has_email_password_sessions_events_and_delete() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;

    let page = client.get("/account").await;

    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "action=\"/account/email\"",
        "action=\"/account/password\"",
        "action=\"/account/delete\"",
        "This device",
        "Firefox on Linux",
        "Account created",
        "Logged in",
        "alice@example.com",
        "Not confirmed yet",
        "autocomplete=\"current-password\"",
        "autocomplete=\"new-password\"",
    ] {
        assert!(page.body.contains(needle), "missing {needle}");
    }
    assert_eq!(page.header("cache-control"), Some("no-store"));
}

#[actix_web::test]
async fn the_account_pages_need_a_login() {
    let app = TestApp::spawn().await;
    let client = app.client();
    assert_redirects_to(&client.get("/account").await, "/login?next=/account");
    assert_redirects_to(&client.get("/account/sessions").await, "/login?next=/account/sessions");
}

#[actix_web::test]
async fn a_wrong_current_password_is_a_422_on_that_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let wrong = "this is not my password";
    let attempts = [
        (
            "/account/email",
            vec![("email", "new@example.com"), ("current_password", wrong)],
            "email-current_password-error",
        ),
        (
            "/account/password",
            vec![
                ("current_password", wrong),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
            "password-current_password-error",
        ),
        ("/account/delete", vec![("current_password", wrong)], "delete-current_password-error"),
    ];
    for (action, fields, error_id) in attempts {
        let res = client.submit("/account", action, &fields).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        assert!(res.body.contains(&format!("id=\"{error_id}\"")), "{action}: field marked");
        assert!(res.body.contains("Your current password is not correct."), "{action}");
        assert!(!res.body.contains(wrong), "{action}: the password is not echoed");
    }
    assert_eq!(app.count_rows("users").await, 1);
    let page = client.get("/account").await.body;
    assert!(page.contains("alice@example.com") && !page.contains("Waiting for confirmation"));
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn changing_the_password_ends_every_other_session_and_renews_this_one() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let phone = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;
    let laptop_cookie_before = laptop.session_cookie().unwrap();

    let res = laptop
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;

    assert_redirects_to(&res, "/account");
    let page = laptop.get("/account").await;
    assert_eq!(page.status, StatusCode::OK, "this device stays logged in");
    assert!(page.body.contains("Every other device has been logged out."));
    assert!(page.body.contains("Password changed"), "the event is listed");
    assert_ne!(laptop.session_cookie().unwrap(), laptop_cookie_before, "with a new session key");
    assert_redirects_to(&phone.get("/dashboard").await, "/login?next=/dashboard");
    let old_key = app.client();
    old_key.set_cookie("gatehouse_session", &laptop_cookie_before);
    assert_redirects_to(&old_key.get("/dashboard").await, "/login?next=/dashboard");

    assert_eq!(app.client().log_in("alice", PASSWORD).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirects_to(&app.client().log_in("alice", NEW_PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn a_new_password_must_meet_the_policy_and_match_its_confirmation() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let too_short = client
        .submit(
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", "short"), ("new_password_confirm", "short")],
        )
        .await;
    assert_eq!(too_short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_short.body.contains("id=\"new_password-error\""));
    let mismatch = client
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", "something else"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.body.contains("id=\"new_password_confirm-error\""));
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn changing_the_email_checks_uniqueness_and_waits_for_the_new_address() {
    let app = TestApp::spawn().await;
    app.logged_in_client("bob").await;
    let client = app.logged_in_client("alice").await;

    let taken = client
        .submit("/account", "/account/email", &[("email", "BOB@example.com"), ("current_password", PASSWORD)])
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.body.contains("An account with this email address already exists."));
    assert!(taken.body.contains("value=\"BOB@example.com\""), "what was typed is kept");

    let invalid = client
        .submit("/account", "/account/email", &[("email", "not an address"), ("current_password", PASSWORD)])
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);

    let requested = client
        .submit(
            "/account",
            "/account/email",
            &[("email", "Alice.New@Example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_redirects_to(&requested, "/account");
    let page = client.get("/account").await;
    assert!(page.body.contains("We sent a link to alice.new@example.com."), "{}", page.body);
    assert!(page.body.contains("Waiting for confirmation"));
    // Until the link is opened, the old address is the account's.
    assert_redirects_to(&app.client().log_in("alice@example.com", PASSWORD).await, "/dashboard");
    assert_eq!(
        app.client().log_in("alice.new@example.com", PASSWORD).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn deleting_the_account_removes_it_and_logs_out_every_device() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let phone = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;
    app.logged_in_client("bob").await;
    let issued =
        gatehouse::auth::reset::request(&app.db, &app.clock, &app.settings.throttle, "alice@example.com");
    assert!(matches!(issued.await.unwrap(), gatehouse::auth::reset::Requested::Issued(_)));

    let res = laptop.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;

    assert_redirects_to(&res, "/");
    let home = laptop.get("/").await;
    assert!(home.body.contains("Your account has been deleted."));
    assert!(home.body.contains("href=\"/login\""), "anonymous now");
    assert_redirects_to(&phone.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.count_rows("users").await, 1, "only bob is left");
    assert_eq!(app.count_rows("password_reset_tokens").await, 0, "tokens cascade");
    let bob = app.user_id("bob").await;
    let sessions = app.count_rows("sessions").await;
    let bobs = gatehouse::db::sessions::list_for_user(&app.db, bob).await.unwrap().len() as i64;
    assert_eq!(sessions, bobs, "no session of alice's is left");
    assert_eq!(app.client().log_in("alice", PASSWORD).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}
