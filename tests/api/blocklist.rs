//! Common passwords are refused wherever a password is chosen, with the reason beside the field.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp, assert_redirects_to};

const REFUSAL: &str = "attackers try first";

#[actix_web::test]
async fn common_passwords_are_refused_at_registration_change_and_reset() {
    let app = TestApp::spawn().await;
    for common in ["passwordpassword", "iloveyouiloveyou", "123456789012345", "Qwertyuiopasdfgh"] {
        let res = app.client().register("newcomer", "newcomer@example.com", common).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{common}");
        assert!(res.body.contains(REFUSAL) || res.body.contains("easy to guess"), "{common}: {}", res.body);
    }
    assert_eq!(app.count_rows("users").await, 0);

    let alice = app.logged_in_client("alice").await;
    let change = alice
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "passwordpassword"),
                ("new_password_confirm", "passwordpassword"),
            ],
        )
        .await;
    assert_eq!(change.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(change.body.contains(REFUSAL), "{}", change.body);

    let issued =
        gatehouse::auth::reset::request(&app.db, &app.clock, &app.settings.throttle, "alice@example.com");
    let token = match issued.await.unwrap() {
        gatehouse::auth::reset::Requested::Issued(issued) => issued.token,
        _ => panic!("no link"),
    };
    let visitor = app.client();
    visitor.get(&format!("/password-reset/{token}")).await;
    let reset = visitor
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", "iloveyouiloveyou"), ("password_confirm", "iloveyouiloveyou")],
        )
        .await;
    assert_eq!(reset.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reset.body.contains(REFUSAL), "{}", reset.body);
}

#[actix_web::test]
async fn a_random_passphrase_is_accepted() {
    let app = TestApp::spawn().await;
    let res = app.client().register("newcomer", "newcomer@example.com", "copper violin marsh tundra").await;
    assert_redirects_to(&res, "/dashboard");
}
