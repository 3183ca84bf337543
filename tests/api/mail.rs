//! Email through a real SMTP conversation: a minimal SMTP server on localhost, started by the test,
//! receives what the app sends.

use crate::helpers::{PASSWORD, SmtpCatcher, TestApp, TestClient, assert_redirects_to, unfolded};

#[actix_web::test]
async fn a_reset_email_goes_through_smtp_and_its_link_resets_the_password() {
    let smtp = SmtpCatcher::start().await;
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SMTP_URL", smtp.url.clone());
    })
    .await;
    let other_device = app.logged_in_client("alice").await;

    let res =
        app.client().submit("/password-reset", "/password-reset", &[("email", "ALICE@example.com")]).await;
    assert_redirects_to(&res, "/login");

    let message = smtp.message_matching("alice@example.com", "Subject: Reset your Gatehouse password").await;
    let body = unfolded(&message.data);
    assert!(body.contains("text/plain") && body.contains("text/html"), "plain text and HTML parts");
    let start = body.find("http://localhost:8080/password-reset/").expect("a link built from PUBLIC_URL");
    let link: String =
        body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_:/.".contains(*c)).collect();
    let path = link.trim_start_matches("http://localhost:8080");

    let browser = app.client();
    assert_redirects_to(&browser.get(path).await, "/password-reset/set-password");
    let new_password = "mail delivered this long passphrase";
    let done = browser
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", new_password), ("password_confirm", new_password)],
        )
        .await;
    assert_redirects_to(&done, "/login");
    assert_redirects_to(&app.client().log_in("alice", new_password).await, "/dashboard");
    assert_redirects_to(&other_device.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn no_email_is_sent_for_an_unknown_address() {
    let smtp = SmtpCatcher::start().await;
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SMTP_URL", smtp.url.clone());
    })
    .await;
    app.logged_in_client("alice").await;
    app.client().submit("/password-reset", "/password-reset", &[("email", "nobody@example.com")]).await;
    app.client().submit("/password-reset", "/password-reset", &[("email", "alice@example.com")]).await;
    smtp.message_matching("alice@example.com", "Reset your").await;
    let inbox = smtp.inbox.lock().unwrap();
    assert!(inbox.iter().all(|m| m.to == ["alice@example.com"]), "only the real account got mail: {inbox:?}");
    assert_eq!(inbox.len(), 2, "its confirmation link and its reset link: {inbox:?}");
}

#[actix_web::test]
async fn the_old_address_is_told_when_a_change_of_email_is_asked_for() {
    let smtp = SmtpCatcher::start().await;
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SMTP_URL", smtp.url.clone());
    })
    .await;
    let client: TestClient = app.logged_in_client("alice").await;

    let res = client
        .submit(
            "/account",
            "/account/email",
            &[("email", "alice2@example.com"), ("current_password", PASSWORD)],
        )
        .await;

    assert_redirects_to(&res, "/account");
    let notice = unfolded(
        &smtp
            .message_matching("alice@example.com", "Subject: Your Gatehouse email address is about")
            .await
            .data,
    );
    assert!(notice.contains("alice2@example.com"), "{notice}");
    assert!(notice.contains("Nothing changes unless the link"), "{notice}");
}
