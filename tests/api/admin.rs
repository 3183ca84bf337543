//! The admin area: only administrators get in, every act takes effect on the user's next request,
//! nobody can lock themselves out, and every act is on record.

use actix_web::http::StatusCode;
use gatehouse::auth::admin::{self, Actor};

use crate::helpers::{PASSWORD, TestApp, TestClient, assert_redirects_to};

async fn admin_client(app: &TestApp, username: &str) -> TestClient {
    let client = app.logged_in_client(username).await;
    let id = app.user_id(username).await;
    admin::set_role(&app.db, &app.clock, &Actor::Cli, id, "admin").await.unwrap();
    client
}

/// Every admin route, as a method and a path for user `id`.
fn admin_routes(id: i64) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/admin/users".to_owned()),
        ("GET", format!("/admin/users/{id}")),
        ("POST", format!("/admin/users/{id}/deactivate")),
        ("POST", format!("/admin/users/{id}/activate")),
        ("POST", format!("/admin/users/{id}/role")),
        ("POST", format!("/admin/users/{id}/end-sessions")),
        ("POST", format!("/admin/users/{id}/send-reset")),
        ("POST", format!("/admin/users/{id}/clear-two-factor")),
    ]
}

async fn call(
    client: &TestClient,
    method: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> crate::helpers::TestResponse {
    if method == "GET" {
        return client.get(path).await;
    }
    // The layout's logout form carries the session's token on every page of a logged-in user.
    let token = client.csrf_token("/").await;
    let mut with_token = fields.to_vec();
    with_token.push(("csrf_token", &token));
    client.post_form(path, &with_token).await
}

#[actix_web::test]
async fn a_logged_in_non_admin_gets_403_on_every_admin_route_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let member = app.logged_in_client("member").await;
    let victim = app.logged_in_client("victim").await;
    let id = app.user_id("victim").await;
    for (method, path) in admin_routes(id) {
        let res = call(&member, method, &path, &[("role", "admin")]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert!(res.body.contains("You are not allowed"), "{method} {path}: the app's 403 page");
    }
    assert!(
        victim.get("/dashboard").await.body.contains("Welcome, victim"),
        "nothing happened to the victim"
    );
    assert!(!member.get("/dashboard").await.body.contains("Manage users"));
}

#[actix_web::test]
async fn an_anonymous_visitor_is_sent_to_log_in_and_json_clients_get_401_and_403() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    assert_redirects_to(&anonymous.get("/admin/users").await, "/login?next=/admin/users");
    assert_redirects_to(&anonymous.get("/admin/users?q=a%25").await, "/login?next=/admin/users%3Fq%3Da%2525");

    let json = [("Accept", "application/json")];
    let res = anonymous.get_with("/admin/users", &json).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["status"], 401);
    let res = anonymous.get_with("/dashboard", &json).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "protected routes answer JSON clients with 401");

    let member = app.logged_in_client("member").await;
    let res = member.get_with("/admin/users", &json).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["status"], 403);
}

#[actix_web::test]
async fn the_list_searches_username_and_email_with_wildcards_taken_literally() {
    let app = TestApp::spawn().await;
    let boss = admin_client(&app, "boss").await;
    for name in ["alice", "al_ice", "bob", "percent"] {
        app.logged_in_client(name).await;
    }
    let page = boss.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for name in ["alice", "al_ice", "bob", "percent", "boss"] {
        assert!(page.body.contains(&format!("<strong>{name}</strong>")), "{name} is listed");
    }
    let found = boss.get("/admin/users?q=ALICE").await.body;
    assert!(found.contains("<strong>alice</strong>") && !found.contains("<strong>bob</strong>"));
    let underscore = boss.get("/admin/users?q=al_").await.body;
    assert!(underscore.contains("<strong>al_ice</strong>"));
    assert!(!underscore.contains("<strong>alice</strong>"), "_ is a literal underscore, not any letter");
    let percent = boss.get("/admin/users?q=%25").await.body;
    assert!(percent.contains("No users on this page"), "% matches only a literal %: {percent}");
    let by_email = boss.get("/admin/users?q=bob%40example").await.body;
    assert!(by_email.contains("<strong>bob</strong>"));
}

#[actix_web::test]
async fn pages_hold_fifty_users_and_bad_pages_are_404_never_500() {
    let app = TestApp::spawn().await;
    let boss = admin_client(&app, "boss").await;
    for n in 0..55 {
        gatehouse::db::users::insert(
            &app.db,
            gatehouse::db::users::NewUser {
                username: format!("user{n:02}"),
                username_key: format!("user{n:02}"),
                email: format!("user{n:02}@example.com"),
                password_hash: "not a hash".to_owned(),
                role: "user".to_owned(),
                email_confirmed: false,
            },
            app.clock.now(),
        )
        .await
        .unwrap();
    }
    let first = boss.get("/admin/users").await.body;
    assert_eq!(first.matches("<tr>").count() - 1, 50, "fifty rows and the header row");
    assert!(first.contains("page 1 of 2") && first.contains("rel=\"next\""));
    let second = boss.get("/admin/users?page=2").await.body;
    assert_eq!(second.matches("<tr>").count() - 1, 6, "55 + the admin = 56");
    assert!(second.contains("rel=\"prev\""));
    let beyond = boss.get("/admin/users?page=9").await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert!(beyond.body.contains("No users on this page"));
    for bad in
        ["0", "-1", "abc", "1e3", "99999999999999999999999", "184467440737095518", "9223372036854775807"]
    {
        let res = boss.get(&format!("/admin/users?page={bad}")).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "page={bad}");
    }
    assert_eq!(boss.get("/admin/users/abc").await.status, StatusCode::NOT_FOUND);
    assert_eq!(boss.get("/admin/users/999999").await.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn deactivation_ends_a_live_session_at_once_and_login_answers_like_a_wrong_password() {
    let app = TestApp::spawn().await;
    let boss = admin_client(&app, "boss").await;
    let victim = app.logged_in_client("victim").await;
    let id = app.user_id("victim").await;

    let res = call(&boss, "POST", &format!("/admin/users/{id}/deactivate"), &[]).await;
    assert_redirects_to(&res, &format!("/admin/users/{id}"));
    assert!(boss.get(&format!("/admin/users/{id}")).await.body.contains("is deactivated and logged out"));
    assert_redirects_to(&victim.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.count_rows("sessions").await, 1, "only the admin's session is left");

    let wrong = app.client().log_in("victim", "not the password at all").await;
    let deactivated = app.client().log_in("victim", PASSWORD).await;
    assert_eq!(deactivated.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        wrong.body.replace(&wrong.csrf_token().unwrap(), "T"),
        deactivated.body.replace(&deactivated.csrf_token().unwrap(), "T"),
        "no hint that the account exists or is deactivated"
    );

    let res = call(&boss, "POST", &format!("/admin/users/{id}/activate"), &[]).await;
    assert_redirects_to(&res, &format!("/admin/users/{id}"));
    assert_redirects_to(&app.client().log_in("victim", PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn promotion_takes_effect_on_the_next_request_and_self_demotion_is_refused() {
    let app = TestApp::spawn().await;
    let boss = admin_client(&app, "boss").await;
    let member = app.logged_in_client("member").await;
    let member_id = app.user_id("member").await;
    let boss_id = app.user_id("boss").await;
    assert_eq!(member.get("/admin/users").await.status, StatusCode::FORBIDDEN);

    let res = call(&boss, "POST", &format!("/admin/users/{member_id}/role"), &[("role", "admin")]).await;
    assert_redirects_to(&res, &format!("/admin/users/{member_id}"));
    assert_eq!(member.get("/admin/users").await.status, StatusCode::OK, "an admin on the very next request");

    for refused in [
        call(&boss, "POST", &format!("/admin/users/{boss_id}/role"), &[("role", "user")]).await,
        call(&boss, "POST", &format!("/admin/users/{boss_id}/deactivate"), &[]).await,
    ] {
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("ask another administrator"), "{}", refused.body);
    }
    let bad_role = call(&boss, "POST", &format!("/admin/users/{member_id}/role"), &[("role", "root")]).await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(boss.get("/admin/users").await.status, StatusCode::OK, "still an admin");

    // Another admin may demote the first.
    let res = call(&member, "POST", &format!("/admin/users/{boss_id}/role"), &[("role", "user")]).await;
    assert_redirects_to(&res, &format!("/admin/users/{boss_id}"));
    assert_eq!(boss.get("/admin/users").await.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn ending_sessions_and_sending_a_reset_are_on_record_and_the_user_sees_them() {
    let app = TestApp::spawn().await;
    let boss = admin_client(&app, "boss").await;
    let laptop = app.logged_in_client("victim").await;
    let id = app.user_id("victim").await;

    assert_redirects_to(
        &call(&boss, "POST", &format!("/admin/users/{id}/end-sessions"), &[]).await,
        &format!("/admin/users/{id}"),
    );
    assert_redirects_to(&laptop.get("/dashboard").await, "/login?next=/dashboard");
    assert_redirects_to(
        &call(&boss, "POST", &format!("/admin/users/{id}/send-reset"), &[]).await,
        &format!("/admin/users/{id}"),
    );
    assert_eq!(app.count_rows("password_reset_tokens").await, 1);

    let detail = boss.get(&format!("/admin/users/{id}")).await.body;
    assert!(detail.contains("An administrator ended your sessions"));
    assert!(detail.contains("by administrator boss"), "the actor is named: {detail}");
    assert!(detail.contains("An administrator sent you a password reset link"));

    let again =
        crate::helpers::TestClient::logged_in_as(&app, "victim", crate::helpers::FIREFOX_ON_LINUX).await;
    let account = again.get("/account").await.body;
    assert!(
        account.contains("An administrator ended your sessions"),
        "the user sees it on their account page"
    );
}

#[actix_web::test]
async fn two_admins_demoting_or_deactivating_each_other_at_once_leave_an_admin() {
    let app = TestApp::spawn().await;
    for round in 0..6 {
        let (a_name, b_name) = (format!("first{round}"), format!("second{round}"));
        let a = admin_client(&app, &a_name).await;
        let b = admin_client(&app, &b_name).await;
        // Everyone else from the earlier rounds steps down first, so these two are the only admins.
        for old in 0..round {
            for name in [format!("first{old}"), format!("second{old}")] {
                let id = app.user_id(&name).await;
                gatehouse::db::users::set_role(&app.db, id, "user", app.clock.now()).await.unwrap();
            }
        }
        let (a_id, b_id) = (app.user_id(&a_name).await, app.user_id(&b_name).await);
        let act = if round % 2 == 0 { "role" } else { "deactivate" };
        let (a_path, b_path) = (format!("/admin/users/{b_id}/{act}"), format!("/admin/users/{a_id}/{act}"));
        let (a_token, b_token) = (a.csrf_token("/").await, b.csrf_token("/").await);
        let a_fields = [("role", "user"), ("csrf_token", a_token.as_str())];
        let b_fields = [("role", "user"), ("csrf_token", b_token.as_str())];
        let (first, second) = tokio::join!(a.post_form(&a_path, &a_fields), b.post_form(&b_path, &b_fields));
        for res in [&first, &second] {
            assert!(
                [
                    StatusCode::SEE_OTHER,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    StatusCode::FORBIDDEN,
                    StatusCode::SERVICE_UNAVAILABLE
                ]
                .contains(&res.status),
                "round {round}: {}",
                res.status
            );
        }
        let admins = gatehouse::db::users::lock_active_admins(&app.db).await.unwrap();
        assert!(!admins.is_empty(), "round {round} ({act}): no active administrator is left");
    }
}

#[actix_web::test]
async fn the_last_admin_cannot_be_removed_even_from_the_shell_api() {
    let app = TestApp::spawn().await;
    admin_client(&app, "only").await;
    let id = app.user_id("only").await;
    let refused = admin::set_role(&app.db, &app.clock, &Actor::Cli, id, "user").await;
    assert!(matches!(refused, Err(admin::AdminError::LastAdmin)), "{refused:?}");
    let refused = admin::deactivate(&app.db, &app.clock, &Actor::Cli, id).await;
    assert!(matches!(refused, Err(admin::AdminError::LastAdmin)), "{refused:?}");
    admin_client(&app, "second").await;
    assert!(
        admin::set_role(&app.db, &app.clock, &Actor::Cli, id, "user").await.is_ok(),
        "another admin is left"
    );
}
