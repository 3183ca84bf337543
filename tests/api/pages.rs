//! What a person sees: the dashboard's facts, form pages that focus the field to type in (or to fix),
//! titles that say a form failed, the sessions list with this device first, and fields that do not
//! auto-capitalise a username or an address. The browser tests (tests/browser) check the same in
//! Chromium; these check the HTML on both backends.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, SAFARI_ON_IPHONE, TestApp, TestClient, assert_redirects_to};

/// The attributes of the element with `id="<id>"`, up to the end of its tag.
fn tag_with_id<'a>(body: &'a str, id: &str) -> &'a str {
    let at = body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element with id {id}"));
    let start = body[..at].rfind('<').unwrap();
    let end = at + body[at..].find('>').unwrap();
    &body[start..=end]
}

fn title(body: &str) -> &str {
    let start = body.find("<title>").unwrap() + "<title>".len();
    &body[start..start + body[start..].find("</title>").unwrap()]
}

#[actix_web::test]
async fn the_dashboard_shows_the_previous_sign_in_the_live_sessions_and_the_way_to_the_settings() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    app.clock.advance(std::time::Duration::from_secs(3 * 3600));
    let phone = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;

    let page = phone.get("/dashboard").await.body;

    assert_eq!(page.matches("Welcome").count(), 1, "{page}");
    assert!(page.contains("Welcome, alice"));
    // The sign-in before this one was the registration on the laptop, three hours ago.
    assert!(page.contains("3 hours ago"), "{page}");
    assert!(page.contains("from 203.0.113.7 · Firefox on Linux"), "{page}");
    let sessions = &page[page.find("<dt>Active sessions</dt>").unwrap()..];
    assert!(sessions[sessions.find("<dd>").unwrap() + 4..].starts_with("2 "), "{sessions}");
    for link in ["/account/sessions", "/account#email", "/account#password", "/account#events"] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{link}");
    }
    assert!(page.contains("Not confirmed yet"));
    assert!(!page.contains("/admin/users"), "no admin link for a user");

    // The laptop's own sign-in was the first: nothing before it.
    assert!(laptop.get("/dashboard").await.body.contains("None before this one"));
}

#[actix_web::test]
async fn an_administrator_finds_the_admin_area_on_the_dashboard() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("boss").await;
    let id = app.user_id("boss").await;
    gatehouse::db::users::set_role(&app.db, id, "admin", app.clock.now()).await.unwrap();
    assert!(client.get("/dashboard").await.body.contains("href=\"/admin/users\""));
}

#[actix_web::test]
async fn form_pages_focus_their_first_field_and_after_a_failure_the_first_field_to_fix() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    for (page, first) in [
        ("/login", "login"),
        ("/register", "username"),
        ("/password-reset", "email"),
        ("/confirm-email", "email"),
    ] {
        let body = visitor.get(page).await.body;
        assert!(tag_with_id(&body, first).contains("autofocus"), "{page}");
        assert_eq!(body.matches("autofocus").count(), 1, "{page}: one field only");
        assert!(!title(&body).starts_with("Error"), "{page}");
    }

    let failed = visitor
        .submit(
            "/register",
            "/register",
            &[
                ("username", "alice"),
                ("email", "not an address"),
                ("password", "short"),
                ("password_confirm", "x"),
            ],
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(title(&failed.body).starts_with("Error: "), "{}", title(&failed.body));
    assert!(tag_with_id(&failed.body, "email").contains("autofocus"), "the first field with a message");
    assert_eq!(failed.body.matches("autofocus").count(), 1);

    let wrong = visitor.log_in("nobody", "not the password at all").await;
    assert!(title(&wrong.body).starts_with("Error: "));
    assert!(tag_with_id(&wrong.body, "password").contains("autofocus"), "the password is what to retype");
}

#[actix_web::test]
async fn the_account_page_focuses_only_after_a_failure_and_then_the_failed_forms_field() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let page = client.get("/account").await.body;
    assert!(!page.contains("autofocus"), "a plain visit does not jump anywhere");

    let wrong = "this is not my password";
    for (action, fields, focused) in [
        ("/account/delete", vec![("current_password", wrong)], "delete-current_password"),
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("new_password_confirm", "short"),
            ],
            "new_password",
        ),
        ("/account/email", vec![("email", "x"), ("current_password", PASSWORD)], "new-email"),
    ] {
        let res = client.submit("/account", action, &fields).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        assert!(title(&res.body).starts_with("Error: "), "{action}");
        assert!(tag_with_id(&res.body, focused).contains("autofocus"), "{action}: {focused}");
        assert_eq!(res.body.matches("autofocus").count(), 1, "{action}");
    }
}

#[actix_web::test]
async fn names_and_addresses_are_not_capitalised_or_spellchecked() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    let register = visitor.get("/register").await.body;
    let login = visitor.get("/login").await.body;
    for (body, id) in [(&register, "username"), (&register, "email"), (&login, "login")] {
        let tag = tag_with_id(body, id);
        assert!(tag.contains("autocapitalize=\"none\"") && tag.contains("spellcheck=\"false\""), "{tag}");
    }
    assert!(!tag_with_id(&register, "password").contains("autocapitalize"));
}

#[actix_web::test]
async fn this_device_comes_first_in_the_sessions_list() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let phone = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;
    // The phone was used last, so by "last seen" alone it would come first on the laptop too.
    phone.get("/dashboard").await;

    for (client, device) in [(&laptop, "Firefox on Linux"), (&phone, "Safari on iPhone")] {
        let page = client.get("/account/sessions").await.body;
        let first = &page[page.find("<li class=\"session").unwrap()..];
        let first = &first[..first.find("</li>").unwrap()];
        assert!(first.contains("current") && first.contains("This device"), "{first}");
        assert!(first.contains(device), "{device}: {first}");
    }
    assert_redirects_to(&laptop.get("/login").await, "/dashboard");
}

#[actix_web::test]
async fn flash_messages_are_announced() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    client.log_out().await;
    let login = client.get("/login").await.body;
    let flash = &login[login.find("class=\"flash ").unwrap()..];
    let flash = &flash[..flash.find('>').unwrap()];
    assert!(flash.contains("role=\"status\"") && flash.contains("aria-live=\"polite\""), "{flash}");
}
