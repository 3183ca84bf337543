use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp, assert_redirects_to};

const GENERIC_FAILURE: &str = "Invalid username, email or password.";

async fn app_with_alice() -> TestApp {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    app
}

#[actix_web::test]
async fn logging_in_with_the_username_lands_on_the_dashboard() {
    let app = app_with_alice().await;
    let client = app.client();
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");
    let page = client.get("/dashboard").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Welcome, alice"));
}

#[actix_web::test]
async fn logging_in_with_the_email_in_any_case_works() {
    let app = app_with_alice().await;
    let client = app.client();
    assert_redirects_to(&client.log_in("  ALICE@example.COM ", PASSWORD).await, "/dashboard");
    assert!(client.get("/dashboard").await.body.contains("Welcome, alice"));
}

#[actix_web::test]
async fn logging_in_with_the_username_in_another_case_works() {
    let app = app_with_alice().await;
    assert_redirects_to(&app.client().log_in("ALIce", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_generic_422() {
    let app = app_with_alice().await;
    let wrong_password = app.client().log_in("alice", "not the right passphrase").await;
    let unknown_user = app.client().log_in("nobody", "not the right passphrase").await;

    for res in [&wrong_password, &unknown_user] {
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.body.contains(GENERIC_FAILURE), "{}", res.body);
        assert!(!res.body.contains("not the right passphrase"), "the password is never echoed");
    }
    let strip = |body: &str| body.replace("nobody", "alice");
    // The token appears twice (the form, and the passkey script's data attribute).
    let without_tokens = |body: String| {
        let marker = "name=\"csrf_token\" value=\"";
        let start = body.find(marker).unwrap() + marker.len();
        let token = body[start..start + 64].to_owned();
        body.replace(&token, "")
    };
    assert_eq!(
        without_tokens(strip(&unknown_user.body)),
        without_tokens(wrong_password.body.clone()),
        "the two failures render the same page"
    );
}

#[actix_web::test]
async fn a_failed_login_keeps_what_was_typed_in_the_login_field() {
    let app = app_with_alice().await;
    let res = app.client().log_in("alice@example.com", "wrong wrong wrong wrong").await;
    assert!(res.body.contains("value=\"alice@example.com\""));
}

#[actix_web::test]
async fn empty_fields_are_a_422_with_a_message_each() {
    let app = TestApp::spawn().await;
    let res = app.client().log_in("", "").await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Enter your username or email."));
    assert!(res.body.contains("Enter your password."));
}

#[actix_web::test]
async fn a_deactivated_user_cannot_log_in_and_gets_the_generic_message() {
    let app = app_with_alice().await;
    let id = app.user_id("alice").await;
    gatehouse::db::users::set_active(&app.db, id, false, app.clock.now()).await.unwrap();
    let res = app.client().log_in("alice", PASSWORD).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains(GENERIC_FAILURE));
}

#[actix_web::test]
async fn logging_in_issues_a_new_session_key_and_a_new_csrf_token() {
    let app = app_with_alice().await;
    let client = app.client();
    let token_before = client.csrf_token("/login").await;
    assert_eq!(client.session_cookie(), None, "a visitor's form token needs no session");
    assert!(client.cookie("gatehouse_csrf").is_some(), "it lives in a cookie of its own");

    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");

    assert!(client.session_cookie().is_some(), "logged-in session cookie");
    assert_eq!(client.cookie("gatehouse_csrf"), None, "the visitor token is gone at login");
    let token_after = client.get("/dashboard").await.csrf_token().expect("token on the dashboard");
    assert_ne!(token_before, token_after, "the CSRF token is rotated at login");
}

#[actix_web::test]
async fn a_planted_session_cookie_is_replaced_at_login_no_fixation() {
    let app = app_with_alice().await;
    let attacker = app.logged_in_client("mallory").await;
    let planted = attacker.session_cookie().unwrap();
    let victim = app.client();
    victim.set_cookie("gatehouse_session", &planted);
    // The victim logs out of what looks like someone else's session first, as the page offers.
    victim.log_out().await;
    victim.set_cookie("gatehouse_session", &planted);

    assert_redirects_to(&victim.log_in("alice", PASSWORD).await, "/dashboard");

    let victims = victim.session_cookie().unwrap();
    assert_ne!(victims, planted, "a new session key at login");
    let attackers_view = attacker.get("/dashboard").await;
    assert!(!attackers_view.body.contains("Welcome, alice"), "the planted key never becomes alice's");
}

#[actix_web::test]
async fn an_anonymous_visitor_is_sent_to_login_with_next_and_a_flash() {
    let app = TestApp::spawn().await;
    let client = app.client();

    let res = client.get("/dashboard?tab=a%20b&x=1").await;

    assert_redirects_to(&res, "/login?next=/dashboard%3Ftab%3Da%2520b%26x%3D1");
    let login = client.get(res.location()).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("Please log in to access this page."));
    assert!(
        login.body.contains("name=\"next\" value=\"&#x2F;dashboard?tab=a%20b&amp;x=1\""),
        "{}",
        login.body
    );
    let again = client.get("/login").await;
    assert!(!again.body.contains("Please log in to access this page."), "a flash is shown once");
}

#[actix_web::test]
async fn after_login_the_user_lands_on_next() {
    let app = app_with_alice().await;
    let client = app.client();
    let redirect = client.get("/dashboard?from=mail").await;
    let login_page = redirect.location().to_owned();

    let token = client.csrf_token(&login_page).await;
    let res = client
        .post_form(
            "/login",
            &[
                ("login", "alice"),
                ("password", PASSWORD),
                ("next", "/dashboard?from=mail"),
                ("csrf_token", &token),
            ],
        )
        .await;

    assert_redirects_to(&res, "/dashboard?from=mail");
}

#[actix_web::test]
async fn unsafe_next_values_land_on_the_dashboard_instead() {
    let app = app_with_alice().await;
    for next in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "dashboard",
    ] {
        let client = app.client();
        let token = client.csrf_token("/login").await;
        let res = client
            .post_form(
                "/login",
                &[("login", "alice"), ("password", PASSWORD), ("next", next), ("csrf_token", &token)],
            )
            .await;
        assert_redirects_to(&res, "/dashboard");
    }
}

#[actix_web::test]
async fn an_unsafe_next_in_the_query_is_not_put_in_the_form() {
    let app = TestApp::spawn().await;
    let page = app.client().get("/login?next=https%3A%2F%2Fevil.example").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"next\" value=\"\""));
    assert!(!page.body.contains("evil.example"));
}

#[actix_web::test]
async fn a_logged_in_user_opening_login_is_sent_to_the_dashboard() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    assert_redirects_to(&client.get("/login").await, "/dashboard");
}

#[actix_web::test]
async fn the_login_form_has_labels_and_autocomplete_for_password_managers() {
    let app = TestApp::spawn().await;
    let page = app.client().get("/login?next=/dashboard").await;
    for needle in [
        // `webauthn`: the browser may offer passkeys among the name's suggestions (conditional UI).
        "autocomplete=\"username webauthn\"",
        "autocomplete=\"current-password\"",
        "<label for=\"login\">",
        "<label for=\"password\">",
        "<label for=\"remember\">",
        "name=\"remember\" type=\"checkbox\"",
        "name=\"next\" value=\"&#x2F;dashboard\"",
    ] {
        assert!(page.body.contains(needle), "missing {needle}");
    }
}

#[actix_web::test]
async fn a_login_stamps_the_user_and_records_one_event_with_the_same_time() {
    let app = app_with_alice().await;
    app.clock.advance(std::time::Duration::from_secs(90));
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");

    let id = app.user_id("alice").await;
    let alice = gatehouse::db::users::find_by_id(&app.db, id).await.unwrap().unwrap();
    let events = gatehouse::db::audit_events::recent_for_user(&app.db, id, 10).await.unwrap();
    let logins: Vec<_> = events.iter().filter(|e| e.kind == "login").collect();
    assert_eq!(logins.len(), 1, "{events:?}");
    assert_eq!(alice.last_login_at, Some(logins[0].created_at));
    assert!(logins[0].created_at > alice.created_at, "the login's own time, not the registration's");
}

#[actix_web::test]
async fn the_login_form_writes_nothing_and_a_login_costs_four_statements() {
    let app = app_with_alice().await;
    let client = app.client();

    app.statements.reset();
    let token = client.csrf_token("/login").await;
    assert_eq!(app.statements.count(), 0, "GET /login: {:#?}", app.statements.sql());

    let res = client
        .post_form("/login", &[("login", "alice"), ("password", PASSWORD), ("csrf_token", &token)])
        .await;
    assert_redirects_to(&res, "/dashboard");
    // The user; the name's and the IP's budgets, counted together; the last-login time, the audit
    // event and both budgets settled, together; the new session row. SQLite cannot update in a
    // WITH: there the last-login time, the event and the settling are three statements in one
    // transaction.
    use sea_orm::ConnectionTrait as _;
    let expected = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => 4,
        _ => 6,
    };
    assert_eq!(app.statements.count(), expected, "POST /login: {:#?}", app.statements.sql());
}

#[actix_web::test]
async fn a_login_that_cannot_be_recorded_logs_nobody_in() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = app_with_alice().await;
    // The login's record fails, as it would on a lock timeout or a connection lost mid-statement.
    let backend = app.db.get_database_backend();
    let refuse: &[&str] = match backend {
        DbBackend::Postgres => &[
            "CREATE FUNCTION refuse_login_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.kind = 'login' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_login_event BEFORE INSERT ON audit_events FOR EACH ROW \
             EXECUTE FUNCTION refuse_login_event()",
        ],
        _ => &["CREATE TRIGGER refuse_login_event BEFORE INSERT ON audit_events WHEN NEW.kind = 'login' \
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    };
    for sql in refuse {
        app.db.execute_raw(Statement::from_string(backend, *sql)).await.unwrap();
    }

    let client = app.client();
    let res = client.log_in("alice", PASSWORD).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!res.body.contains("refused by the test"), "no internals on the page");
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
    let alice = gatehouse::db::users::find_by_id(&app.db, app.user_id("alice").await).await.unwrap().unwrap();
    assert_eq!(alice.last_login_at, None, "nothing of the login was kept");
}

/// Gives alice a hash made with weaker argon2 parameters than the app's, as after a parameter raise.
async fn give_alice_an_outdated_hash(app: &TestApp) -> String {
    use argon2::password_hash::PasswordHasher as _;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let outdated = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes())
    .unwrap()
    .to_string();
    entity::users::ActiveModel {
        id: Set(app.user_id("alice").await),
        password_hash: Set(outdated.clone()),
        ..Default::default()
    }
    .update(&app.db)
    .await
    .unwrap();
    outdated
}

async fn alice_hash(app: &TestApp) -> String {
    gatehouse::db::users::find_by_id(&app.db, app.user_id("alice").await)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

#[actix_web::test]
async fn a_login_brings_an_outdated_hash_up_to_the_current_parameters() {
    let app = app_with_alice().await;
    let outdated = give_alice_an_outdated_hash(&app).await;

    let client = app.client();
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");
    let rehashed = alice_hash(&app).await;
    assert_ne!(rehashed, outdated);
    assert!(rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{rehashed}");
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

/// The rehash is an upgrade, not part of the login: a valid password whose new hash cannot be saved
/// still logs in, settles its attempt, and keeps the old hash for the next login to try again.
#[actix_web::test]
async fn a_rehash_that_cannot_be_saved_does_not_fail_the_login() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = app_with_alice().await;
    let outdated = give_alice_an_outdated_hash(&app).await;
    let backend = app.db.get_database_backend();
    let refuse: &[&str] = match backend {
        DbBackend::Postgres => &[
            "CREATE FUNCTION refuse_rehash() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.password_hash <> OLD.password_hash THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER refuse_rehash BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse_rehash()",
        ],
        _ => &["CREATE TRIGGER refuse_rehash BEFORE UPDATE OF password_hash ON users \
                WHEN NEW.password_hash <> OLD.password_hash \
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    };
    for sql in refuse {
        app.db.execute_raw(Statement::from_string(backend, *sql)).await.unwrap();
    }

    let client = app.client();
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");
    assert!(client.get("/dashboard").await.body.contains("Welcome, alice"));
    assert_eq!(app.login_failures("alice").await, 0, "the attempt was settled");
    assert_eq!(alice_hash(&app).await, outdated, "the old hash stays for the next login to replace");
}
