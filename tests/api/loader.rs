use actix_web::http::StatusCode;

use crate::helpers::{TestApp, TestResponse, assert_redirects_to, warnings_for};

/// The request was logged out, with a warning that says why (shared ROUTES.md, "Sessions").
#[track_caller]
fn assert_logged_out_with_a_warning(res: &TestResponse, warning: &str) {
    assert_redirects_to(res, "/login?next=/dashboard");
    let warnings = warnings_for(res);
    assert!(warnings.iter().any(|w| w.contains(warning)), "no warning {warning:?} among {warnings:?}");
}

const SESSION_OVER: &str = "a session cookie named a session that is over";

#[actix_web::test]
async fn a_deleted_user_is_logged_out_not_shown_a_404() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let id = app.user_id("alice").await;
    // Deleted behind the app's back: the session row goes with it (cascade), as it would on any instance.
    gatehouse::db::users::delete(&app.db, id).await.unwrap();

    assert_logged_out_with_a_warning(&client.get("/dashboard").await, SESSION_OVER);
    let home = client.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("href=\"/login\""));
}

#[actix_web::test]
async fn a_session_naming_a_missing_user_is_logged_out_and_its_row_deleted() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let id = app.user_id("alice").await;
    // A session whose user vanished without the cascade (e.g. restored from an older backup).
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let fake_id = id + 1000;
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            app.db
                .execute_unprepared("ALTER TABLE sessions DROP CONSTRAINT fk_sessions_user_id")
                .await
                .unwrap();
            format!(
                "UPDATE sessions SET state = REPLACE(state, '\\\"{id}\\\"', '\\\"{fake_id}\\\"'), user_id = NULL"
            )
        }
        _ => {
            app.db.execute_unprepared("PRAGMA foreign_keys = OFF").await.unwrap();
            format!(
                "UPDATE sessions SET state = REPLACE(state, '\\\"{id}\\\"', '\\\"{fake_id}\\\"'), user_id = NULL"
            )
        }
    };
    app.db.execute_raw(Statement::from_string(backend, sql)).await.unwrap();

    let res = client.get("/dashboard").await;
    assert_logged_out_with_a_warning(&res, &format!("logged out the session of user {fake_id}"));
    assert_eq!(app.count_rows("sessions").await, 0, "the logged-out session was purged");
}

#[actix_web::test]
async fn a_deactivated_user_is_logged_out_on_the_very_next_request() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    assert_eq!(client.get("/dashboard").await.status, StatusCode::OK);
    let id = app.user_id("alice").await;

    gatehouse::db::users::set_active(&app.db, id, false, app.clock.now()).await.unwrap();

    let res = client.get("/dashboard").await;
    assert_logged_out_with_a_warning(
        &res,
        &format!("logged out the session of user {id}: the user is deactivated"),
    );
    gatehouse::db::users::set_active(&app.db, id, true, app.clock.now()).await.unwrap();
    assert_redirects_to(&client.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn a_revoked_session_is_logged_out_with_a_warning() {
    let app = TestApp::spawn().await;
    let laptop = app.logged_in_client("alice").await;
    let phone =
        crate::helpers::TestClient::logged_in_as(&app, "alice", crate::helpers::SAFARI_ON_IPHONE).await;
    assert_eq!(phone.get("/dashboard").await.status, StatusCode::OK);
    let revoked = laptop.submit("/account/sessions", "/account/sessions/revoke-others", &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);

    let refused = phone.get("/dashboard").await;
    assert_logged_out_with_a_warning(&refused, SESSION_OVER);
    // The dead cookie is removed, so it is not looked up (and warned about) on every later request.
    let removal = refused.set_cookie("gatehouse_session").expect("the dead cookie is removed");
    assert!(removal.max_age().is_some_and(|age| age.is_zero()), "{removal:?}");
    assert_eq!(phone.session_cookie(), None);
    let later = phone.get("/dashboard").await;
    assert_redirects_to(&later, "/login?next=/dashboard");
    assert!(warnings_for(&later).is_empty(), "{:?}", warnings_for(&later));
    let still_in = laptop.get("/dashboard").await;
    assert_eq!(still_in.status, StatusCode::OK);
    assert!(warnings_for(&still_in).is_empty(), "{:?}", warnings_for(&still_in));
}

#[actix_web::test]
async fn a_database_outage_is_a_503_page_with_a_request_id_never_a_logout() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;

    app.db.pool().close_by_ref().await.unwrap();

    let health = client.get("/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    for path in ["/dashboard", "/"] {
        let res = client.get(path).await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {}", res.body);
        assert!(res.header("content-type").unwrap().starts_with("text/html"), "{path}");
        assert!(res.body.contains("temporarily unavailable"), "{path}");
        let request_id = res.header("x-request-id").map(str::to_owned);
        if let Some(id) = request_id {
            assert!(res.body.contains(&id), "{path}: the page shows the logged request id");
        } else {
            assert!(res.body.contains("Reference:"), "{path}: the page shows a request id");
        }
        for internal in ["sqlx", "sea_orm", "PoolClosed", "session store"] {
            assert!(!res.body.contains(internal), "{path} reveals {internal}");
        }
    }
    assert!(client.session_cookie().is_some(), "the outage did not log the user out");
}

#[actix_web::test]
async fn the_healthz_answers_ok_after_a_database_round_trip() {
    // (That it really asks the database is shown by the outage test: closed pool, 503.)
    let app = TestApp::spawn().await;
    let res = app.client().get("/healthz").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "ok");
}

#[actix_web::test]
async fn an_authenticated_page_view_runs_one_statement_and_no_write() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    client.get("/").await;

    app.statements.reset();
    let res = client.get("/").await;

    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.contains("alice"), "the logged-in page");
    // The session row and its user, read together: one round trip, however the store is built.
    assert_eq!(app.statements.count(), 1, "{:#?}", app.statements.sql());
    assert_eq!(app.statements.writes(), 0, "{:#?}", app.statements.sql());
}

#[actix_web::test]
async fn the_dashboard_adds_one_read_for_its_facts_and_no_write() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    client.get("/dashboard").await;

    app.statements.reset();
    let res = client.get("/dashboard").await;

    assert_eq!(res.status, StatusCode::OK);
    // The session and its user in one statement, the dashboard's facts in one more.
    assert_eq!(app.statements.count(), 2, "{:#?}", app.statements.sql());
    assert_eq!(app.statements.writes(), 0, "{:#?}", app.statements.sql());
}

#[actix_web::test]
async fn an_anonymous_page_view_runs_no_query() {
    let app = TestApp::spawn().await;
    app.statements.reset();
    app.client().get("/").await;
    assert_eq!(app.statements.count(), 0, "{:#?}", app.statements.sql());
}
