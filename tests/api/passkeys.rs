//! Passkeys over HTTP: the pages and JSON endpoints, CSRF, and every way a ceremony can be refused.
//! A whole registration and sign-in with a real authenticator is in tests/browser (Chromium's
//! virtual authenticator).

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORIGIN, PASSWORD, TestApp, TestClient, TestResponse, assert_redirects_to};

/// The token the page hands its script (`data-csrf-token`).
async fn page_token(client: &TestClient, page: &str) -> String {
    let res = client.get(page).await;
    let marker = "data-csrf-token=\"";
    let start = res.body.find(marker).unwrap_or_else(|| panic!("no data-csrf-token on {page}: {}", res.body))
        + marker.len();
    let end = res.body[start..].find('"').unwrap() + start;
    res.body[start..end].to_owned()
}

async fn post_json(
    client: &TestClient,
    path: &str,
    token: Option<&str>,
    origin: &str,
    body: &Value,
) -> TestResponse {
    let mut headers = vec![("Origin", origin), ("Accept", "application/json")];
    if let Some(token) = token {
        headers.push(("X-CSRF-Token", token));
    }
    client.post_raw(path, "application/json", body.to_string().into_bytes(), &headers).await
}

fn json_of(res: &TestResponse) -> Value {
    serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("not JSON ({}): {}", res.status, res.body))
}

#[track_caller]
fn assert_refused(res: &TestResponse, status: StatusCode, words: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    let error = json_of(res)["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains(words), "the error {error:?} should say {words:?}");
}

/// A credential that parses as WebAuthn JSON but was signed by nobody.
fn forged_assertion() -> Value {
    json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": {
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MdAAAAAA",
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
            "signature": "MEUCIQ",
            "userHandle": "AAAAAAAAAAAAAAAAAAAAAA"
        }
    })
}

fn forged_registration() -> Value {
    json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": { "attestationObject": "o2NmbXRkbm9uZQ", "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0" }
    })
}

async fn store_passkey(app: &TestApp, username: &str, name: &str) -> i64 {
    let user_id = app.user_id(username).await;
    let credential_id = format!("cred-{username}-{name}");
    gatehouse::db::passkeys::insert(&app.db, user_id, credential_id, "{}".to_owned(), name, app.clock.now())
        .await
        .unwrap()
        .id
}

#[actix_web::test]
async fn the_passkeys_page_and_its_endpoints_need_a_login() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    assert_redirects_to(&visitor.get("/account/passkeys").await, "/login?next=/account/passkeys");
    let token = page_token(&visitor, "/login").await;
    let res = post_json(
        &visitor,
        "/account/passkeys/options",
        Some(&token),
        ORIGIN,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_ne!(res.status, StatusCode::OK);
    assert_eq!(app.count_rows("passkeys").await, 0);
}

#[actix_web::test]
async fn registration_options_name_this_site_and_ask_for_a_discoverable_credential() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let page = alice.get("/account/passkeys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Add a passkey") && page.body.contains("/static/passkeys.js"));
    assert!(page.body.contains("You have no passkeys yet."));
    let token = page_token(&alice, "/account/passkeys").await;

    let res = post_json(
        &alice,
        "/account/passkeys/options",
        Some(&token),
        ORIGIN,
        &json!({"current_password": PASSWORD}),
    )
    .await;

    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let options = json_of(&res);
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["user"]["name"], "alice");
    assert!(public_key["challenge"].as_str().is_some_and(|c| c.len() >= 43), "a 256-bit challenge");
    assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
    let again = json_of(
        &post_json(
            &alice,
            "/account/passkeys/options",
            Some(&token),
            ORIGIN,
            &json!({"current_password": PASSWORD}),
        )
        .await,
    );
    assert_ne!(
        again["publicKey"]["challenge"], public_key["challenge"],
        "every ceremony has its own challenge"
    );
}

#[actix_web::test]
async fn sign_in_options_cost_a_visitor_no_session_row_and_no_write() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    let login = visitor.get("/login").await;
    assert!(login.body.contains("autocomplete=\"username webauthn\""));
    assert!(login.body.contains("id=\"passkey-login\""), "the passkey button is on the page");
    assert!(login.body.contains("Sign in with a passkey"));
    let token = page_token(&visitor, "/login").await;
    app.statements.reset();

    let res = post_json(&visitor, "/login/passkey/options", Some(&token), ORIGIN, &json!({})).await;

    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let options = json_of(&res);
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    assert!(options["publicKey"]["challenge"].as_str().is_some_and(|c| c.len() >= 43));
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]), "discoverable: no credential list");
    assert_eq!(app.statements.count(), 0, "{:?}", app.statements.sql());
    assert_eq!(app.count_rows("sessions").await, 0);
    assert!(visitor.cookie("gatehouse_passkey").is_some(), "the state travels in a sealed cookie");
    let cookie = res.set_cookie("gatehouse_passkey").unwrap();
    assert!(cookie.http_only().unwrap_or(false));
    assert!(cookie.max_age().is_some_and(|age| age.whole_seconds() <= 300));
}

#[actix_web::test]
async fn json_posts_without_the_token_or_from_another_origin_are_refused() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    let token = page_token(&visitor, "/login").await;
    for path in ["/login/passkey/options", "/login/passkey"] {
        let res = post_json(&visitor, path, None, ORIGIN, &json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path} without a token");
        let res = post_json(&visitor, path, Some(&token), "https://evil.example", &json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path} from another origin");
        let res = post_json(&visitor, path, Some("0123456789abcdef"), ORIGIN, &json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path} with a wrong token");
    }
    let alice = app.logged_in_client("alice").await;
    let token = page_token(&alice, "/account/passkeys").await;
    for path in ["/account/passkeys/options", "/account/passkeys/add"] {
        assert_eq!(post_json(&alice, path, None, ORIGIN, &json!({})).await.status, StatusCode::FORBIDDEN);
        let res = post_json(&alice, path, Some(&token), "https://evil.example", &json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
    }
    assert!(visitor.cookie("gatehouse_passkey").is_none(), "no challenge was handed out");
}

#[actix_web::test]
async fn forged_or_garbled_registrations_are_refused_clearly_and_store_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let token = page_token(&alice, "/account/passkeys").await;
    let add = |body: Value| {
        let (alice, token) = (&alice, token.clone());
        async move { post_json(alice, "/account/passkeys/add", Some(&token), ORIGIN, &body).await }
    };

    // No registration under way.
    let res = add(json!({ "name": "x", "credential": forged_registration() })).await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "expired");

    for body in [
        json!({ "name": "x", "credential": forged_registration() }),
        json!({ "name": "x", "credential": { "id": 5 } }),
        json!({ "nothing": true }),
        json!("a string"),
    ] {
        post_json(
            &alice,
            "/account/passkeys/options",
            Some(&token),
            ORIGIN,
            &json!({"current_password": PASSWORD}),
        )
        .await;
        let res = add(body.clone()).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert!(json_of(&res)["error"].as_str().is_some(), "{body}: a message for the script");
    }
    post_json(
        &alice,
        "/account/passkeys/options",
        Some(&token),
        ORIGIN,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    let res = alice
        .post_raw(
            "/account/passkeys/add",
            "application/json",
            b"{not json".to_vec(),
            &[("Origin", ORIGIN), ("X-CSRF-Token", &token)],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count_rows("passkeys").await, 0);
}

#[actix_web::test]
async fn forged_assertions_are_refused_clearly_and_log_nobody_in() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await.log_out().await;
    let visitor = app.client();
    let token = page_token(&visitor, "/login").await;

    for credential in [forged_assertion(), json!({ "id": [] }), json!(null)] {
        post_json(&visitor, "/login/passkey/options", Some(&token), ORIGIN, &json!({})).await;
        let res =
            post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &json!({ "credential": credential }))
                .await;
        assert!(res.status.is_client_error(), "{credential}: {} {}", res.status, res.body);
        assert!(json_of(&res)["error"].as_str().is_some());
        assert!(
            res.set_cookie("gatehouse_passkey").is_some_and(|c| c.value().is_empty()),
            "the challenge is dropped"
        );
    }
    let res = visitor
        .post_raw(
            "/login/passkey",
            "application/json",
            b"]]".to_vec(),
            &[("Origin", ORIGIN), ("X-CSRF-Token", &token)],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_redirects_to(&visitor.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.count_rows("sessions").await, 0);
}

#[actix_web::test]
async fn a_sign_in_challenge_answers_once_and_expires_after_five_minutes() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    let token = page_token(&visitor, "/login").await;
    post_json(&visitor, "/login/passkey/options", Some(&token), ORIGIN, &json!({})).await;
    let sealed = visitor.cookie("gatehouse_passkey").unwrap();
    let answer = json!({ "credential": forged_assertion() });

    let first = post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &answer).await;
    assert_refused(&first, StatusCode::UNAUTHORIZED, "not registered");
    // The same challenge again (the cookie replayed): spent.
    visitor.set_cookie("gatehouse_passkey", &sealed);
    let replay = post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &answer).await;
    assert_refused(&replay, StatusCode::BAD_REQUEST, "already used");

    post_json(&visitor, "/login/passkey/options", Some(&token), ORIGIN, &json!({})).await;
    app.clock.advance(std::time::Duration::from_secs(5 * 60 + 1));
    let late = post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &answer).await;
    assert_refused(&late, StatusCode::BAD_REQUEST, "expired");

    // No challenge at all, or one sealed with another key.
    let res = post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &answer).await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "expired");
    visitor.set_cookie("gatehouse_passkey", "forged");
    let res = post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &answer).await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "expired");
}

#[actix_web::test]
async fn a_registration_expires_after_five_minutes() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let token = page_token(&alice, "/account/passkeys").await;
    post_json(
        &alice,
        "/account/passkeys/options",
        Some(&token),
        ORIGIN,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    app.clock.advance(std::time::Duration::from_secs(5 * 60 + 1));
    let res = post_json(
        &alice,
        "/account/passkeys/add",
        Some(&token),
        ORIGIN,
        &json!({ "credential": forged_registration() }),
    )
    .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "expired");
}

#[actix_web::test]
async fn failed_passkey_sign_ins_are_throttled_per_ip() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_IP_FAILURES", "3".to_owned());
    })
    .await;
    let visitor = app.client();
    let token = page_token(&visitor, "/login").await;
    let answer = json!({ "credential": forged_assertion() });
    for _ in 0..3 {
        post_json(&visitor, "/login/passkey/options", Some(&token), ORIGIN, &json!({})).await;
        let res = post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &answer).await;
        assert_refused(&res, StatusCode::UNAUTHORIZED, "not registered");
    }
    post_json(&visitor, "/login/passkey/options", Some(&token), ORIGIN, &json!({})).await;
    let res = post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &answer).await;
    assert_refused(&res, StatusCode::TOO_MANY_REQUESTS, "Too many");
    assert!(res.header("retry-after").is_some());
    // The password form from this IP is locked too: one budget per IP for every way of guessing.
    assert_eq!(visitor.log_in("alice", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn the_passkeys_page_lists_name_creation_and_last_use() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let id = store_passkey(&app, "alice", "Work laptop").await;
    app.clock.advance(std::time::Duration::from_secs(3 * 3600));
    let page = alice.get("/account/passkeys").await;
    assert!(page.body.contains("Work laptop"));
    assert!(page.body.contains("never used"));
    assert!(page.body.contains(&format!("/account/passkeys/{id}/rename")));
    assert!(page.body.contains(&format!("/account/passkeys/{id}/remove")));
    assert!(alice.get("/account").await.body.contains("/account/passkeys"), "linked from the account page");
}

#[actix_web::test]
async fn renaming_and_removing_need_the_password() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let id = store_passkey(&app, "alice", "Old name").await;
    let rename = format!("/account/passkeys/{id}/rename");
    let remove = format!("/account/passkeys/{id}/remove");

    let res =
        alice.submit("/account/passkeys", &rename, &[("name", "New"), ("current_password", "wrong")]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("current password is not correct"), "{}", res.body);
    let res =
        alice.submit("/account/passkeys", &rename, &[("name", "  "), ("current_password", PASSWORD)]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = alice.submit("/account/passkeys", &remove, &[("current_password", "wrong")]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(alice.get("/account/passkeys").await.body.contains("Old name"));

    let res = alice
        .submit("/account/passkeys", &rename, &[("name", "Phone"), ("current_password", PASSWORD)])
        .await;
    assert_redirects_to(&res, "/account/passkeys");
    let page = alice.get("/account/passkeys").await;
    assert!(page.body.contains("Phone") && !page.body.contains("Old name"));

    let res = alice.submit("/account/passkeys", &remove, &[("current_password", PASSWORD)]).await;
    assert_redirects_to(&res, "/account/passkeys");
    assert!(alice.get("/account/passkeys").await.body.contains("You have no passkeys yet."));
    assert_eq!(app.count_rows("passkeys").await, 0);

    let events = alice.get("/account").await.body;
    assert!(events.contains("Passkey renamed") && events.contains("Passkey removed"));
}

#[actix_web::test]
async fn another_users_passkey_cannot_be_renamed_or_removed() {
    let app = TestApp::spawn().await;
    let _alice = app.logged_in_client("alice").await;
    let alices = store_passkey(&app, "alice", "Alice's key").await;
    let bob = app.logged_in_client("bob").await;
    for action in ["rename", "remove"] {
        let path = format!("/account/passkeys/{alices}/{action}");
        let res =
            bob.submit("/account/passkeys", &path, &[("name", "mine"), ("current_password", PASSWORD)]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{action}");
        let res = bob
            .submit(
                "/account/passkeys",
                "/account/passkeys/not-a-number/remove",
                &[("current_password", PASSWORD)],
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.count_rows("passkeys").await, 1);
}

#[actix_web::test]
async fn passkeys_go_with_a_deleted_account() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    store_passkey(&app, "alice", "Key").await;
    let res = alice.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(app.count_rows("passkeys").await, 0);
}

#[actix_web::test]
async fn on_an_ip_address_passkeys_are_off_and_say_why() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("PUBLIC_URL", "http://127.0.0.1:8080".to_owned());
    })
    .await;
    let visitor = app.client();
    let login = visitor.get("/login").await;
    assert!(!login.body.contains("passkey-login"), "no button that cannot work");
    let token = login.csrf_token().unwrap();
    let res =
        post_json(&visitor, "/login/passkey/options", Some(&token), "http://127.0.0.1:8080", &json!({}))
            .await;
    assert_refused(&res, StatusCode::NOT_FOUND, "not available");
}

#[actix_web::test]
async fn the_script_is_served_like_the_stylesheet() {
    let app = TestApp::spawn().await;
    let res = app.client().get("/static/passkeys.js").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").unwrap().starts_with("text/javascript"));
    assert!(res.body.contains("navigator.credentials.get") && res.body.contains("\"conditional\""));
}

#[actix_web::test]
async fn spent_challenges_are_purged_once_they_have_expired() {
    use gatehouse::auth::{housekeeping, session_store::SessionPolicy};
    let app = TestApp::spawn().await;
    let visitor = app.client();
    let token = page_token(&visitor, "/login").await;
    post_json(&visitor, "/login/passkey/options", Some(&token), ORIGIN, &json!({})).await;
    post_json(&visitor, "/login/passkey", Some(&token), ORIGIN, &json!({ "credential": forged_assertion() }))
        .await;
    assert_eq!(app.count_rows("passkey_challenges").await, 1, "the answered challenge is recorded");
    let policy = SessionPolicy::new(app.settings.session_idle_timeout, app.settings.session_max_age);
    let purge = || housekeeping::purge_expired(&app.db, &app.clock, &policy, &app.settings.throttle);

    assert_eq!(purge().await.unwrap().passkey_challenges, 0, "still within its five minutes");
    app.clock.advance(std::time::Duration::from_secs(5 * 60 + 1));
    assert_eq!(purge().await.unwrap().passkey_challenges, 1);
    assert_eq!(app.count_rows("passkey_challenges").await, 0);
}

/// Outside attack: a stolen session alone could add a passkey, which then signed in without the
/// password or the TOTP code even after the victim reset the password. Adding one now needs the
/// current password, and with TOTP on a code too (on the login step's code budget).
#[actix_web::test]
async fn adding_a_passkey_needs_the_password_and_with_totp_on_a_code() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_FAILURES", "3".to_owned());
    })
    .await;
    let alice = app.logged_in_client("alice").await;
    let options = "/account/passkeys/options";
    let token = page_token(&alice, "/account/passkeys").await;
    for body in [json!({}), json!({"current_password": "not my password"})] {
        let res = post_json(&alice, options, Some(&token), ORIGIN, &body).await;
        assert_refused(&res, StatusCode::UNPROCESSABLE_ENTITY, "password");
    }
    let res =
        post_json(&alice, "/account/passkeys/add", Some(&token), ORIGIN, &json!({"credential": {}})).await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "");
    assert_eq!(app.count_rows("passkeys").await, 0);

    // TOTP on: the password alone is not enough, a wrong code counts, three lock.
    let secret = crate::two_factor::turn_on(&app, &alice).await;
    let page = alice.get("/account/passkeys").await.body;
    assert!(page.contains("id=\"passkey-code\""), "the page asks for the code");
    let token = page_token(&alice, "/account/passkeys").await;
    let res = post_json(&alice, options, Some(&token), ORIGIN, &json!({"current_password": PASSWORD})).await;
    assert_refused(&res, StatusCode::UNPROCESSABLE_ENTITY, "code");
    let right = crate::two_factor::current_code(&app, &secret);
    let res = post_json(
        &alice,
        options,
        Some(&token),
        ORIGIN,
        &json!({"current_password": PASSWORD, "code": right}),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(json_of(&res)["publicKey"]["challenge"].is_string());
    for _ in 0..3 {
        let wrong = json!({"current_password": PASSWORD, "code": "000000"});
        let res = post_json(&alice, options, Some(&token), ORIGIN, &wrong).await;
        assert_refused(&res, StatusCode::UNPROCESSABLE_ENTITY, "code");
    }
    let locked = json!({"current_password": PASSWORD, "code": "000000"});
    let res = post_json(&alice, options, Some(&token), ORIGIN, &locked).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(res.header("retry-after").is_some());
}

#[actix_web::test]
async fn the_passkey_forms_count_wrong_current_passwords_with_the_other_forms() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let id = store_passkey(&app, "alice", "Laptop").await;
    let remove = format!("/account/passkeys/{id}/remove");
    let token = page_token(&alice, "/account/passkeys").await;
    for attempt in 0..10 {
        let res = if attempt % 2 == 0 {
            alice.submit("/account/passkeys", &remove, &[("current_password", "wrong")]).await
        } else {
            let body = json!({"current_password": "wrong"});
            post_json(&alice, "/account/passkeys/options", Some(&token), ORIGIN, &body).await
        };
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}: {}", res.body);
    }

    // The script's endpoint answers in JSON, with the wait.
    let body = json!({"current_password": PASSWORD});
    let res = post_json(&alice, "/account/passkeys/options", Some(&token), ORIGIN, &body).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    let retry_after: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((895..=900).contains(&retry_after), "Retry-After {retry_after}");
    assert!(json_of(&res)["error"].as_str().is_some_and(|e| e.contains("Too many")), "{}", res.body);
    // The forms answer the 429 page, and the passkey stays.
    let res = alice.submit("/account/passkeys", &remove, &[("current_password", PASSWORD)]).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert_eq!(app.count_rows("passkeys").await, 1);
}
