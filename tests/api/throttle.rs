//! Guessing is throttled on every instance, the owner's usual browser is never locked out by others'
//! guessing, nobody can tell from the answers which names exist, and floods cost nothing.

use std::time::Duration;

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp, TestClient, TestDb, TestResponse, assert_redirects_to};

const WRONG: &str = "not the password at all, sorry";
const MINUTE: Duration = Duration::from_secs(60);

async fn app_with_alice() -> TestApp {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await.log_out().await;
    app
}

/// `count` wrong passwords for `login` from `client`, each a plain 422.
async fn fail(client: &TestClient, login: &str, count: usize) {
    for attempt in 1..=count {
        let res = client.log_in(login, WRONG).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {attempt} for {login}: {}",
            res.body
        );
    }
}

/// A wrong password for each of `logins`, each from a client of its own with its own form, all in
/// flight at once (sent in the order given); the answers in that order.
async fn wrong_logins_at_once(app: &TestApp, logins: &[&str]) -> Vec<TestResponse> {
    let clients: Vec<TestClient> = logins.iter().map(|_| app.client()).collect();
    let mut forms = Vec::new();
    for client in &clients {
        forms.push(client.csrf_token("/login").await);
    }
    let guesses = clients.iter().zip(&forms).zip(logins).map(|((client, token), login)| async move {
        client.post_form("/login", &[("login", login), ("password", WRONG), ("csrf_token", token)]).await
    });
    futures_util::future::join_all(guesses).await
}

#[track_caller]
fn assert_locked(res: &TestResponse, around_seconds: u64) {
    assert_throttled(res, around_seconds);
    assert!(res.body.contains("href=\"/password-reset\""), "it offers the password reset");
}

#[track_caller]
fn assert_throttled(res: &TestResponse, around_seconds: u64) {
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    let retry_after: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(
        retry_after <= around_seconds && retry_after + 5 >= around_seconds,
        "Retry-After {retry_after}, expected about {around_seconds}"
    );
    assert!(res.body.contains("Too many attempts"), "a human page: {}", res.body);
}

#[actix_web::test]
async fn ten_wrong_passwords_lock_the_name_even_against_the_right_password() {
    let app = app_with_alice().await;
    let guesser = app.client();
    fail(&guesser, "alice", 10).await;

    assert_locked(&guesser.log_in("alice", PASSWORD).await, 15 * 60);
    assert_locked(&app.client().log_in("ALICE", PASSWORD).await, 15 * 60);
    assert_eq!(
        app.client().log_in("alice@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER,
        "the email is a login name of its own"
    );
}

#[actix_web::test]
async fn an_unknown_name_is_answered_exactly_like_a_real_one() {
    let app = app_with_alice().await;
    let (real, unknown) = (app.client(), app.client());
    for attempt in 1..=11 {
        let a = real.log_in("alice", WRONG).await;
        let b = unknown.log_in("nobody-here", WRONG).await;
        assert_eq!(a.status, b.status, "attempt {attempt}");
        assert_eq!(a.header("retry-after").is_some(), b.header("retry-after").is_some());
        let page = |res: &TestResponse, name: &str| {
            let token = res.csrf_token().unwrap_or_default();
            res.body.replace(name, "X").replace(&token, "T")
        };
        assert_eq!(page(&a, "alice"), page(&b, "nobody-here"), "attempt {attempt}");
    }
}

#[actix_web::test]
async fn a_device_cookie_from_before_they_were_encrypted_still_counts_and_is_replaced() {
    use gatehouse::web::{
        cookies::{self, Protection},
        state::CookieKeys,
    };
    let app = app_with_alice().await;
    let id = app.user_id("alice").await;
    // What a login set until 2026-12-07: the same value, only signed.
    let keys = CookieKeys::derive(&app.settings.session_secret);
    let value = format!("{id}.0.0123456789abcdef0123456789abcdef");
    let old =
        cookies::sealed(&app.settings, "gatehouse_device", value, None, &keys.device, Protection::Signed);
    let laptop = app.client();
    laptop.set_cookie("gatehouse_device", old.value());

    fail(&app.client(), "alice", 10).await;
    assert_locked(&app.client().log_in("alice", PASSWORD).await, 15 * 60);
    assert_redirects_to(&laptop.log_in("alice", PASSWORD).await, "/dashboard");
    let replaced = laptop.cookie("gatehouse_device").unwrap();
    assert_ne!(replaced, old.value(), "the login replaces it");
    assert!(!replaced.contains(&format!("{id}.0.")), "with an encrypted one");
}

#[actix_web::test]
async fn the_owners_usual_browser_still_logs_in_while_others_are_locked_out() {
    let app = app_with_alice().await;
    let laptop = app.client();
    assert_redirects_to(&laptop.log_in("alice", PASSWORD).await, "/dashboard");
    assert!(laptop.cookie("gatehouse_device").is_some(), "a device cookie at login");
    laptop.log_out().await;
    assert!(laptop.cookie("gatehouse_device").is_some(), "kept across logout");

    fail(&app.client(), "alice", 10).await;
    assert_locked(&app.client().log_in("alice", PASSWORD).await, 15 * 60);

    assert_redirects_to(&laptop.log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn a_device_cookie_counts_on_its_own_budget_and_only_for_its_account() {
    let app = app_with_alice().await;
    app.logged_in_client("bob").await.log_out().await;
    let laptop = app.client();
    assert_redirects_to(&laptop.log_in("alice", PASSWORD).await, "/dashboard");
    laptop.log_out().await;

    // Guessing from the laptop uses up the laptop's budget, not the name's.
    fail(&laptop, "alice", 10).await;
    assert_locked(&laptop.log_in("alice", PASSWORD).await, 15 * 60);
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");

    // Alice's device cookie is worth nothing for bob's name.
    fail(&laptop, "bob", 10).await;
    assert_locked(&app.client().log_in("bob", PASSWORD).await, 15 * 60);

    // A forged device cookie is ignored.
    let forger = app.client();
    let genuine = laptop.cookie("gatehouse_device").unwrap();
    forger.set_cookie("gatehouse_device", &genuine.replacen('1', "2", 1));
    assert_locked(&forger.log_in("bob", PASSWORD).await, 15 * 60);
}

#[actix_web::test]
async fn a_success_resets_the_count_and_successes_never_count() {
    let app = app_with_alice().await;
    let client = app.client();
    fail(&client, "alice", 9).await;
    assert_eq!((app.login_failures("alice").await, app.ip_failures().await), (9, 9));
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");
    assert_eq!(
        (app.login_failures("alice").await, app.ip_failures().await),
        (0, 9),
        "name forgotten, IP given back"
    );
    client.log_out().await;
    let stranger = app.client();
    fail(&stranger, "alice", 9).await;
    for _ in 0..30 {
        let other = app.client();
        assert_redirects_to(&other.log_in("alice", PASSWORD).await, "/dashboard");
    }
}

#[actix_web::test]
async fn the_lock_doubles_while_failures_go_on_up_to_an_hour() {
    let app = app_with_alice().await;
    for expected_minutes in [15, 30, 60, 60] {
        fail(&app.client(), "alice", 10).await;
        assert_locked(&app.client().log_in("alice", PASSWORD).await, expected_minutes * 60);
        app.clock.advance(expected_minutes as u32 * MINUTE + Duration::from_secs(1));
    }
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn lockouts_and_their_end_are_security_events_the_user_sees() {
    let app = app_with_alice().await;
    fail(&app.client(), "alice", 10).await;
    assert_eq!(app.events("alice", "login_locked", 1).await, 1);
    app.clock.advance(16 * MINUTE);

    let client = app.client();
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");
    assert_eq!(app.events("alice", "login_lock_ended", 1).await, 1);
    let account = client.get("/account").await;
    assert!(account.body.contains("Sign-in attempts were blocked"), "{}", account.body);
    assert!(account.body.contains("Sign-in block ended"));
}

#[actix_web::test]
async fn too_many_failures_from_one_ip_lock_it_out_of_login() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_IP_FAILURES", "5".to_owned());
    })
    .await;
    app.logged_in_client("alice").await.log_out().await;
    let client = app.client();
    for name in ["a1", "b2", "c3", "d4", "e5"] {
        fail(&client, name, 1).await;
    }
    assert_locked(&app.client().log_in("alice", PASSWORD).await, 15 * 60);
    app.clock.advance(15 * MINUTE + Duration::from_secs(1));
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn attempts_refused_for_their_ip_do_not_count_against_the_name() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_IP_FAILURES", "5".to_owned());
    })
    .await;
    app.logged_in_client("alice").await.log_out().await;
    let client = app.client();
    for name in ["a1", "b2", "c3", "d4", "e5"] {
        fail(&client, name, 1).await;
    }
    // The name and the IP are counted in one statement; a locked IP must not leave a count on names.
    for _ in 0..12 {
        assert_throttled(&client.log_in("alice", WRONG).await, 15 * 60);
    }
    let key = gatehouse::auth::throttle::Key::login_name("alice");
    let counter = gatehouse::db::throttle::find(&app.db, key.as_str()).await.unwrap();
    assert_eq!(counter.map_or(0, |c| c.failures), 0, "the name paid for attempts its IP refused");
}

#[actix_web::test]
async fn a_json_only_client_gets_the_429_in_json() {
    let app = app_with_alice().await;
    fail(&app.client(), "alice", 10).await;
    let res = app.client().with_header("Accept", "application/json").log_in("alice", PASSWORD).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("retry-after"), Some("900"));
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["error"], "Too many attempts");
    assert!(body["message"].as_str().unwrap().ends_with("Try again in 15 minutes."), "{body}");
    assert_eq!(body["reset_url"], "/password-reset");
    assert_eq!(body["request_id"].as_str(), res.header("x-request-id"), "as every JSON error");
}

#[actix_web::test]
async fn attempts_refused_for_a_locked_name_do_not_count_against_the_ip() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_FAILURES", "3".to_owned());
        vars.insert("THROTTLE_LOGIN_IP_FAILURES", "5".to_owned());
    })
    .await;
    app.logged_in_client("alice").await.log_out().await;
    let client = app.client();
    fail(&client, "carol", 3).await;
    // No password is checked for a locked name: retrying it must not use up the budget of
    // everybody behind the same address.
    for _ in 0..10 {
        assert_throttled(&client.log_in("carol", WRONG).await, 15 * 60);
    }
    assert_eq!(app.ip_failures().await, 3, "the IP paid for attempts its name's lock refused");
    fail(&client, "dave", 1).await;
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let limit = |vars: &mut std::collections::HashMap<&'static str, String>| {
        vars.insert("THROTTLE_LOGIN_IP_FAILURES", "3".to_owned());
        vars.insert("THROTTLE_LOGIN_FAILURES", "0".to_owned());
    };
    // Untrusted: the header is ignored, every request is the peer's.
    let app = TestApp::spawn_with(limit).await;
    for (n, forged) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"].iter().enumerate() {
        fail(&app.client().with_header("X-Forwarded-For", forged), &format!("n{n}"), 1).await;
    }
    let res = app.client().with_header("X-Forwarded-For", "198.51.100.9").log_in("x", WRONG).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "a forged header does not escape the IP limit");

    // Behind a trusted proxy (the test peer), each forwarded client has its own budget.
    let app = TestApp::spawn_with(|vars| {
        limit(vars);
        vars.insert("TRUSTED_PROXIES", "203.0.113.7".to_owned());
    })
    .await;
    let one = app.client().with_header("X-Forwarded-For", "198.51.100.1");
    fail(&one, "x", 3).await;
    assert_eq!(one.log_in("x", WRONG).await.status, StatusCode::TOO_MANY_REQUESTS);
    let two = app.client().with_header("X-Forwarded-For", "198.51.100.2");
    assert_eq!(two.log_in("x", WRONG).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A client's own line before the one its proxy appends (HAProxy's `option forwardfor`), or an
    // entry after its own that is no address, does not give it a fresh budget.
    let forged_line = app
        .client()
        .with_header("X-Forwarded-For", "198.51.100.66")
        .with_header("X-Forwarded-For", "198.51.100.1");
    assert_eq!(forged_line.log_in("x", WRONG).await.status, StatusCode::TOO_MANY_REQUESTS);
    let proxy_itself = app.client().with_header("X-Forwarded-For", "198.51.100.77, unknown");
    fail(&proxy_itself, "x", 3).await;
    let forged_entry = app.client().with_header("X-Forwarded-For", "198.51.100.88, unknown");
    assert_eq!(forged_entry.log_in("x", WRONG).await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn zero_turns_a_limit_off() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_FAILURES", "0".to_owned());
    })
    .await;
    app.logged_in_client("alice").await.log_out().await;
    fail(&app.client(), "alice", 25).await;
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

async fn request_reset(client: &TestClient, email: &str) -> TestResponse {
    client.submit("/password-reset", "/password-reset", &[("email", email)]).await
}

async fn reset_tokens(app: &TestApp, expected: i64) -> i64 {
    // Links are issued after the answer: wait for the background work to settle.
    let mut count = 0;
    for _ in 0..250 {
        count = app.count_rows("password_reset_tokens").await;
        if count == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.count_rows("password_reset_tokens").await.max(count)
}

#[actix_web::test]
async fn three_reset_emails_per_address_per_hour_then_the_same_answer_and_no_mail() {
    let app = app_with_alice().await;
    let mut answers = Vec::new();
    for _ in 0..5 {
        let client = app.client();
        let res = request_reset(&client, "alice@example.com").await;
        assert_redirects_to(&res, "/login");
        answers.push(client.get("/login").await.body);
    }
    assert!(
        answers
            .windows(2)
            .all(|w| w[0].contains("If an account exists") && w[1].contains("If an account exists"))
    );
    assert_eq!(reset_tokens(&app, 3).await, 3, "three links, no more");
    assert_eq!(app.events("alice", "password_reset_suppressed", 2).await, 2);

    app.clock.advance(61 * MINUTE);
    request_reset(&app.client(), "alice@example.com").await;
    assert_eq!(reset_tokens(&app, 4).await, 4, "a new hour, a new link");
}

#[actix_web::test]
async fn too_many_reset_requests_from_one_ip_are_a_429() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_RESET_IP", "3".to_owned());
    })
    .await;
    for n in 0..3 {
        assert_redirects_to(&request_reset(&app.client(), &format!("u{n}@example.com")).await, "/login");
    }
    let res = request_reset(&app.client(), "u9@example.com").await;
    assert_throttled(&res, 60 * 60);
    assert!(!res.body.contains("href=\"/password-reset\""), "no link back to the page that is paused");
}

#[actix_web::test]
async fn too_many_registrations_from_one_ip_are_a_429_and_create_nothing() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_REGISTER_IP", "3".to_owned());
    })
    .await;
    app.logged_in_client("alice").await;
    // Probing for a taken address counts like a sign-up does.
    let probe = app.client().register("prober", "alice@example.com", PASSWORD).await;
    assert_eq!(probe.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(probe.body.contains("already exists"), "{}", probe.body);
    app.logged_in_client("bob").await;

    let res = app.client().register("carol", "carol@example.com", PASSWORD).await;
    assert_throttled(&res, 60 * 60);
    assert!(res.body.contains("create an account"), "{}", res.body);
    let probe = app.client().register("prober", "alice@example.com", PASSWORD).await;
    assert_throttled(&probe, 60 * 60);
    assert!(!probe.body.contains("already exists"), "a refused probe learns nothing");
    assert_eq!(app.count_rows("users").await, 2);

    // After the hour, registration is open again.
    app.clock.advance(61 * MINUTE);
    assert_redirects_to(&app.client().register("carol", "carol@example.com", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn a_visitor_who_only_looks_at_the_forms_writes_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client();
    app.statements.reset();
    for page in ["/", "/login", "/register", "/password-reset", "/login?next=/account", "/register"] {
        let res = client.get(page).await;
        assert_eq!(res.status, StatusCode::OK, "{page}");
    }
    for _ in 0..20 {
        app.client().get("/login").await;
    }
    assert_eq!(app.statements.writes(), 0, "{:?}", app.statements.sql());
    assert_eq!(app.count_rows("sessions").await, 0, "session rows exist only for logged-in users");
    assert_eq!(client.session_cookie(), None);
}

#[actix_web::test]
async fn a_failed_login_writes_no_session_either() {
    let app = app_with_alice().await;
    let sessions = app.count_rows("sessions").await;
    fail(&app.client(), "alice", 3).await;
    assert_eq!(app.count_rows("sessions").await, sessions);
}

#[actix_web::test]
async fn two_instances_share_sessions_logouts_and_lockouts() {
    let database = TestDb::create_shared().await;
    let one = TestApp::spawn_on(database, |_| {}).await;
    let two = one.another_instance().await;

    let on_one = one.logged_in_client("alice").await;
    let on_two = on_one.on(&two);
    let page = on_two.get("/dashboard").await;
    assert!(page.body.contains("Welcome, alice"), "a session made on one works on the other");

    on_two.log_out().await;
    assert_redirects_to(&on_one.get("/dashboard").await, "/login?next=/dashboard");

    fail(&one.client(), "alice", 5).await;
    fail(&two.client(), "alice", 5).await;
    assert_locked(&one.client().log_in("alice", PASSWORD).await, 15 * 60);
    assert_locked(&two.client().log_in("alice", PASSWORD).await, 15 * 60);
}

#[actix_web::test]
async fn expired_counters_and_spent_reset_tokens_are_purged_and_a_running_lock_is_kept() {
    use gatehouse::auth::{housekeeping, session_store::SessionPolicy};
    let app = app_with_alice().await;
    fail(&app.client(), "alice", 10).await;
    fail(&app.client(), "someone-else", 2).await;
    request_reset(&app.client(), "alice@example.com").await;
    assert_eq!(reset_tokens(&app, 1).await, 1);
    let policy = SessionPolicy::new(app.settings.session_idle_timeout, app.settings.session_max_age);
    let purge = || housekeeping::purge_expired(&app.db, &app.clock, &policy, &app.settings.throttle);

    let purged = purge().await.unwrap();
    assert_eq!(purged.throttle_counters, 0, "everything is recent");
    assert_eq!(
        app.count_rows("throttle_counters").await,
        7,
        "two names, the login IP, the reset IP and address, the address's confirmation emails, and the \
         registering IP"
    );

    app.clock.advance(3 * 60 * MINUTE);
    let purged = purge().await.unwrap();
    assert_eq!(purged.throttle_counters, 7);
    assert_eq!(purged.reset_tokens, 1, "the link expired after an hour");
    assert_eq!(purged.confirmation_tokens, 0, "the registration's confirmation link lasts a day");
    assert_eq!(app.count_rows("throttle_counters").await, 0);
    assert_eq!(app.count_rows("password_reset_tokens").await, 0);

    app.clock.advance(21 * 60 * MINUTE);
    assert_eq!(purge().await.unwrap().confirmation_tokens, 1, "expired after 24 hours");
    assert_eq!(app.count_rows("email_confirmation_tokens").await, 0);
}

#[actix_web::test]
async fn concurrent_failures_all_count_and_start_exactly_one_lock() {
    use gatehouse::auth::throttle::{self, Key, Reservation};
    let app = TestApp::spawn().await;
    let key = Key::login_name("flooded");
    let limit = app.settings.throttle.login;
    let now = app.clock.now();
    // Exactly the limit, all at once: if any two started "a new window" together, one would be lost.
    let attempts = (0..limit.max_failures).map(|_| async {
        let reservation = throttle::reserve(&app.db, &key, &limit, now).await.unwrap();
        throttle::failed(&app.db, &key, &limit, &reservation, now).await.unwrap()
    });
    let locks_started =
        futures_util::future::join_all(attempts).await.into_iter().filter(Option::is_some).count();
    assert_eq!(locks_started, 1, "ten parallel failures lock the name, once");
    assert!(matches!(
        throttle::reserve(&app.db, &key, &limit, now).await.unwrap(),
        Reservation::Refused { .. }
    ));
}

#[actix_web::test]
async fn a_burst_of_parallel_guesses_gets_at_most_ten_password_checks() {
    let app = app_with_alice().await;
    // Thirty wrong guesses, all in flight at once. (The right password is tried after the burst, not
    // inside it: inside, it may be one of the ten checked, and a success rightly forgets the count.)
    let answers = wrong_logins_at_once(&app, &["alice"; 30]).await;
    let checked = answers.iter().filter(|res| res.status != StatusCode::TOO_MANY_REQUESTS).count();
    assert!(checked <= 10, "{checked} password checks in one burst");
    assert!(answers.iter().all(|res| res.status != StatusCode::INTERNAL_SERVER_ERROR));
    assert_locked(&app.client().log_in("alice", PASSWORD).await, 15 * 60);
}

#[actix_web::test]
async fn a_password_change_voids_older_device_cookies() {
    let app = app_with_alice().await;
    let laptop = app.client();
    assert_redirects_to(&laptop.log_in("alice", PASSWORD).await, "/dashboard");
    let old_device = laptop.cookie("gatehouse_device").unwrap();
    let new_password = "an entirely different passphrase";
    let res = laptop
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

    fail(&app.client(), "alice", 10).await;
    let thief = app.client();
    thief.set_cookie("gatehouse_device", &old_device);
    assert_locked(&thief.log_in("alice", new_password).await, 15 * 60);
}

#[actix_web::test]
async fn an_overlong_login_name_is_a_plain_refusal_and_counts_on_the_ip() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_IP_FAILURES", "3".to_owned());
    })
    .await;
    let long = "İ".repeat(300);
    for _ in 0..3 {
        let res = app.client().log_in(&long, WRONG).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    }
    assert_eq!(app.client().log_in("x", WRONG).await.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Every statement that writes several counters locks them in key order (Postgres; SQLite has no row
/// locks, a writer holds the whole database), so two logins from one IP, one counting its name and
/// IP while the other settles the same two, can never each hold the row the other waits for: that
/// deadlock ended one of them in a 500 under load. Each statement is started while another
/// transaction holds the later key, and must by then hold the earlier one.
#[actix_web::test]
async fn statements_on_several_counters_lock_them_in_key_order() {
    use gatehouse::db::throttle;
    use sea_orm::{ConnectionTrait, DbBackend};

    let app = TestApp::spawn().await;
    if app.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let now = app.clock.now();
    let window_start = now - chrono::Duration::minutes(15);
    let (first, second) = ("login-ip:192.0.2.1", "login-name:someone");
    // The earlier key is written last, so the later one comes first on disk, where a scan starts.
    let put_first_last_on_disk = || async {
        throttle::count_failure(&app.db, second, window_start, now).await.unwrap();
        throttle::count_failure(&app.db, first, window_start, now).await.unwrap();
    };

    put_first_last_on_disk().await;
    let db = app.db.clone();
    let count = async move {
        throttle::count_failures(&db, &[(second, window_start), (first, window_start)], now).await.map(drop)
    };
    assert!(holds_first_while_waiting_for_second(&app, first, second, count).await, "the upsert");

    let give_back = Some(counted(&app, first).await);
    let success = throttle::SuccessSettlement { forget: second.to_owned(), give_back };
    put_first_last_on_disk().await;
    let (db, settled) = (app.db.clone(), success.clone());
    let settle = async move { throttle::settle_success(&db, &settled, now).await };
    assert!(holds_first_while_waiting_for_second(&app, first, second, settle).await, "the settling");

    // The purge passes over a row somebody holds (a login right now: not stale) instead of waiting
    // for it with other rows locked.
    use sea_orm::{Statement, TransactionTrait};
    let blocker = app.db.begin().await.unwrap();
    let hold = format!("SELECT key FROM throttle_counters WHERE key = '{second}' FOR UPDATE");
    blocker.query_one_raw(Statement::from_string(DbBackend::Postgres, hold)).await.unwrap().unwrap();
    let later = now + chrono::Duration::hours(1);
    let purge = throttle::purge(&app.db, later, later);
    let purged =
        tokio::time::timeout(Duration::from_secs(5), purge).await.expect("the purge waited").unwrap();
    blocker.rollback().await.unwrap();
    assert_eq!(purged, 1);
    assert!(throttle::find(&app.db, first).await.unwrap().is_none());
    assert!(
        throttle::find(&app.db, second).await.unwrap().is_some(),
        "the held row is left for the next purge"
    );
    // A completed password login settles its counters in the statement that records the login.
    app.logged_in_client("alice").await;
    let alice = app.user_id("alice").await;
    put_first_last_on_disk().await;
    // The purge deleted the first counter: its new row's window is the one to give back to.
    let success = throttle::SuccessSettlement {
        forget: second.to_owned(),
        give_back: Some(counted(&app, first).await),
    };
    let db = app.db.clone();
    let record = async move {
        gatehouse::db::users::record_login(&db, alice, login_event(alice, now), Some(&success)).await
    };
    assert!(holds_first_while_waiting_for_second(&app, first, second, record).await, "the login's record");
}

/// The login's record locks the users row before the counters, as the SQLite transaction does, so
/// a future transaction that writes a user and then counters cannot deadlock with it. Postgres runs
/// the parts of a WITH in an order of its choosing unless one reads another's result; the settling
/// reads the stamping's. Started while another transaction holds a counter, the record must by
/// then hold the user.
#[actix_web::test]
async fn a_login_record_locks_the_user_before_its_counters() {
    use gatehouse::db::{throttle, users};
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    let app = TestApp::spawn().await;
    if app.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    app.logged_in_client("alice").await;
    let alice = app.user_id("alice").await;
    let now = app.clock.now();
    let (ip, name) = ("login-ip:192.0.2.1", "login-name:alice");
    for key in [ip, name] {
        throttle::count_failure(&app.db, key, now - chrono::Duration::minutes(15), now).await.unwrap();
    }
    let give_back = Some(counted(&app, ip).await);
    let success = throttle::SuccessSettlement { forget: name.to_owned(), give_back };
    let db = app.db.clone();
    let record =
        async move { users::record_login(&db, alice, login_event(alice, now), Some(&success)).await };
    let lock_user = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM users WHERE id = $1 FOR UPDATE NOWAIT",
        [alice.into()],
    );
    assert!(holds_while_waiting_for(&app, lock_user, ip, record).await, "the user is locked first");
    let counter = throttle::find(&app.db, name).await.unwrap().unwrap();
    assert_eq!(counter.failures, 0, "the record settled the name once the counters were free");
    assert!(users::find_by_id(&app.db, alice).await.unwrap().unwrap().last_login_at.is_some());
}

/// An attempt counted on `key` in its counter's current window, as a reservation would hold it.
async fn counted(app: &TestApp, key: &str) -> gatehouse::db::throttle::CountedAttempt {
    let counter = gatehouse::db::throttle::find(&app.db, key).await.unwrap().expect("a counter");
    gatehouse::db::throttle::CountedAttempt {
        key: key.to_owned(),
        window_started_at: counter.window_started_at,
    }
}

/// The audit event of a password login by `user_id`, as the login route records it.
fn login_event(user_id: i64, now: chrono::DateTime<chrono::Utc>) -> gatehouse::db::audit_events::NewEvent {
    gatehouse::db::audit_events::NewEvent {
        user_id: Some(user_id),
        kind: "login",
        ip: None,
        user_agent: None,
        request_id: None,
        detail: None,
        now,
    }
}

fn lock_counter(key: &str, nowait: &str) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        format!("SELECT key FROM throttle_counters WHERE key = $1 FOR UPDATE {nowait}"),
        [key.into()],
    )
}

/// Runs `statement` while another transaction holds `second`; true when, waiting for it, the
/// statement already holds `first`.
async fn holds_first_while_waiting_for_second(
    app: &TestApp,
    first: &str,
    second: &str,
    statement: impl std::future::Future<Output = Result<(), sea_orm::DbErr>> + 'static,
) -> bool {
    holds_while_waiting_for(app, lock_counter(first, "NOWAIT"), second, statement).await
}

/// Runs `statement` while another transaction holds the counter `held`; true when, waiting for it,
/// the statement already holds the row that `probe` (a `FOR UPDATE NOWAIT`) tries to lock.
async fn holds_while_waiting_for(
    app: &TestApp,
    probe: sea_orm::Statement,
    held: &str,
    statement: impl std::future::Future<Output = Result<(), sea_orm::DbErr>> + 'static,
) -> bool {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let blocker = app.db.begin().await.unwrap();
    blocker.query_one_raw(lock_counter(held, "")).await.unwrap().expect("the counter exists");
    let running = actix_web::rt::spawn(statement);

    let waiting = Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    let mut waits = false;
    for _ in 0..500 {
        let row = app.db.query_one_raw(waiting.clone()).await.unwrap().unwrap();
        if row.try_get_by_index::<i64>(0).unwrap() > 0 {
            waits = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(waits, "the statement never waited for the held row");

    let probe = blocker.query_one_raw(probe).await;
    let held = match &probe {
        Err(error) => error.to_string().contains("could not obtain lock"),
        Ok(_) => false,
    };
    blocker.rollback().await.unwrap();
    running.await.unwrap().expect("the statement completes once the row is free");
    held
}

/// A wrong current password on one of the forms that ask for it again: 422 on that field.
async fn wrong_current_password(client: &TestClient, action: &str) {
    let fields: Vec<(&str, &str)> = match action {
        "/account/email" => vec![("email", "new@example.com"), ("current_password", WRONG)],
        "/account/password" => {
            vec![("current_password", WRONG), ("new_password", WRONG), ("new_password_confirm", WRONG)]
        }
        _ => vec![("current_password", WRONG)],
    };
    let page = if action.starts_with("/account/two-factor") { "/account/two-factor" } else { "/account" };
    let res = client.submit(page, action, &fields).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}: {}", res.body);
    assert!(res.body.contains("Your current password is not correct."), "{action}");
}

/// The right current password starts turning TOTP on: the page with the secret (a check that
/// passed, and a harmless change).
async fn assert_enrolment_starts(client: &TestClient, password: &str) {
    let res = client
        .submit("/account/two-factor", "/account/two-factor/totp", &[("current_password", password)])
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("data-totp-secret"));
}

const REAUTH_FORMS: [&str; 4] =
    ["/account/email", "/account/password", "/account/delete", "/account/two-factor/totp"];

#[actix_web::test]
async fn ten_wrong_current_passwords_lock_every_form_that_asks_for_it_but_not_the_login() {
    let app = TestApp::spawn().await;
    let screen = app.logged_in_client("alice").await;
    // Whoever sits at a screen left logged in tries passwords on every form that asks for one.
    for attempt in 0..10 {
        wrong_current_password(&screen, REAUTH_FORMS[attempt % REAUTH_FORMS.len()]).await;
    }

    // Now even the right password is refused, unchecked, on each of them: nothing changes.
    let res = screen.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_throttled(&res, 15 * 60);
    assert!(res.body.contains("too many wrong passwords for this account"), "{}", res.body);
    assert!(
        res.body.contains(r#"href="/password-reset""#),
        "the way out, as on the login's 429: {}",
        res.body
    );
    assert!(!res.body.contains(PASSWORD), "the password is not echoed");
    assert_eq!(app.count_rows("users").await, 1, "the account is not deleted");
    let res = screen
        .submit("/account/two-factor", "/account/two-factor/totp", &[("current_password", PASSWORD)])
        .await;
    assert_throttled(&res, 15 * 60);
    assert!(!res.body.contains("data-totp-secret"), "no enrolment began");
    assert_eq!(app.count_rows("two_factor").await, 0);
    let fields = [("current_password", PASSWORD), ("new_password", WRONG), ("new_password_confirm", WRONG)];
    assert_throttled(&screen.submit("/account", "/account/password", &fields).await, 15 * 60);
    assert_eq!(screen.get("/dashboard").await.status, StatusCode::OK, "the lock does not log anybody out");
    // A program asking for JSON gets the same way out.
    let token = screen.csrf_token("/account").await;
    let fields = [("current_password", PASSWORD), ("csrf_token", token.as_str())];
    let json = [("Origin", crate::helpers::ORIGIN), ("Accept", "application/json")];
    let res = screen.post_form_with("/account/delete", &fields, &json).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    let body: serde_json::Value = serde_json::from_str(&res.body).expect(&res.body);
    assert_eq!(body["reset_url"], "/password-reset", "{body}");
    assert!(body["message"].as_str().unwrap().contains("too many wrong passwords"), "{body}");

    // The budget is the forms' own: the owner still logs in elsewhere, and the name's is untouched.
    assert_eq!(app.login_failures("alice").await, 0);
    let laptop = app.client();
    assert_redirects_to(&laptop.log_in("alice", PASSWORD).await, "/dashboard");
    // It is the account's, not the session's: another session of it is refused as well.
    let res = laptop.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_throttled(&res, 15 * 60);

    // Once the lock is over, the right password works again.
    app.clock.advance(15 * MINUTE + Duration::from_secs(1));
    assert_enrolment_starts(&screen, PASSWORD).await;
}

#[actix_web::test]
async fn a_right_current_password_forgets_the_wrong_ones_and_other_accounts_are_not_locked() {
    let app = TestApp::spawn().await;
    let alice = app.logged_in_client("alice").await;
    let bob = app.logged_in_client("bob").await;
    for _ in 0..9 {
        wrong_current_password(&alice, "/account/delete").await;
    }
    assert_enrolment_starts(&alice, PASSWORD).await;
    // Counted from zero again: nine more are still plain refusals.
    for _ in 0..9 {
        wrong_current_password(&alice, "/account/delete").await;
    }
    // Bob's forms count on a budget of his own.
    for _ in 0..10 {
        wrong_current_password(&bob, "/account/delete").await;
    }
    assert_throttled(
        &bob.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await,
        15 * 60,
    );
    let res = alice.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_redirects_to(&res, "/");
    assert_eq!(app.count_rows("users").await, 1, "alice's account is gone, bob's is kept");
}

#[actix_web::test]
async fn the_lock_on_current_passwords_doubles_while_wrong_ones_go_on() {
    let app = TestApp::spawn().await;
    let screen = app.logged_in_client("alice").await;
    for expected_minutes in [15, 30, 60] {
        for _ in 0..10 {
            wrong_current_password(&screen, "/account/delete").await;
        }
        let res = screen.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;
        assert_throttled(&res, expected_minutes * 60);
        app.clock.advance(expected_minutes as u32 * MINUTE + Duration::from_secs(1));
    }
}

#[actix_web::test]
async fn a_burst_of_parallel_current_passwords_gets_at_most_ten_checks() {
    let app = TestApp::spawn().await;
    let screen = app.logged_in_client("alice").await;
    let token = screen.csrf_token("/account").await;
    // Thirty guesses from the one session, all in flight at once.
    let fields = [("current_password", WRONG), ("csrf_token", token.as_str())];
    let guesses = (0..30).map(|_| screen.post_form("/account/delete", &fields));
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|res| res.status == StatusCode::UNPROCESSABLE_ENTITY).count();
    let refused = answers.iter().filter(|res| res.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + refused, 30, "each a 422 or a 429");
    assert!(checked <= 10, "{checked} password checks in one burst");
    let res = screen.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_throttled(&res, 15 * 60);
    assert_eq!(app.count_rows("users").await, 1);
}

#[actix_web::test]
async fn wrong_current_passwords_and_their_lock_are_security_events_the_user_sees() {
    let app = TestApp::spawn().await;
    let screen = app.logged_in_client("alice").await;
    for _ in 0..10 {
        wrong_current_password(&screen, "/account/delete").await;
    }
    assert_eq!(app.events("alice", "current_password_failed", 10).await, 10);
    assert_eq!(app.events("alice", "current_password_locked", 1).await, 1);
    let page = screen.get("/account").await.body;
    assert!(page.contains("Wrong current password on a settings form"), "{page}");
    assert!(page.contains("Settings changes blocked (too many wrong current passwords)"));
    // Refused attempts check nothing and record nothing more; the end of the lock is recorded once.
    let res = screen.submit("/account", "/account/delete", &[("current_password", PASSWORD)]).await;
    assert_throttled(&res, 15 * 60);
    assert_eq!(app.events("alice", "current_password_failed", 11).await, 10);
    app.clock.advance(15 * MINUTE + Duration::from_secs(1));
    assert_enrolment_starts(&screen, PASSWORD).await;
    assert_eq!(app.events("alice", "current_password_lock_ended", 1).await, 1);
}

#[actix_web::test]
async fn a_password_reset_ends_the_lock_on_current_passwords() {
    let app = TestApp::spawn().await;
    let thief = app.logged_in_client("alice").await;
    for _ in 0..10 {
        wrong_current_password(&thief, "/account/delete").await;
    }
    // The owner takes the account back through the reset link, then secures it at once.
    let token = match gatehouse::auth::reset::request(
        &app.db,
        &app.clock,
        &app.settings.throttle,
        "alice@example.com",
    )
    .await
    .unwrap()
    {
        gatehouse::auth::reset::Requested::Issued(issued) => issued.token,
        _ => panic!("no token issued"),
    };
    let owner = app.client();
    let moved = owner.get(&format!("/password-reset/{token}")).await;
    assert_redirects_to(&moved, "/password-reset/set-password");
    let new_password = "the owner's brand new passphrase";
    let fields = [("password", new_password), ("password_confirm", new_password)];
    let res = owner.submit("/password-reset/set-password", "/password-reset/set-password", &fields).await;
    assert_redirects_to(&res, "/login");
    assert_redirects_to(&owner.log_in("alice", new_password).await, "/dashboard");
    assert_enrolment_starts(&owner, new_password).await;
}

#[actix_web::test]
async fn a_lock_shorter_than_the_window_gives_a_fresh_budget_when_it_ends() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_FAILURES", "3".to_owned());
        vars.insert("THROTTLE_LOGIN_WINDOW", "30m".to_owned());
        vars.insert("THROTTLE_LOGIN_LOCK", "5m".to_owned());
        vars.insert("THROTTLE_LOGIN_MAX_LOCK", "1h".to_owned());
    })
    .await;
    app.logged_in_client("alice").await.log_out().await;
    fail(&app.client(), "alice", 3).await;
    // Attempts refused during the lock check nothing, so they must not count against what follows.
    for _ in 0..5 {
        assert_locked(&app.client().log_in("alice", PASSWORD).await, 5 * 60);
    }
    app.clock.advance(5 * MINUTE + Duration::from_secs(1));
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");

    // Still inside the window: three more failures lock again, for twice as long.
    fail(&app.client(), "alice", 3).await;
    assert_locked(&app.client().log_in("alice", PASSWORD).await, 5 * 60);
    app.clock.advance(5 * MINUTE + Duration::from_secs(1));
    fail(&app.client(), "alice", 3).await;
    assert_locked(&app.client().log_in("alice", PASSWORD).await, 10 * 60);
}

/// One hashing thread and room for one job waiting: the rest of a burst is answered "busy" (503)
/// at once, without its password being checked.
async fn app_with_one_hashing_slot() -> TestApp {
    TestApp::spawn_with(|vars| {
        vars.insert("HASH_THREADS", "1".to_owned());
        vars.insert("HASH_QUEUE_LIMIT", "1".to_owned());
    })
    .await
}

#[actix_web::test]
async fn a_login_answered_busy_costs_neither_the_name_nor_the_ip_an_attempt() {
    let app = app_with_one_hashing_slot().await;
    app.logged_in_client("alice").await.log_out().await;
    let answers = wrong_logins_at_once(&app, &["alice"; 8]).await;
    let busy = answers.iter().filter(|res| res.status == StatusCode::SERVICE_UNAVAILABLE).count();
    let checked = answers.iter().filter(|res| res.status == StatusCode::UNPROCESSABLE_ENTITY).count();
    assert_eq!(busy + checked, 8, "each a 422 or a 503");
    assert!(busy >= 1, "eight logins at once on one hashing slot find the queue full");
    assert_eq!(app.statements.failed(), 0, "every 503 was the hashing queue's, none the database's");
    assert_eq!(app.login_failures("alice").await, checked as i32, "only checked guesses count on the name");
    assert_eq!(app.ip_failures().await, checked as i32, "and on the IP");
}

#[actix_web::test]
async fn a_current_password_answered_busy_is_not_counted_against_the_account() {
    let app = app_with_one_hashing_slot().await;
    let screen = app.logged_in_client("alice").await;
    let token = screen.csrf_token("/account").await;
    let fields = [("current_password", WRONG), ("csrf_token", token.as_str())];
    let answers =
        futures_util::future::join_all((0..8).map(|_| screen.post_form("/account/delete", &fields))).await;
    let busy = answers.iter().filter(|res| res.status == StatusCode::SERVICE_UNAVAILABLE).count();
    let checked = answers.iter().filter(|res| res.status == StatusCode::UNPROCESSABLE_ENTITY).count();
    assert_eq!(busy + checked, 8, "each a 422 or a 503");
    assert!(busy >= 1, "eight checks at once on one hashing slot find the queue full");
    assert_eq!(app.statements.failed(), 0, "every 503 was the hashing queue's, none the database's");
    let key = gatehouse::auth::throttle::Key::reauth_user(app.user_id("alice").await);
    let counted =
        gatehouse::db::throttle::find(&app.db, key.as_str()).await.unwrap().map_or(0, |c| c.failures);
    assert_eq!(counted, checked as i32, "only checked passwords count");
}

/// A login answered busy can be the attempt that finds a lock run out and clears it; no later
/// attempt will see that lock end, so its end is recorded then. Two logins of unknown names take
/// the one hashing thread and its one waiting place; alice's, sent last and one statement longer
/// (it clears the lock), finds them taken. Rounds until hers was the busy one, as it nearly always is.
#[actix_web::test]
async fn the_end_of_a_lock_is_recorded_even_when_the_attempt_that_ends_it_is_answered_busy() {
    let app = app_with_one_hashing_slot().await;
    app.logged_in_client("alice").await.log_out().await;
    for round in 1..=5 {
        fail(&app.client(), "alice", 10).await;
        // Past the longest lock, whichever this round's is.
        app.clock.advance(app.settings.throttle.login.max_lock + Duration::from_secs(1));
        let answers = wrong_logins_at_once(&app, &["nobody-one", "nobody-two", "alice"]).await;
        assert_eq!(app.events("alice", "login_lock_ended", round).await, round, "round {round}");
        if answers[2].status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(app.login_failures("alice").await, 0, "the busy attempt was given back");
            return;
        }
        // Checked, it counted: a right password forgets it before the next round.
        assert_eq!(answers[2].status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answers[2].body);
        app.client().log_in("alice", PASSWORD).await;
    }
    panic!("alice's login was never the one answered busy: nothing was tested");
}

/// What a reservation gives back belongs to the window it was counted in. Once that window has
/// rolled over, the new window's count is other attempts': lowering it would hand a guesser a
/// free try (for a failed name here, and for the IP a success gives its attempt back to).
#[actix_web::test]
async fn an_attempt_given_back_after_its_window_rolled_over_leaves_the_new_window_alone() {
    use gatehouse::auth::throttle::{self, Key, Settlement};
    let app = TestApp::spawn().await;
    let limits = &app.settings.throttle;
    let failures = async |key: &Key| {
        gatehouse::db::throttle::find(&app.db, key.as_str()).await.unwrap().map_or(0, |c| c.failures)
    };
    let (name, ip) = (Key::login_name("someone"), Key::login_ip("192.0.2.9"));
    let reserve = async || {
        let budgets = [(&name, &limits.login), (&ip, &limits.login_ip)];
        let reservations = throttle::reserve_all(&app.db, &budgets, app.clock.now()).await.unwrap();
        (reservations[0], reservations[1])
    };

    let (old_name, old_ip) = reserve().await;
    app.clock.advance(limits.login.window.max(limits.login_ip.window) + Duration::from_secs(1));
    let (new_name, new_ip) = reserve().await;
    assert_eq!((failures(&name).await, failures(&ip).await), (1, 1), "each a new window of one");

    throttle::give_back(&app.db, &name, &old_name).await.unwrap();
    let settled = Settlement::new(&Key::login_name("another"), Some((&ip, &old_ip)));
    throttle::settle(&app.db, settled, app.clock.now()).await.unwrap();
    assert_eq!(failures(&name).await, 1, "the old window's attempt is not the new window's");
    assert_eq!(failures(&ip).await, 1, "nor is it when a success gives it back");

    throttle::give_back(&app.db, &name, &new_name).await.unwrap();
    let settled = Settlement::new(&Key::login_name("another"), Some((&ip, &new_ip)));
    throttle::settle(&app.db, settled, app.clock.now()).await.unwrap();
    assert_eq!((failures(&name).await, failures(&ip).await), (0, 0), "within its window it is given back");

    // A lock that starts after the reservation opens a window of its own: attempts refused during
    // the lock count there, and an earlier reservation given back does not lower that count.
    let (before_lock, _) = reserve().await;
    app.clock.advance(Duration::from_secs(1));
    let until = app.clock.now() + chrono::Duration::minutes(15);
    gatehouse::db::throttle::start_lock(&app.db, name.as_str(), until, app.clock.now()).await.unwrap();
    let (during_lock, _) = reserve().await;
    assert!(matches!(during_lock, throttle::Reservation::Refused { .. }), "{during_lock:?}");
    assert_eq!(failures(&name).await, 1, "counted while locked");
    throttle::give_back(&app.db, &name, &before_lock).await.unwrap();
    assert_eq!(failures(&name).await, 1, "the lock's window is not the reservation's");
}

/// The client IP is refused while the name's own lock has just run out: that attempt cleared the
/// name's lock, so it records its end (no later attempt will see it end).
#[actix_web::test]
async fn the_end_of_a_lock_is_recorded_even_when_the_attempt_that_ends_it_is_refused_for_its_ip() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("THROTTLE_LOGIN_IP_FAILURES", "12".to_owned());
    })
    .await;
    app.logged_in_client("alice").await.log_out().await;
    fail(&app.client(), "alice", 10).await;
    app.clock.advance(15 * MINUTE + Duration::from_secs(1));
    // Past both the name's lock and the IP's window: twelve other names spend the IP's budget.
    for other in 1..=12 {
        fail(&app.client(), &format!("somebody-{other}"), 1).await;
    }
    assert_locked(&app.client().log_in("alice", PASSWORD).await, 15 * 60);
    assert_eq!(app.events("alice", "login_lock_ended", 1).await, 1);

    app.clock.advance(15 * MINUTE + Duration::from_secs(1));
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
    assert_eq!(app.events("alice", "login_lock_ended", 2).await, 1, "one lock, one end");
}
