use actix_web::http::StatusCode;

use crate::helpers::{TestApp, assert_redirects_to};

#[actix_web::test]
async fn logging_out_redirects_to_login_with_a_flash_and_no_store() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;

    let res = client.log_out().await;

    assert_redirects_to(&res, "/login");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let login = client.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("You have been logged out."));
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn the_old_cookie_replayed_after_logout_is_anonymous() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let stolen = client.session_cookie().unwrap();

    client.log_out().await;

    let replay = app.client();
    replay.set_cookie("gatehouse_session", &stolen);
    assert_redirects_to(&replay.get("/dashboard").await, "/login?next=/dashboard");
    let home = replay.get("/").await;
    assert!(home.body.contains("Log in") && !home.body.contains("alice"), "anonymous on every page");
    assert_eq!(app.count_rows("sessions").await, 0, "the logged-out session row is gone");
}

#[actix_web::test]
async fn logout_deletes_the_session_row() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let id = app.user_id("alice").await;
    assert_eq!(gatehouse::db::sessions::list_for_user(&app.db, id).await.unwrap().len(), 1);

    client.log_out().await;

    assert!(gatehouse::db::sessions::list_for_user(&app.db, id).await.unwrap().is_empty());
}

#[actix_web::test]
async fn logging_out_one_device_leaves_the_other_logged_in() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let phone = app.client();
    assert_redirects_to(&phone.log_in("alice", crate::helpers::PASSWORD).await, "/dashboard");

    laptop.log_out().await;

    assert_eq!(phone.get("/dashboard").await.status, StatusCode::OK);
    assert_redirects_to(&laptop.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn get_logout_is_a_405_page() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let res = client.get("/logout").await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.header("allow"), Some("POST"));
    assert_eq!(client.get("/dashboard").await.status, StatusCode::OK, "still logged in");

    // Not a bare error: the page offers the button that logs out.
    assert!(res.body.contains("Log out?"), "{}", res.body);
    let form = &res.body[res.body.find("<main").unwrap()..];
    assert!(form.contains("action=\"/logout\"") && form.contains("name=\"csrf_token\""), "{form}");
    let token = res.csrf_token().unwrap();
    assert_redirects_to(&client.post_form("/logout", &[("csrf_token", &token)]).await, "/login");
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");

    let anonymous = app.client().get("/logout").await;
    assert_eq!(anonymous.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(anonymous.body.contains("You are not logged in"));
}
