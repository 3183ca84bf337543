use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp, TestClient, assert_redirects_to};

const NEW_PASSWORD: &str = "reset to a fresh long passphrase";
const LINK_SENT: &str = "If an account exists for that email address, we have sent it a link";

async fn issue_token(app: &TestApp, email: &str) -> String {
    match gatehouse::auth::reset::request(&app.db, &app.clock, &app.settings.throttle, email).await.unwrap() {
        gatehouse::auth::reset::Requested::Issued(issued) => issued.token,
        _ => panic!("no token issued for {email}"),
    }
}

async fn set_new_password(client: &TestClient, token: &str, password: &str) -> crate::helpers::TestResponse {
    let moved = client.get(&format!("/password-reset/{token}")).await;
    assert_redirects_to(&moved, "/password-reset/set-password");
    client
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", password), ("password_confirm", password)],
        )
        .await
}

/// For a dead link: the form page is the 404 "invalid link" page, and posting anyway is refused alike.
async fn assert_link_is_dead(app: &TestApp, token: &str) {
    let client = app.client();
    assert_redirects_to(
        &client.get(&format!("/password-reset/{token}")).await,
        "/password-reset/set-password",
    );
    let page = client.get("/password-reset/set-password").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("This link is invalid or has expired"));
    let posted = client
        .submit(
            "/password-reset",
            "/password-reset/set-password",
            &[
                ("password", "yet another long passphrase"),
                ("password_confirm", "yet another long passphrase"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_reset_request_answers_the_same_for_known_and_unknown_addresses() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;

    let known =
        app.client().submit("/password-reset", "/password-reset", &[("email", "alice@example.com")]).await;
    let unknown =
        app.client().submit("/password-reset", "/password-reset", &[("email", "nobody@example.com")]).await;

    for res in [&known, &unknown] {
        assert_redirects_to(res, "/login");
    }
    let known_cookies: Vec<_> = known.set_cookies.iter().map(|c| c.name().to_owned()).collect();
    let unknown_cookies: Vec<_> = unknown.set_cookies.iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(known_cookies, unknown_cookies);
    // The token is issued after the answer, in the background: wait for it.
    let mut tokens = 0;
    for _ in 0..100 {
        tokens = app.count_rows("password_reset_tokens").await;
        if tokens > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(tokens, 1, "a token only for the real account");
    let client = app.client();
    client.submit("/password-reset", "/password-reset", &[("email", "nobody@example.com")]).await;
    assert!(client.get("/login").await.body.contains(LINK_SENT));
}

#[actix_web::test]
async fn an_invalid_address_on_the_reset_form_is_a_422() {
    let app = TestApp::spawn().await;
    let res = app.client().submit("/password-reset", "/password-reset", &[("email", "not-an-address")]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("id=\"email-error\""));
}

#[actix_web::test]
async fn the_token_is_random_long_and_stored_only_as_a_hash() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let first = issue_token(&app, "alice@example.com").await;
    let second = issue_token(&app, "alice@example.com").await;
    assert_ne!(first, second);
    assert!(first.len() >= 22, "at least 128 bits of base64");
    use sea_orm::EntityTrait;
    for row in entity::password_reset_tokens::Entity::find().all(&app.db).await.unwrap() {
        assert!(row.token_hash != first && row.token_hash != second);
        assert_eq!(row.token_hash.len(), 64);
    }
}

#[actix_web::test]
async fn a_reset_link_moves_the_token_out_of_the_url_sets_the_password_and_ends_every_session() {
    let app = TestApp::spawn().await;
    let logged_in = app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    let browser = app.client();

    let moved = browser.get(&format!("/password-reset/{token}")).await;
    assert_redirects_to(&moved, "/password-reset/set-password");
    use sea_orm::EntityTrait;
    for row in entity::sessions::Entity::find().all(&app.db).await.unwrap() {
        assert!(!row.state.contains(&token), "the raw token is not kept in a session");
    }
    let form = browser.get("/password-reset/set-password").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(!form.body.contains(&token), "the token is not in the page");
    assert!(form.body.contains("autocomplete=\"new-password\""));

    let res = browser
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)],
        )
        .await;

    assert_redirects_to(&res, "/login");
    assert!(browser.get("/login").await.body.contains("Your password has been reset."));
    assert_redirects_to(&logged_in.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.client().log_in("alice", PASSWORD).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirects_to(&app.client().log_in("alice", NEW_PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn a_reset_link_works_once() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    assert_redirects_to(&set_new_password(&app.client(), &token, NEW_PASSWORD).await, "/login");

    assert_link_is_dead(&app, &token).await;
}

#[actix_web::test]
async fn a_reset_link_expires_after_an_hour() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    app.clock.advance(std::time::Duration::from_secs(61 * 60));

    assert_link_is_dead(&app, &token).await;
    assert_redirects_to(&app.client().log_in("alice", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn unknown_used_and_expired_links_look_alike() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let unknown = app.client();
    unknown.get("/password-reset/not-a-real-token").await;
    let unknown_page = unknown.get("/password-reset/set-password").await;

    let expired_token = issue_token(&app, "alice@example.com").await;
    app.clock.advance(std::time::Duration::from_secs(2 * 3600));
    let expired = app.client();
    expired.get(&format!("/password-reset/{expired_token}")).await;
    let expired_page = expired.get("/password-reset/set-password").await;

    let used_token = issue_token(&app, "alice@example.com").await;
    assert_redirects_to(&set_new_password(&app.client(), &used_token, NEW_PASSWORD).await, "/login");
    let used = app.client();
    used.get(&format!("/password-reset/{used_token}")).await;
    let used_page = used.get("/password-reset/set-password").await;

    assert_eq!(unknown_page.status, StatusCode::NOT_FOUND);
    for page in [&expired_page, &used_page] {
        assert_eq!(unknown_page.status, page.status);
        assert_eq!(unknown_page.body, page.body);
    }
}

#[actix_web::test]
async fn changing_the_email_invalidates_outstanding_reset_links() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    let requested = client
        .submit(
            "/account",
            "/account/email",
            &[("email", "alice@new.example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_redirects_to(&requested, "/account");
    // The change waits for the link to the new address; opening it is what changes the address.
    let user = app.user_id("alice").await;
    let user = gatehouse::db::users::find_by_id(&app.db, user).await.unwrap().unwrap();
    let link = gatehouse::auth::confirmation::issue(&app.db, &app.clock, user, "alice@new.example.com").await;
    let path = format!("/confirm-email/{}", link.unwrap().token);
    assert_redirects_to(&client.submit(&path, &path, &[]).await, "/account");
    assert_link_is_dead(&app, &token).await;
}

#[actix_web::test]
async fn changing_the_password_invalidates_outstanding_reset_links() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    let changed = client
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
    assert_redirects_to(&changed, "/account");

    assert_link_is_dead(&app, &token).await;
}

#[actix_web::test]
async fn the_new_password_follows_the_policy() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    let res = set_new_password(&app.client(), &token, "alice is my name ok").await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("must not contain your username"));
    assert_redirects_to(&set_new_password(&app.client(), &token, NEW_PASSWORD).await, "/login");
}

#[actix_web::test]
async fn two_tabs_submitting_one_link_at_once_change_the_password_once() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    let tabs = [app.client(), app.client()];
    let mut forms = Vec::new();
    for tab in &tabs {
        let moved = tab.get(&format!("/password-reset/{token}")).await;
        assert_redirects_to(&moved, "/password-reset/set-password");
        forms.push(tab.csrf_token("/password-reset/set-password").await);
    }
    // Both pass the link's check, then hash their password (milliseconds) before using the link up.
    let passwords = ["the first tab's long passphrase", "the second tab's long passphrase"];
    let (tabs, forms) = (&tabs, &forms);
    let submit = |i: usize| async move {
        let fields =
            [("password", passwords[i]), ("password_confirm", passwords[i]), ("csrf_token", &forms[i])];
        tabs[i].post_form("/password-reset/set-password", &fields).await
    };
    let answers = futures_util::future::join(submit(0), submit(1)).await;
    let answers = [answers.0, answers.1];
    let winners: Vec<usize> = (0..2).filter(|&i| answers[i].status == StatusCode::SEE_OTHER).collect();
    assert_eq!(winners.len(), 1, "one tab wins: {} and {}", answers[0].status, answers[1].status);
    let (winner, loser) = (winners[0], 1 - winners[0]);
    assert_eq!(answers[loser].status, StatusCode::NOT_FOUND, "the other finds the link used");
    assert_redirects_to(&app.client().log_in("alice", passwords[winner]).await, "/dashboard");
    assert_eq!(app.client().log_in("alice", passwords[loser]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn a_link_is_used_once_even_when_two_requests_both_found_it_usable() {
    use gatehouse::db::{link_tokens, password_reset_tokens::ResetTokens};
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    let hash = gatehouse::tokens::link_token_hash(&token).unwrap();
    let now = app.clock.now();
    let find = || link_tokens::find_usable::<ResetTokens>(&app.db, &hash, now);
    let (first, second) = (find().await.unwrap().expect("usable"), find().await.unwrap().expect("usable"));
    assert!(
        link_tokens::mark_used::<ResetTokens>(&app.db, first.id, now).await.unwrap(),
        "the first uses it"
    );
    assert!(
        !link_tokens::mark_used::<ResetTokens>(&app.db, second.id, now).await.unwrap(),
        "the second is late"
    );
    assert!(find().await.unwrap().is_none(), "and nobody finds it usable now");
}

#[actix_web::test]
async fn a_reset_link_works_until_its_hour_is_up_and_not_at_the_hour() {
    use gatehouse::auth::reset::{self, ResetError};
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let token = issue_token(&app, "alice@example.com").await;
    let hash = gatehouse::tokens::link_token_hash(&token).unwrap();
    app.clock.advance(std::time::Duration::from_secs(3599));
    assert!(reset::check(&app.db, &app.clock, &hash).await.is_ok(), "a second before the hour");
    app.clock.advance(std::time::Duration::from_secs(1));
    assert!(
        matches!(reset::check(&app.db, &app.clock, &hash).await, Err(ResetError::InvalidToken)),
        "at the hour"
    );
}
