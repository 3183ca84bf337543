//! TOTP as a second factor, end to end through HTTP: codes are computed here from the secret the
//! enrolment page shows, at the app's clock (which tests move instead of sleeping).

use std::time::Duration;

use actix_web::http::StatusCode;
use gatehouse::auth::admin::{self, Actor};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use totp_rs::{Builder, Secret, Totp};

use crate::helpers::{PASSWORD, SmtpCatcher, TestApp, TestClient, TestDb, TestResponse, assert_redirects_to};

const STEP: i64 = 30;

/// Every `attr="value"` on a page, in order.
fn attribute_values(body: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    body.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &body[at + needle.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

fn totp(secret: &str) -> Totp {
    let bytes = Secret::try_from_base32(secret).unwrap().as_bytes().to_vec();
    Builder::new().with_secret(bytes).build().unwrap()
}

/// The code for the step `offset` steps from the app's now.
fn code(app: &TestApp, secret: &str, offset: i64) -> String {
    let at = app.clock.now().timestamp() + offset * STEP;
    totp(secret).generate(u64::try_from(at).unwrap()).to_string()
}

/// Moves the app's clock a step on, so the next code is not the one used last.
fn next_step(app: &TestApp) {
    app.clock.advance(Duration::from_secs(30));
}

/// Moves the app's clock to about 5 s into a step, so a test that aims at a neighbouring step does
/// not see the step change under it.
fn align(app: &TestApp) {
    let into = app.clock.now().timestamp().rem_euclid(STEP);
    app.clock.advance(Duration::from_secs(u64::try_from((STEP + 5 - into).rem_euclid(STEP)).unwrap()));
}

async fn post(client: &TestClient, page: &str, action: &str, fields: &[(&str, &str)]) -> TestResponse {
    client.submit(page, action, fields).await
}

/// Starts enrolment: the page with the secret.
async fn start(client: &TestClient, password: &str) -> TestResponse {
    post(client, "/account/two-factor", "/account/two-factor/totp", &[("current_password", password)]).await
}

/// Turns TOTP on for a logged-in client: the secret and the recovery codes.
async fn enable(app: &TestApp, client: &TestClient) -> (String, Vec<String>) {
    let page = start(client, PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = attribute_values(&page.body, "data-totp-secret").pop().expect("the secret");
    let token = page.csrf_token().unwrap();
    let done = client
        .post_form(
            "/account/two-factor/totp/confirm",
            &[("code", &code(app, &secret, 0)), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes = attribute_values(&done.body, "data-recovery-code");
    next_step(app);
    (secret, codes)
}

/// A user `name` with TOTP on, logged out: the secret and recovery codes.
async fn user_with_totp(app: &TestApp, name: &str) -> (String, Vec<String>) {
    let client = app.logged_in_client(name).await;
    let enabled = enable(app, &client).await;
    client.log_out().await;
    enabled
}

/// Posts a code to the second step (with the visitor's CSRF token, which `/login` shows even when the
/// half-step is over).
async fn send_code(client: &TestClient, code: &str) -> TestResponse {
    post(client, "/login", "/login/two-factor", &[("code", code)]).await
}

async fn totp_on(app: &TestApp, name: &str) -> bool {
    gatehouse::db::two_factor::is_enabled(&app.db, app.user_id(name).await).await.unwrap()
}

async fn events(app: &TestApp, name: &str, kind: &str) -> Vec<entity::audit_events::Model> {
    entity::audit_events::Entity::find()
        .filter(entity::audit_events::Column::UserId.eq(app.user_id(name).await))
        .filter(entity::audit_events::Column::Kind.eq(kind))
        .all(&app.db)
        .await
        .unwrap()
}

#[actix_web::test]
async fn turning_totp_on_needs_the_password_then_a_valid_code_and_shows_ten_recovery_codes() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    assert!(client.get("/account/two-factor").await.body.contains("Off"));

    let wrong = start(&client, "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("Your current password is not correct."));
    assert!(!wrong.body.contains("data-totp-secret"));

    let page = start(&client, PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK);
    let secret = attribute_values(&page.body, "data-totp-secret").pop().unwrap();
    assert_eq!(Secret::try_from_base32(&secret).unwrap().as_bytes().len(), 20);
    assert!(page.body.contains("src=\"data:image/svg+xml;base64,"), "the QR code, as an SVG image");
    assert!(page.body.contains("action=\"/account/two-factor/totp/confirm\""));
    assert!(!page.body.contains("<script"), "no script");
    let token = page.csrf_token().unwrap();

    let refused = client
        .post_form("/account/two-factor/totp/confirm", &[("code", "000000"), ("csrf_token", &token)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!totp_on(&app, "alice").await, "a wrong code leaves TOTP off");
    assert_eq!(
        attribute_values(&refused.body, "data-totp-secret"),
        vec![secret.clone()],
        "the same secret again"
    );

    let done = client
        .post_form(
            "/account/two-factor/totp/confirm",
            &[("code", &code(&app, &secret, 0)), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let codes = attribute_values(&done.body, "data-recovery-code");
    assert_eq!(codes.len(), 10);
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    assert!(totp_on(&app, "alice").await);
    assert_eq!(events(&app, "alice", "two_factor_enabled").await.len(), 1);

    // Stored hashed, the secret sealed.
    let rows = entity::recovery_codes::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 10);
    for code in &codes {
        assert!(rows.iter().all(|row| !row.code_hash.contains(&code.replace('-', ""))));
    }
    let stored = entity::two_factor::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert!(!stored.totp_secret.contains(&secret));

    // Shown once: the status page has no codes and no secret.
    let status = client.get("/account/two-factor").await;
    assert!(status.body.contains("10 unused recovery code(s)"));
    assert!(attribute_values(&status.body, "data-recovery-code").is_empty());
    assert!(!status.body.contains(&secret));
    assert!(client.get("/account").await.body.contains("Manage two-factor authentication"));
    // Starting again while it is on does not replace the secret.
    let again = start(&client, PASSWORD).await;
    assert_redirects_to(&again, "/account/two-factor");
}

#[actix_web::test]
async fn a_totp_login_asks_for_the_code_and_is_anonymous_until_then() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let client = app.client();

    let res = client.log_in("alice", PASSWORD).await;
    assert_redirects_to(&res, "/login/two-factor");
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
    assert_redirects_to(&client.get("/account").await, "/login?next=/account");
    assert!(!client.get("/").await.body.contains("alice"), "the home page sees nobody");
    // Kept server-side, in a session without an identity.
    let sessions = entity::sessions::Entity::find().all(&app.db).await.unwrap();
    assert!(!sessions.is_empty());
    assert!(sessions.iter().all(|s| s.user_id.is_none()), "no session is alice's yet");
    assert!(sessions.iter().all(|s| !s.state.contains("gh.uid")));
    let pending_cookie = client.session_cookie().unwrap();

    let form = client.get("/login/two-factor").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("name=\"code\""));

    let wrong = send_code(&client, "123456").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(events(&app, "alice", "two_factor_failed").await.len(), 1);
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");

    let done = send_code(&client, &code(&app, &secret, 0)).await;
    assert_redirects_to(&done, "/dashboard");
    assert_ne!(client.session_cookie().unwrap(), pending_cookie, "a new session key");
    let logins = events(&app, "alice", "login").await;
    let alice = gatehouse::db::users::find_by_id(&app.db, app.user_id("alice").await).await.unwrap().unwrap();
    assert_eq!(logins.len(), 1, "one login, recorded at the code");
    assert_eq!(alice.last_login_at, Some(logins[0].created_at));
    assert!(client.get("/dashboard").await.body.contains("Welcome, alice"));
    assert_redirects_to(&client.get("/login/two-factor").await, "/dashboard");
}

#[actix_web::test]
async fn a_code_works_once() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    align(&app);
    let current = code(&app, &secret, 0);
    let first = app.client();
    first.log_in("alice", PASSWORD).await;
    assert_redirects_to(&send_code(&first, &current).await, "/dashboard");

    let second = app.client();
    assert_redirects_to(&second.log_in("alice", PASSWORD).await, "/login/two-factor");
    let replayed = send_code(&second, &current).await;
    assert_eq!(replayed.status, StatusCode::UNPROCESSABLE_ENTITY, "replayed");
    assert!(replayed.body.contains("or it was used already (each code works once)"), "{}", replayed.body);
    assert_eq!(
        send_code(&second, &code(&app, &secret, -1)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an earlier step than one used"
    );
    next_step(&app);
    assert_redirects_to(&send_code(&second, &code(&app, &secret, 0)).await, "/dashboard");
}

#[actix_web::test]
async fn one_step_of_drift_either_way_is_accepted_and_two_are_not() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    align(&app);
    // The step before now must be later than the one enabling TOTP used up.
    next_step(&app);
    let client = app.client();
    client.log_in("alice", PASSWORD).await;
    for offset in [-2, 2] {
        let res = send_code(&client, &code(&app, &secret, offset)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{offset} steps");
    }
    assert_redirects_to(&send_code(&client, &code(&app, &secret, -1)).await, "/dashboard");

    let later = app.client();
    later.log_in("alice", PASSWORD).await;
    assert_redirects_to(&send_code(&later, &code(&app, &secret, 1)).await, "/dashboard");
}

#[actix_web::test]
async fn a_recovery_code_works_once() {
    let app = TestApp::spawn().await;
    let (_, codes) = user_with_totp(&app, "alice").await;
    let client = app.client();
    client.log_in("alice", PASSWORD).await;
    // Typed in capitals with spaces, as people do.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_redirects_to(&send_code(&client, &typed).await, "/dashboard");
    let used = events(&app, "alice", "recovery_code_used").await;
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].detail.as_deref(), Some("9 recovery code(s) left"));
    client.log_out().await;

    client.log_in("alice", PASSWORD).await;
    assert_eq!(send_code(&client, &codes[3]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirects_to(&send_code(&client, &codes[4]).await, "/dashboard");
}

#[actix_web::test]
async fn the_half_step_ends_after_five_minutes() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let client = app.client();
    client.log_in("alice", PASSWORD).await;
    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    assert_redirects_to(&send_code(&client, &code(&app, &secret, 0)).await, "/login");
    assert_redirects_to(&client.get("/login/two-factor").await, "/login");
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
    assert!(events(&app, "alice", "login").await.is_empty(), "never logged in");
    let user = gatehouse::db::users::find_by_id(&app.db, app.user_id("alice").await).await.unwrap().unwrap();
    assert_eq!(user.last_login_at, None, "the password alone is not a login");
}

/// A wrong code can be the attempt that finds the codes' lock run out: it clears the lock, so it
/// records its end, as a right code would.
#[actix_web::test]
async fn a_wrong_code_after_the_lock_ran_out_records_the_lock_s_end() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_FAILURES", "3".to_owned());
    })
    .await;
    user_with_totp(&app, "alice").await;
    let client = app.client();
    client.log_in("alice", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(send_code(&client, "000000").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(send_code(&client, "000000").await.status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(Duration::from_secs(15 * 60 + 1));

    let client = app.client();
    client.log_in("alice", PASSWORD).await;
    assert_eq!(send_code(&client, "000000").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.events("alice", "login_lock_ended", 1).await, 1);
}

#[actix_web::test]
async fn wrong_codes_are_throttled_like_passwords() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_FAILURES", "3".to_owned());
    })
    .await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let client = app.client();
    client.log_in("alice", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(send_code(&client, "000000").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Locked for the user, even from another browser, even with the right code.
    let other = app.client();
    other.log_in("alice", PASSWORD).await;
    let res = send_code(&other, &code(&app, &secret, 0)).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    let retry_after: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry_after > 14 * 60 && retry_after <= 15 * 60, "{retry_after}");
    assert!(!events(&app, "alice", "login_locked").await.is_empty());
}

#[actix_web::test]
async fn turning_totp_off_needs_the_password_and_a_code_and_notices_are_emailed() {
    let smtp = SmtpCatcher::start().await;
    let url = smtp.url.clone();
    let app = TestApp::spawn_with(move |vars| {
        vars.insert("SMTP_URL", url);
    })
    .await;
    let client = app.logged_in_client("alice").await;
    let (secret, _) = enable(&app, &client).await;
    smtp.message_matching("alice@example.com", "Two-factor authentication is on").await;

    let page = "/account/two-factor";
    let action = "/account/two-factor/totp/disable";
    let wrong_password =
        post(&client, page, action, &[("current_password", "nope"), ("code", &code(&app, &secret, 0))]).await;
    assert_eq!(wrong_password.status, StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_code = post(&client, page, action, &[("current_password", PASSWORD), ("code", "000000")]).await;
    assert_eq!(wrong_code.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(totp_on(&app, "alice").await);

    let done =
        post(&client, page, action, &[("current_password", PASSWORD), ("code", &code(&app, &secret, 0))])
            .await;
    assert_redirects_to(&done, "/account/two-factor");
    assert!(!totp_on(&app, "alice").await);
    assert_eq!(app.count_rows("recovery_codes").await, 0);
    assert_eq!(events(&app, "alice", "two_factor_disabled").await.len(), 1);
    smtp.message_matching("alice@example.com", "Two-factor authentication is off").await;
    client.log_out().await;
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let (secret, old) = enable(&app, &client).await;
    let page = "/account/two-factor";
    let action = "/account/two-factor/recovery-codes";
    let refused = post(&client, page, action, &[("current_password", PASSWORD), ("code", "111111")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);

    let res =
        post(&client, page, action, &[("current_password", PASSWORD), ("code", &code(&app, &secret, 0))])
            .await;
    assert_eq!(res.status, StatusCode::OK);
    let new = attribute_values(&res.body, "data-recovery-code");
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|code| !old.contains(code)));
    assert_eq!(events(&app, "alice", "recovery_codes_regenerated").await.len(), 1);
    client.log_out().await;

    let other = app.client();
    other.log_in("alice", PASSWORD).await;
    assert_eq!(send_code(&other, &old[0]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirects_to(&send_code(&other, &new[0]).await, "/dashboard");
}

async fn reset_password(app: &TestApp, email: &str, password: &str) -> TestResponse {
    let token = match gatehouse::auth::reset::request(&app.db, &app.clock, &app.settings.throttle, email)
        .await
        .unwrap()
    {
        gatehouse::auth::reset::Requested::Issued(issued) => issued.token,
        _ => panic!("no token issued for {email}"),
    };
    let client = app.client();
    assert_redirects_to(
        &client.get(&format!("/password-reset/{token}")).await,
        "/password-reset/set-password",
    );
    client
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", password), ("password_confirm", password)],
        )
        .await
}

#[actix_web::test]
async fn a_password_reset_keeps_totp_and_voids_a_half_step() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let waiting = app.client();
    assert_redirects_to(&waiting.log_in("alice", PASSWORD).await, "/login/two-factor");

    let new_password = "reset to a fresh long passphrase";
    assert_redirects_to(&reset_password(&app, "alice@example.com", new_password).await, "/login");
    assert!(totp_on(&app, "alice").await, "the reset does not remove the second factor");

    // The half-step begun before the reset is over, the right code notwithstanding.
    assert_redirects_to(&send_code(&waiting, &code(&app, &secret, 0)).await, "/login");
    assert_redirects_to(&waiting.get("/dashboard").await, "/login?next=/dashboard");

    let client = app.client();
    assert_redirects_to(&client.log_in("alice", new_password).await, "/login/two-factor");
    assert_redirects_to(&send_code(&client, &code(&app, &secret, 0)).await, "/dashboard");
}

#[actix_web::test]
async fn an_administrator_can_remove_a_users_second_factor() {
    let smtp = SmtpCatcher::start().await;
    let url = smtp.url.clone();
    let app = TestApp::spawn_with(move |vars| {
        vars.insert("SMTP_URL", url);
    })
    .await;
    user_with_totp(&app, "alice").await;
    let boss = app.logged_in_client("boss").await;
    admin::set_role(&app.db, &app.clock, &Actor::Cli, app.user_id("boss").await, "admin").await.unwrap();
    let id = app.user_id("alice").await;
    let page = format!("/admin/users/{id}");
    assert!(boss.get(&page).await.body.contains("Remove two-factor authentication"));

    let action = format!("/admin/users/{id}/clear-two-factor");
    let forged = boss.post_form(&action, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token");
    assert!(totp_on(&app, "alice").await);

    assert_redirects_to(&post(&boss, &page, &action, &[]).await, &page);
    assert!(!totp_on(&app, "alice").await);
    let cleared = events(&app, "alice", "admin_cleared_two_factor").await;
    assert_eq!(cleared.len(), 1);
    assert!(cleared[0].detail.as_deref().unwrap().contains("boss"), "names the administrator");
    smtp.message_matching("alice@example.com", "Two-factor authentication was removed").await;
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");

    // A member cannot.
    let member = app.logged_in_client("member").await;
    let res = post(&member, "/", &action, &[]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn the_new_forms_refuse_a_post_without_the_csrf_token() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    for action in [
        "/account/two-factor/totp",
        "/account/two-factor/totp/confirm",
        "/account/two-factor/totp/disable",
        "/account/two-factor/recovery-codes",
    ] {
        let res = client.post_form(action, &[("current_password", PASSWORD), ("code", "123456")]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert!(!totp_on(&app, "alice").await);
    assert_eq!(app.count_rows("two_factor").await, 0);

    let (secret, _) = enable(&app, &client).await;
    client.log_out().await;
    let anonymous = app.client();
    anonymous.log_in("alice", PASSWORD).await;
    let res = anonymous.post_form("/login/two-factor", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_redirects_to(&anonymous.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn next_and_remember_me_survive_the_second_step() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let client = app.client();
    assert_redirects_to(&client.get("/account/sessions").await, "/login?next=/account/sessions");
    let res = post(
        &client,
        "/login?next=/account/sessions",
        "/login",
        &[("login", "alice"), ("password", PASSWORD), ("next", "/account/sessions"), ("remember", "on")],
    )
    .await;
    assert_redirects_to(&res, "/login/two-factor");
    assert_redirects_to(&send_code(&client, &code(&app, &secret, 0)).await, "/account/sessions");
    let id = app.user_id("alice").await;
    let rows = entity::sessions::Entity::find()
        .filter(entity::sessions::Column::UserId.eq(id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].remember, "remember me from the password step");
}

#[actix_web::test]
async fn the_operator_clears_a_second_factor_from_the_shell() {
    let app = TestApp::spawn_on(TestDb::create_shared().await, |_| {}).await;
    user_with_totp(&app, "alice").await;
    let database = app.settings.database_url.clone();
    let (ok, out, err) = crate::cli::run_on(&database, &["users", "clear-two-factor", "alice"]);
    assert!(ok, "{err}");
    assert!(out.contains("removed the second factor of alice"), "{out}");
    assert!(!totp_on(&app, "alice").await);
    let cleared = events(&app, "alice", "admin_cleared_two_factor").await;
    assert_eq!(cleared[0].detail.as_deref(), Some("by an operator (command line)"));
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
    let (ok, out, _) = crate::cli::run_on(&database, &["users", "clear-two-factor", "alice"]);
    assert!(ok && out.contains("had no second factor"), "{out}");
}

/// The password step settles the name's budget before the code is asked for: the right password
/// is no failure, whatever the second step brings.
#[actix_web::test]
async fn the_right_password_settles_its_count_before_the_code() {
    let app = TestApp::spawn().await;
    user_with_totp(&app, "alice").await;
    let client = app.client();
    for _ in 0..2 {
        assert_eq!(client.log_in("alice", "not the password").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!((app.login_failures("alice").await, app.ip_failures().await), (2, 2));
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/login/two-factor");
    assert_eq!(
        (app.login_failures("alice").await, app.ip_failures().await),
        (0, 2),
        "name forgotten, IP given back"
    );
}

#[actix_web::test]
async fn require_confirmed_email_still_comes_first_with_totp() {
    let app = TestApp::spawn_on(TestDb::create_shared().await, |_| {}).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let strict = app
        .another_instance_with(|vars| {
            vars.insert("REQUIRE_CONFIRMED_EMAIL", "true".to_owned());
        })
        .await;
    let client = strict.client();
    let res = client.log_in("alice", PASSWORD).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("Confirm your email address first"));
    assert_redirects_to(&client.get("/login/two-factor").await, "/login");

    gatehouse::db::users::confirm_email(&app.db, app.user_id("alice").await, app.clock.now()).await.unwrap();
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/login/two-factor");
    assert_redirects_to(&send_code(&client, &code(&app, &secret, 0)).await, "/dashboard");
}

const NEW_SECRET: &str = "new-secret-fedcba9876543210fedcba9876543210fedcba9876543210fedcba98765432";

#[actix_web::test]
async fn a_rotated_session_secret_still_opens_totp_secrets_and_reseals_them() {
    let app = TestApp::spawn_on(TestDb::create_shared().await, |_| {}).await;
    let (secret, codes) = user_with_totp(&app, "alice").await;
    let sealed_before = entity::two_factor::Entity::find().one(&app.db).await.unwrap().unwrap().totp_secret;

    let rotating = app
        .another_instance_with(|vars| {
            vars.insert("SESSION_SECRET", NEW_SECRET.to_owned());
            vars.insert("SESSION_SECRET_PREVIOUS", crate::helpers::SECRET.to_owned());
        })
        .await;
    let client = rotating.client();
    client.log_in("alice", PASSWORD).await;
    assert_redirects_to(&send_code(&client, &code(&app, &secret, 0)).await, "/dashboard");
    let sealed_after = entity::two_factor::Entity::find().one(&app.db).await.unwrap().unwrap().totp_secret;
    assert_ne!(sealed_after, sealed_before, "sealed again under the new secret");

    next_step(&app);
    let new_only = app
        .another_instance_with(|vars| {
            vars.insert("SESSION_SECRET", NEW_SECRET.to_owned());
        })
        .await;
    let client = new_only.client();
    client.log_in("alice", PASSWORD).await;
    assert_redirects_to(&send_code(&client, &code(&app, &secret, 0)).await, "/dashboard");

    // A secret no key opens: codes are refused (never a 500), a recovery code still works.
    next_step(&app);
    let lost = app
        .another_instance_with(|vars| {
            vars.insert("SESSION_SECRET", format!("x{NEW_SECRET}"));
        })
        .await;
    let client = lost.client();
    client.log_in("alice", PASSWORD).await;
    assert_eq!(send_code(&client, &code(&app, &secret, 0)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirects_to(&send_code(&client, &codes[0]).await, "/dashboard");
}

#[actix_web::test]
async fn enrolment_started_twice_at_once_never_fails() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    for round in 0..10 {
        let (a, b) = tokio::join!(start(&client, PASSWORD), start(&client, PASSWORD));
        assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK), "round {round}");
    }
    assert_eq!(app.count_rows("two_factor").await, 1);
}

#[actix_web::test]
async fn one_code_sent_twice_at_once_logs_in_once() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    for round in 0..5 {
        next_step(&app);
        let (a, b) = (app.client(), app.client());
        a.log_in("alice", PASSWORD).await;
        b.log_in("alice", PASSWORD).await;
        let code = code(&app, &secret, 0);
        let (ra, rb) = tokio::join!(send_code(&a, &code), send_code(&b, &code));
        let passed = [&ra, &rb].iter().filter(|r| r.status == StatusCode::SEE_OTHER).count();
        assert_eq!(passed, 1, "round {round}: {} and {}", ra.status, rb.status);
    }
}

/// Outside attack, finding 1: TOTP removed while a login waits for its code was a 500.
#[actix_web::test]
async fn a_second_factor_removed_during_the_half_step_sends_the_browser_back_to_the_password() {
    let app = TestApp::spawn().await;
    user_with_totp(&app, "alice").await;
    let waiting = app.client();
    assert_redirects_to(&waiting.log_in("alice", PASSWORD).await, "/login/two-factor");

    gatehouse::auth::two_factor::clear(&app.db, app.user_id("alice").await).await.unwrap();

    let res = send_code(&waiting, "123456").await;
    assert_redirects_to(&res, "/login");
    assert!(waiting.get("/login").await.body.contains("log in again"));
    assert_redirects_to(&waiting.get("/login/two-factor").await, "/login");
    assert_redirects_to(&waiting.get("/dashboard").await, "/login?next=/dashboard");
    assert_redirects_to(&waiting.log_in("alice", PASSWORD).await, "/dashboard");
}

/// Outside attack, finding 2: wrong codes on the forms that turn TOTP off or replace the recovery
/// codes count on the same per-account budget as the login step's.
#[actix_web::test]
async fn wrong_codes_on_the_settings_forms_are_throttled_with_the_login_step() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_FAILURES", "3".to_owned());
    })
    .await;
    let client = app.logged_in_client("alice").await;
    let (secret, _) = enable(&app, &client).await;
    next_step(&app);
    let page = "/account/two-factor";
    for action in ["/account/two-factor/totp/disable", "/account/two-factor/recovery-codes"] {
        let res = post(&client, page, action, &[("current_password", PASSWORD), ("code", "000000")]).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
    }
    let waiting = app.client();
    waiting.log_in("alice", PASSWORD).await;
    assert_eq!(send_code(&waiting, "000000").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Three wrong codes in all: locked on every form, even with the right code.
    let action = "/account/two-factor/totp/disable";
    let right = code(&app, &secret, 0);
    let res = post(&client, page, action, &[("current_password", PASSWORD), ("code", &right)]).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(res.header("retry-after").is_some());
    assert!(totp_on(&app, "alice").await);
    assert_eq!(send_code(&waiting, &right).await.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Outside attack, finding 5: logging out during the half-step ends it.
#[actix_web::test]
async fn logging_out_during_the_half_step_ends_it() {
    let app = TestApp::spawn().await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let waiting = app.client();
    assert_redirects_to(&waiting.log_in("alice", PASSWORD).await, "/login/two-factor");
    let before = waiting.session_cookie().expect("the half-step has a session");

    // The code page's "Cancel this sign-in" button.
    assert_redirects_to(&waiting.submit("/login/two-factor", "/logout", &[]).await, "/login");

    assert_redirects_to(&waiting.get("/login/two-factor").await, "/login");
    let replay = app.client();
    replay.set_cookie("gatehouse_session", &before);
    assert_redirects_to(&replay.get("/login/two-factor").await, "/login");
    assert_redirects_to(&send_code(&replay, &code(&app, &secret, 0)).await, "/login");
    assert_eq!(app.count_rows("sessions").await, 0);
}

/// Outside attack, finding 4: a code checked against one enrolment's secret turned on a newer
/// enrolment (another tab) whose secret the user never confirmed. Pinned where the race is decided.
#[actix_web::test]
async fn a_code_checked_against_one_enrolment_cannot_turn_on_a_newer_one() {
    use gatehouse::db::two_factor as rows;
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let id = app.user_id("alice").await;
    let now = app.clock.now();
    assert!(rows::start_enrolment(&app.db, id, "sealed-first".to_owned(), now).await.unwrap());
    assert!(rows::start_enrolment(&app.db, id, "sealed-second".to_owned(), now).await.unwrap());

    assert!(!rows::enable(&app.db, id, "sealed-first", 1, now).await.unwrap(), "the first was replaced");
    assert!(!totp_on(&app, "alice").await);
    assert!(rows::enable(&app.db, id, "sealed-second", 1, now).await.unwrap());
    assert!(totp_on(&app, "alice").await);
}

/// For other features' tests: turns TOTP on for a logged-in client; its secret.
pub(crate) async fn turn_on(app: &TestApp, client: &TestClient) -> String {
    enable(app, client).await.0
}

/// The code of the current step (a step later than the one `turn_on` used up).
pub(crate) fn current_code(app: &TestApp, secret: &str) -> String {
    code(app, secret, 0)
}
