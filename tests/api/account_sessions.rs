use actix_web::http::StatusCode;

use crate::helpers::{SAFARI_ON_IPHONE, TestApp, TestClient, assert_redirects_to};

fn session_ids(body: &str) -> Vec<String> {
    body.split("action=\"/account/sessions/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/revoke\"").map(|(id, _)| id.to_owned()))
        .collect()
}

#[actix_web::test]
async fn the_sessions_page_lists_each_device_with_this_device_marked() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let _phone = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;
    app.clock.advance(std::time::Duration::from_secs(5 * 60));

    let page = laptop.get("/account/sessions").await;

    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(session_ids(&page.body).len(), 2);
    assert!(page.body.contains("Firefox on Linux") && page.body.contains("Safari on iPhone"));
    assert!(page.body.contains("IP 203.0.113.7"));
    assert!(page.body.contains("5 minutes ago"), "the phone was last seen 5 minutes ago");
    assert!(page.body.contains("just now"), "this device was just seen");
    assert_eq!(page.body.matches("This device").count(), 1);
    let this_device = page.body.find("This device").unwrap();
    let firefox = page.body.find("Firefox on Linux").unwrap();
    let safari = page.body.find("Safari on iPhone").unwrap();
    assert!(firefox.abs_diff(this_device) < safari.abs_diff(this_device), "the laptop is marked");
}

#[actix_web::test]
async fn ending_another_device_makes_it_anonymous_and_leaves_this_one() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let phone = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;
    let page = laptop.get("/account/sessions").await;
    let phone_id = page
        .body
        .split("<li class=\"session")
        .find(|item| item.contains("Safari on iPhone"))
        .and_then(|item| session_ids(item).into_iter().next())
        .expect("the phone's revoke form");

    let res = laptop.submit("/account/sessions", &format!("/account/sessions/{phone_id}/revoke"), &[]).await;

    assert_redirects_to(&res, "/account/sessions");
    assert_redirects_to(&phone.get("/dashboard").await, "/login?next=/dashboard");
    let after = laptop.get("/account/sessions").await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(session_ids(&after.body).len(), 1);
    assert!(after.body.contains("That session has been ended."));
}

#[actix_web::test]
async fn ending_someone_elses_session_is_a_404_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let bob = app.logged_in_client("bob").await;
    let bob_id = app.user_id("bob").await;
    let bobs_session =
        gatehouse::db::sessions::list_for_user(&app.db, bob_id).await.unwrap()[0].public_id.clone();
    let alice = app.logged_in_client("alice").await;

    let res =
        alice.submit("/account/sessions", &format!("/account/sessions/{bobs_session}/revoke"), &[]).await;

    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.body.contains("Page not found"));
    assert_eq!(bob.get("/dashboard").await.status, StatusCode::OK);
    let unknown = alice.submit("/account/sessions", "/account/sessions/0123456789abcdef/revoke", &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn logging_out_every_other_device_keeps_this_one() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let phone = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;
    let tablet = TestClient::logged_in_as(&app, "alice", SAFARI_ON_IPHONE).await;

    let res = laptop.submit("/account/sessions", "/account/sessions/revoke-others", &[]).await;

    assert_redirects_to(&res, "/account/sessions");
    assert_eq!(laptop.get("/dashboard").await.status, StatusCode::OK);
    for other in [&phone, &tablet] {
        assert_redirects_to(&other.get("/dashboard").await, "/login?next=/dashboard");
    }
    assert!(laptop.get("/account").await.body.contains("All other sessions were ended"));
}

#[actix_web::test]
async fn ending_this_device_from_the_list_logs_it_out() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let page = laptop.get("/account/sessions").await;
    let own = session_ids(&page.body).pop().unwrap();
    let res = laptop.submit("/account/sessions", &format!("/account/sessions/{own}/revoke"), &[]).await;
    assert_redirects_to(&res, "/login");
    assert_redirects_to(&laptop.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn expired_rows_are_purged_but_idle_remembered_ones_are_kept() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let remembered = app.client_with_agent(SAFARI_ON_IPHONE);
    assert_redirects_to(&remembered.log_in_remembered("alice", crate::helpers::PASSWORD).await, "/dashboard");
    let id = app.user_id("alice").await;
    assert_eq!(gatehouse::db::sessions::list_for_user(&app.db, id).await.unwrap().len(), 2);

    app.clock.advance(std::time::Duration::from_secs(13 * 3600));
    let now = app.clock.now();
    let purged =
        gatehouse::db::sessions::purge_expired(&app.db, now, now - chrono::Duration::hours(12)).await;

    assert_eq!(purged.unwrap(), 1, "the idle browser session");
    let left = gatehouse::db::sessions::list_for_user(&app.db, id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].remember);
}
