//! Rotating SESSION_SECRET: with the old one as SESSION_SECRET_PREVIOUS nobody is logged out, and
//! every cookie made with the old secret is re-made with the new one.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp, TestDb, assert_redirects_to};

const OLD: &str = "old-secret-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const NEW: &str = "new-secret-fedcba9876543210fedcba9876543210fedcba9876543210fedcba98765432";

async fn site_with(secret: &'static str) -> TestApp {
    TestApp::spawn_on(TestDb::create_shared().await, |vars| {
        vars.insert("SESSION_SECRET", secret.to_owned());
    })
    .await
}

/// Another instance of the same site, rotating: the new secret, and the old one as the previous.
async fn rotating_from(old_site: &TestApp) -> TestApp {
    old_site
        .another_instance_with(|vars| {
            vars.insert("SESSION_SECRET", NEW.to_owned());
            vars.insert("SESSION_SECRET_PREVIOUS", OLD.to_owned());
        })
        .await
}

#[actix_web::test]
async fn a_session_made_with_the_previous_secret_still_opens_and_is_resealed() {
    let old_site = site_with(OLD).await;
    let alice = old_site.logged_in_client("alice").await;
    let old_cookie = alice.session_cookie().unwrap();

    let rotating = rotating_from(&old_site).await;
    let on_rotating = alice.on(&rotating);
    let page = on_rotating.get("/dashboard").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Welcome, alice"));
    let resealed = on_rotating.session_cookie().unwrap();
    assert_ne!(resealed, old_cookie, "the cookie is re-made with the new secret");

    let new_only = old_site.another_instance_with(|vars| {
        vars.insert("SESSION_SECRET", NEW.to_owned());
    });
    let new_only = new_only.await;
    assert!(on_rotating.on(&new_only).get("/dashboard").await.body.contains("Welcome, alice"));
    // Without the previous secret, an old cookie opens nothing: anonymous, never an error.
    let stale = alice.on(&new_only);
    assert_redirects_to(&stale.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn an_old_cookie_whose_session_is_over_is_removed_not_resealed() {
    let old_site = site_with(OLD).await;
    let alice = old_site.logged_in_client("alice").await;
    // Ended behind the cookie's back, as a revocation from another device or a purge would.
    use sea_orm::ConnectionTrait as _;
    old_site.db.execute_unprepared("DELETE FROM sessions").await.unwrap();

    let rotating = rotating_from(&old_site).await;
    let on_rotating = alice.on(&rotating);
    let refused = on_rotating.get("/dashboard").await;
    assert_redirects_to(&refused, "/login?next=/dashboard");
    let removal = refused.set_cookie("gatehouse_session").expect("the dead cookie is removed");
    assert!(removal.max_age().is_some_and(|age| age.is_zero()), "{removal:?}");
    assert_eq!(on_rotating.session_cookie(), None, "removed, not re-made with the new secret");
}

#[actix_web::test]
async fn a_device_cookie_and_a_visitor_token_from_the_previous_secret_still_count() {
    let old_site = site_with(OLD).await;
    old_site.logged_in_client("alice").await.log_out().await;
    let laptop = old_site.client();
    assert_redirects_to(&laptop.log_in("alice", PASSWORD).await, "/dashboard");
    laptop.log_out().await;
    let token_page = laptop.get("/login").await;
    assert!(token_page.csrf_token().is_some());

    let rotating = rotating_from(&old_site).await;
    for _ in 0..10 {
        rotating.client().log_in("alice", "not the password at all").await;
    }
    assert_eq!(rotating.client().log_in("alice", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    // The laptop's device cookie and its visitor token were signed with the old secret.
    let laptop = laptop.on(&rotating);
    let res = laptop
        .post_form(
            "/login",
            &[("login", "alice"), ("password", PASSWORD), ("csrf_token", &token_page.csrf_token().unwrap())],
        )
        .await;
    assert_redirects_to(&res, "/dashboard");
}
