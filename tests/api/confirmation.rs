//! Confirmed email addresses: a new account's link, a change that waits for the link to the new
//! address, `REQUIRE_CONFIRMED_EMAIL`, resending (throttled), and every way a link can be dead.
//! Mail goes through a real SMTP conversation (`SmtpCatcher`); links are taken from the messages.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, SmtpCatcher, TestApp, TestClient, assert_redirects_to, link_path};

const CONFIRM_SUBJECT: &str = "Subject: Confirm your Gatehouse email address";
const CONFIRM_NEW_SUBJECT: &str = "Subject: Confirm your new Gatehouse email address";
const INVALID: &str = "This link is invalid or has expired";

async fn spawn(smtp: &SmtpCatcher, require_confirmed: bool) -> TestApp {
    let url = smtp.url.clone();
    TestApp::spawn_with(move |vars| {
        vars.insert("SMTP_URL", url);
        if require_confirmed {
            vars.insert("REQUIRE_CONFIRMED_EMAIL", "true".to_owned());
        }
    })
    .await
}

async fn confirmed_at(app: &TestApp, username: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let id = app.user_id(username).await;
    gatehouse::db::users::find_by_id(&app.db, id).await.unwrap().unwrap().email_confirmed_at
}

async fn email_of(app: &TestApp, username: &str) -> String {
    let id = app.user_id(username).await;
    gatehouse::db::users::find_by_id(&app.db, id).await.unwrap().unwrap().email
}

/// Opens a link's page and presses its button, as a person would.
async fn press_confirm(client: &TestClient, path: &str) -> crate::helpers::TestResponse {
    client.submit(path, path, &[]).await
}

async fn request_change(client: &TestClient, new_email: &str) -> crate::helpers::TestResponse {
    client.submit("/account", "/account/email", &[("email", new_email), ("current_password", PASSWORD)]).await
}

#[actix_web::test]
async fn a_new_account_gets_a_link_and_only_the_button_behind_it_confirms_the_address() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let client = app.logged_in_client("alice").await;
    assert!(client.get("/account").await.body.contains("Not confirmed yet"));

    let mail = smtp.message_matching("alice@example.com", CONFIRM_SUBJECT).await;
    let path = link_path(&mail, "/confirm-email/");

    // Opening the link (or a mail scanner fetching it) only shows the page.
    let page = app.client().get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("alice@example.com") && page.body.contains("Confirm this address"));
    assert_eq!(confirmed_at(&app, "alice").await, None, "a GET changes nothing");

    let confirmed = press_confirm(&client, &path).await;
    assert_redirects_to(&confirmed, "/account");
    let account = client.get("/account").await.body;
    assert!(account.contains("your email address alice@example.com is confirmed"), "{account}");
    assert!(account.contains("Email address confirmed"), "the event is listed");
    assert!(!account.contains("Not confirmed yet"));
    assert!(confirmed_at(&app, "alice").await.is_some());

    // Single use: the same link again is the clear 404 page, for the page and for the button.
    let again = app.client().get(&path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains(INVALID));
    let pressed_again =
        client.post_form(&path, &[("csrf_token", &client.csrf_token("/account").await)]).await;
    assert_eq!(pressed_again.status, StatusCode::NOT_FOUND);
    assert!(pressed_again.body.contains(INVALID));
}

#[actix_web::test]
async fn a_changed_address_takes_effect_only_when_the_link_to_it_is_opened() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let client = app.logged_in_client("alice").await;

    let res = request_change(&client, "Alice.New@Example.com").await;
    assert_redirects_to(&res, "/account");

    // Nothing has changed yet: the old address still logs in and receives mail, the new one does not.
    assert_eq!(email_of(&app, "alice").await, "alice@example.com");
    let account = client.get("/account").await.body;
    assert!(account.contains("Waiting for confirmation") && account.contains("alice.new@example.com"));
    assert!(account.contains("Email address change requested"), "the request is listed");
    assert_redirects_to(&app.client().log_in("alice@example.com", PASSWORD).await, "/dashboard");
    assert_eq!(
        app.client().log_in("alice.new@example.com", PASSWORD).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The old address is told, with a way to secure the account.
    let notice = smtp.message_matching("alice@example.com", "about to change").await;
    let text = crate::helpers::unfolded(&notice.data);
    assert!(text.contains("alice.new@example.com"), "{text}");
    assert!(text.contains("http://localhost:8080/password-reset"), "{text}");

    // The link goes to the new address, and works in any browser (the phone the mail was read on).
    let mail = smtp.message_matching("alice.new@example.com", CONFIRM_NEW_SUBJECT).await;
    let path = link_path(&mail, "/confirm-email/");
    let phone = app.client();
    let page = phone.get(&path).await;
    assert!(
        page.body.contains("Confirm your new email address") && page.body.contains("alice.new@example.com")
    );
    assert_redirects_to(&press_confirm(&phone, &path).await, "/login");
    assert!(phone.get("/login").await.body.contains("Your email address is now alice.new@example.com."));

    assert_eq!(email_of(&app, "alice").await, "alice.new@example.com");
    assert!(confirmed_at(&app, "alice").await.is_some(), "the new address is confirmed by its link");
    assert_redirects_to(&app.client().log_in("alice.new@example.com", PASSWORD).await, "/dashboard");
    assert_eq!(
        app.client().log_in("alice@example.com", PASSWORD).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let done =
        smtp.message_matching("alice@example.com", "Subject: Your Gatehouse email address was changed").await;
    assert!(crate::helpers::unfolded(&done.data).contains("alice.new@example.com"));
    assert!(client.get("/account").await.body.contains("Email address changed"));
}

#[actix_web::test]
async fn a_typo_in_a_new_address_is_undone_by_a_reset_from_the_old_one() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let client = app.logged_in_client("alice").await;
    assert_redirects_to(&request_change(&client, "alice@exmaple.com").await, "/account");
    let typo_link = link_path(&smtp.message_to("alice@exmaple.com").await, "/confirm-email/");

    // The old address still gets the reset link, and using it cancels the pending change.
    let reset =
        app.client().submit("/password-reset", "/password-reset", &[("email", "alice@example.com")]).await;
    assert_redirects_to(&reset, "/login");
    let reset_path =
        link_path(&smtp.message_matching("alice@example.com", "Reset your").await, "/password-reset/");
    let browser = app.client();
    assert_redirects_to(&browser.get(&reset_path).await, "/password-reset/set-password");
    let new_password = "a brand new long passphrase here";
    let done = browser
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", new_password), ("password_confirm", new_password)],
        )
        .await;
    assert_redirects_to(&done, "/login");

    let dead = app.client().get(&typo_link).await;
    assert_eq!(dead.status, StatusCode::NOT_FOUND);
    assert_eq!(email_of(&app, "alice").await, "alice@example.com");
}

#[actix_web::test]
async fn a_newer_change_replaces_an_older_one_and_a_cancelled_change_leaves_no_live_link() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let client = app.logged_in_client("alice").await;
    request_change(&client, "first@example.com").await;
    request_change(&client, "second@example.com").await;
    let first = link_path(&smtp.message_to("first@example.com").await, "/confirm-email/");
    let second = link_path(&smtp.message_to("second@example.com").await, "/confirm-email/");

    assert_eq!(app.client().get(&first).await.status, StatusCode::NOT_FOUND, "replaced");
    assert_eq!(app.client().get(&second).await.status, StatusCode::OK);

    let cancelled = client.submit("/account", "/account/email/cancel", &[]).await;
    assert_redirects_to(&cancelled, "/account");
    let account = client.get("/account").await.body;
    assert!(account.contains("The change is cancelled"), "{account}");
    assert!(!account.contains("Waiting for confirmation"));
    assert!(account.contains("Email address change cancelled"));
    assert_eq!(app.client().get(&second).await.status, StatusCode::NOT_FOUND);
    assert_eq!(email_of(&app, "alice").await, "alice@example.com");
}

#[actix_web::test]
async fn a_password_change_cancels_a_pending_change_of_address() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let client = app.logged_in_client("alice").await;
    request_change(&client, "intruder@example.com").await;
    let link = link_path(&smtp.message_to("intruder@example.com").await, "/confirm-email/");
    let new_password = "another long passphrase, fresh";
    let changed = client
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
    assert_redirects_to(&changed, "/account");
    assert_eq!(app.client().get(&link).await.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn an_address_taken_before_the_link_is_opened_is_a_409_page_and_changes_nothing() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let alice = app.logged_in_client("alice").await;
    request_change(&alice, "shared@example.com").await;
    let link = link_path(&smtp.message_to("shared@example.com").await, "/confirm-email/");

    // Someone registers the address meanwhile, typed in another case.
    let bob = app.client();
    assert_redirects_to(&bob.register("bob", "Shared@Example.COM", PASSWORD).await, "/dashboard");

    let res = press_confirm(&alice, &link).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body.contains("This address now belongs to another account"), "{}", res.body);
    assert_eq!(email_of(&app, "alice").await, "alice@example.com");
    assert_eq!(email_of(&app, "bob").await, "shared@example.com");
}

#[actix_web::test]
async fn a_change_to_an_address_in_use_or_to_the_same_one_is_refused_with_422() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    app.logged_in_client("bob").await;
    let alice = app.logged_in_client("alice").await;
    let taken = request_change(&alice, "BOB@example.com").await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.body.contains("An account with this email address already exists."));
    let same = request_change(&alice, "Alice@Example.com").await;
    assert_eq!(same.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(same.body.contains("This is already your email address."));
    let wrong_password = alice
        .submit(
            "/account",
            "/account/email",
            &[("email", "new@example.com"), ("current_password", "nope nope")],
        )
        .await;
    assert_eq!(wrong_password.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count_rows("email_confirmation_tokens").await, 2, "only the two registration links");
}

#[actix_web::test]
async fn a_link_expires_after_24_hours() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    app.logged_in_client("alice").await;
    let path = link_path(&smtp.message_to("alice@example.com").await, "/confirm-email/");

    app.clock.advance(std::time::Duration::from_secs(24 * 3600 + 1));

    let page = app.client().get(&path).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains(INVALID));
    // The session is over by now too: press the button as a visitor.
    let visitor = app.client();
    let token = visitor.csrf_token("/confirm-email").await;
    assert_eq!(visitor.post_form(&path, &[("csrf_token", &token)]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(confirmed_at(&app, "alice").await, None);
}

#[actix_web::test]
async fn made_up_links_are_a_404_page_never_a_500() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let unknown = format!("/confirm-email/{}", "A".repeat(43));
    for path in ["/confirm-email/x", "/confirm-email/%FF%FE", unknown.as_str(), "/confirm-email/..%2f"] {
        let page = app.client().get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        let token = client.csrf_token("/account").await;
        let posted = client.post_form(path, &[("csrf_token", &token)]).await;
        assert_eq!(posted.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(app.client().get(&unknown).await.body.contains(INVALID));
}

#[actix_web::test]
async fn the_link_token_is_stored_only_as_its_hash() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    app.logged_in_client("alice").await;
    let path = link_path(&smtp.message_to("alice@example.com").await, "/confirm-email/");
    let token = path.trim_start_matches("/confirm-email/");
    use sea_orm::EntityTrait as _;
    let rows = entity::email_confirmation_tokens::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].token_hash, token);
    assert_eq!(rows[0].token_hash, gatehouse::tokens::sha256_hex(token));
    assert_eq!(rows[0].expires_at - rows[0].created_at, chrono::Duration::hours(24));
}

#[actix_web::test]
async fn with_require_confirmed_email_a_correct_password_waits_for_the_link() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, true).await;
    let client = app.client();

    let registered = client.register("alice", "alice@example.com", PASSWORD).await;
    assert_redirects_to(&registered, "/login");
    assert!(client.session_cookie().is_none(), "not logged in");
    assert!(client.get("/login").await.body.contains("Almost done: we sent a link to alice@example.com"));
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");

    // The right password: a page saying what to do, and no session; it is no failure either.
    assert_eq!(client.log_in("alice", "not the password").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((app.login_failures("alice").await, app.ip_failures().await), (1, 1));
    let waiting = client.log_in("alice", PASSWORD).await;
    assert_eq!(waiting.status, StatusCode::FORBIDDEN);
    assert_eq!(
        (app.login_failures("alice").await, app.ip_failures().await),
        (0, 1),
        "name forgotten, IP given back"
    );
    assert!(waiting.body.contains("Confirm your email address first"), "{}", waiting.body);
    assert!(waiting.body.contains("alice@example.com") && waiting.body.contains("action=\"/confirm-email\""));
    assert!(client.session_cookie().is_none());
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
    let alice = gatehouse::db::users::find_by_id(&app.db, app.user_id("alice").await).await.unwrap().unwrap();
    assert_eq!(alice.last_login_at, None, "a password alone, without the link, is not a login");

    // A wrong password, or an unknown name, learns nothing about the account.
    let wrong = app.client().log_in("alice", "not the password at all").await;
    let unknown = app.client().log_in("nobody", "not the password at all").await;
    for res in [&wrong, &unknown] {
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.body.contains("Invalid username, email or password."));
        assert!(!res.body.contains("Confirm your email address"));
    }

    let path = link_path(&smtp.message_to("alice@example.com").await, "/confirm-email/");
    assert_redirects_to(&press_confirm(&client, &path).await, "/login");
    assert!(client.get("/login").await.body.contains("is confirmed"));
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn asking_for_a_new_link_answers_the_same_for_every_address_and_is_throttled() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, true).await;
    app.client().register("alice", "alice@example.com", PASSWORD).await;
    smtp.message_to("alice@example.com").await;

    let known =
        app.client().submit("/confirm-email", "/confirm-email", &[("email", "ALICE@example.com")]).await;
    let unknown =
        app.client().submit("/confirm-email", "/confirm-email", &[("email", "nobody@example.com")]).await;
    for res in [&known, &unknown] {
        assert_redirects_to(res, "/login");
    }
    let client = app.client();
    client.submit("/confirm-email", "/confirm-email", &[("email", "nobody@example.com")]).await;
    assert!(client.get("/login").await.body.contains("we have sent it a new link"));

    // Registration took one of the address's three emails this hour, the request above the second.
    for _ in 0..30 {
        if smtp.count_to("alice@example.com") == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(smtp.count_to("alice@example.com"), 2);
    for _ in 0..3 {
        let res =
            app.client().submit("/confirm-email", "/confirm-email", &[("email", "alice@example.com")]).await;
        assert_redirects_to(&res, "/login");
    }
    // Held-back requests answer the same; wait until the one allowed mail has gone, then count.
    for _ in 0..30 {
        if smtp.count_to("alice@example.com") == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.count_to("alice@example.com"), 3, "three per hour, however often one asks");
    assert_eq!(smtp.count_to("nobody@example.com"), 0);

    let invalid =
        app.client().submit("/confirm-email", "/confirm-email", &[("email", "not an address")]).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn resending_from_the_account_page_is_limited_with_a_429() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let client = app.logged_in_client("alice").await;
    assert!(client.get("/account").await.body.contains("action=\"/account/email/resend\""));

    // Registration used one share; two more resends go out, the next is refused.
    for _ in 0..2 {
        let res = client.submit("/account", "/account/email/resend", &[]).await;
        assert_redirects_to(&res, "/account");
    }
    assert!(client.get("/account").await.body.contains("We sent a new link to alice@example.com."));
    let refused = client.submit("/account", "/account/email/resend", &[]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 3600, "{retry_after}");
    assert!(refused.body.contains("Too many confirmation emails"));

    // Any of the links still works: a resend does not break the first email when it arrives late.
    for _ in 0..30 {
        if smtp.count_to("alice@example.com") == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = link_path(&smtp.message_to("alice@example.com").await, "/confirm-email/");
    assert_redirects_to(&press_confirm(&client, &first).await, "/account");

    // Confirmed: nothing more to send.
    let nothing = client.submit("/account", "/account/email/resend", &[]).await;
    assert_redirects_to(&nothing, "/account");
    assert!(client.get("/account").await.body.contains("there is nothing to send"));
}

#[actix_web::test]
async fn an_account_asking_for_a_fourth_change_of_address_in_an_hour_gets_a_429() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let client = app.logged_in_client("alice").await;
    for new_email in ["one@example.com", "two@example.com", "three@example.com"] {
        assert_redirects_to(&request_change(&client, new_email).await, "/account");
    }
    let refused = request_change(&client, "four@example.com").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.header("retry-after").is_some());
}

#[actix_web::test]
async fn someone_elses_change_requests_do_not_use_up_a_new_accounts_confirmation_emails() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, false).await;
    let mallory = app.logged_in_client("mallory").await;
    for _ in 0..3 {
        assert_redirects_to(&request_change(&mallory, "victim@example.com").await, "/account");
    }
    assert_redirects_to(&mallory.submit("/account", "/account/email/cancel", &[]).await, "/account");

    // The address's owner registers: their own link still goes out, and it confirms the account.
    let victim = app.client();
    let res = victim.register("victim", "victim@example.com", PASSWORD).await;
    assert_redirects_to(&res, "/dashboard");
    let mail = smtp.message_matching("victim@example.com", CONFIRM_SUBJECT).await;
    let path = link_path(&mail, "/confirm-email/");
    assert_redirects_to(&press_confirm(&victim, &path).await, "/account");
    assert!(confirmed_at(&app, "victim").await.is_some());
}

#[actix_web::test]
async fn a_password_reset_works_for_an_unconfirmed_address_and_confirms_it() {
    let smtp = SmtpCatcher::start().await;
    let app = spawn(&smtp, true).await;
    app.client().register("alice", "alice@example.com", PASSWORD).await;
    assert_eq!(confirmed_at(&app, "alice").await, None);

    let issued =
        gatehouse::auth::reset::request(&app.db, &app.clock, &app.settings.throttle, "alice@example.com")
            .await;
    let token = match issued.unwrap() {
        gatehouse::auth::reset::Requested::Issued(issued) => issued.token,
        _ => panic!("a reset link for an unconfirmed address"),
    };
    let browser = app.client();
    assert_redirects_to(
        &browser.get(&format!("/password-reset/{token}")).await,
        "/password-reset/set-password",
    );
    let new_password = "a brand new long passphrase here";
    let done = browser
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", new_password), ("password_confirm", new_password)],
        )
        .await;
    assert_redirects_to(&done, "/login");
    assert!(confirmed_at(&app, "alice").await.is_some(), "the reset link reached the address");
    assert_redirects_to(&app.client().log_in("alice", new_password).await, "/dashboard");
}

#[actix_web::test]
async fn accounts_made_before_confirmation_existed_count_as_confirmed() {
    use migration::{Migrator, MigratorTrait as _};
    use sea_orm::{ConnectionTrait as _, Statement};
    let database = crate::helpers::TestDb::create_shared().await;
    let db = gatehouse::db::connect(&database.url, true).await.unwrap();
    Migrator::up(db.pool(), Some(6)).await.unwrap();
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(
        backend,
        "INSERT INTO users (username, username_key, email, password_hash, role, is_active, created_at, updated_at) \
         VALUES ('old', 'old', 'old@example.com', 'x', 'user', TRUE, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
    ))
    .await
    .unwrap();
    Migrator::up(db.pool(), None).await.unwrap();
    let user = gatehouse::db::users::find_by_email(&db, "old@example.com").await.unwrap().unwrap();
    assert!(user.email_confirmed_at.is_some());
    db.pool().clone().close().await.unwrap();
}

#[actix_web::test]
async fn an_operators_account_is_confirmed_and_a_registered_one_is_not() {
    let app = TestApp::spawn().await;
    let registration = gatehouse::auth::accounts::Registration {
        username: "operator".to_owned(),
        email: "operator@example.com".to_owned(),
        password: gatehouse::auth::password::Password::new(PASSWORD),
        password_confirm: gatehouse::auth::password::Password::new(PASSWORD),
        role: "admin",
        email_confirmed: true,
    };
    let hasher = gatehouse::auth::password::PasswordHasher::default();
    gatehouse::auth::accounts::register(&app.db, &hasher, &app.clock, 15, registration).await.unwrap();
    app.logged_in_client("alice").await;
    assert!(confirmed_at(&app, "operator").await.is_some());
    assert_eq!(confirmed_at(&app, "alice").await, None);
}
